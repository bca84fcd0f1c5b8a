{{/* Names: <release>-specdec unless the release name already contains the chart name. */}}
{{- define "specdec.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "specdec.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "specdec.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "specdec.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Labels shared by every object; selectors use only the stable subset (selectorLabels + component). */}}
{{- define "specdec.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "specdec.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "specdec.selectorLabels" -}}
app.kubernetes.io/name: {{ include "specdec.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "specdec.headless" -}}{{ include "specdec.fullname" . }}-cluster{{- end }}
{{- define "specdec.tokenSecret" -}}{{ default (printf "%s-admin-token" (include "specdec.fullname" .)) .Values.adminToken.existingSecret }}{{- end }}
{{- define "specdec.serviceAccount" -}}{{ if .Values.serviceAccount.create }}{{ default (include "specdec.fullname" .) .Values.serviceAccount.name }}{{ else }}{{ default "default" .Values.serviceAccount.name }}{{ end }}{{- end }}

{{/* Stable DNS names of the first worker.seedCount workers: every process joins the cluster through them. */}}
{{- define "specdec.seedNodes" -}}
{{- $full := include "specdec.fullname" . -}}
{{- $n := int (min .Values.worker.seedCount .Values.worker.replicas) -}}
{{- $seeds := list -}}
{{- range $i := until $n -}}
{{- $seeds = append $seeds (printf "%s-worker-%d.%s.%s.svc.cluster.local:%d" $full $i (include "specdec.headless" $) $.Release.Namespace (int $.Values.ports.cluster)) -}}
{{- end -}}
{{- join "," $seeds -}}
{{- end }}

{{- define "specdec.image" -}}{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}{{ .Values.image.tagSuffix }}{{- end }}

{{/*
The image's entrypoint (modules/cli/pom.xml, profile image; ImageTarTest checks they are equal): the runtime's java
itself, since the image has no shell. Containers and the preStop hook name it explicitly.
*/}}
{{- define "specdec.javaCommand" -}}
- /opt/specdec/runtime/bin/java
- -Dspecdec.home=/opt/specdec
- -Djava.io.tmpdir=/tmp
- -Duser.home=/tmp
- -Dorg.bytedeco.javacpp.pathsFirst=true
- -XX:-UsePerfData
- -XX:+UseParallelGC
- -Xss4m
- --add-modules=jdk.incubator.vector
- --enable-native-access=ALL-UNNAMED
- --sun-misc-unsafe-memory-access=allow
- -cp
- /opt/specdec/app/resources:/opt/specdec/app/classes:/opt/specdec/app/libs/*
- io.specdec.cli.Main
{{- end }}

{{- define "specdec.kubernetesApi" -}}
{{- if eq .Values.discovery.method "kubernetes-api" }}true{{ else if eq .Values.discovery.method "seed-nodes" }}{{ else }}
{{- fail (printf "discovery.method must be kubernetes-api or seed-nodes, got %s" .Values.discovery.method) }}
{{- end }}
{{- end }}

{{/* The label selector of every pod of this release (frontends and workers): who cluster bootstrap looks for. */}}
{{- define "specdec.podSelector" -}}
app.kubernetes.io/name={{ include "specdec.name" . }},app.kubernetes.io/instance={{ .Release.Name }}
{{- end }}

{{/* Hardening shared by every pod and container: non-root (the image's user 65532), read-only root filesystem, no privileges. */}}
{{- define "specdec.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "specdec.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
{{- end }}

{{/* kubelet gRPC probes speak plaintext only, so with TLS the probes fall back to a TCP connect. */}}
{{- define "specdec.probeAction" -}}
{{- if .Values.tls.enabled }}
tcpSocket:
  port: grpc
{{- else }}
grpc:
  port: {{ .Values.ports.grpc }}
{{- end }}
{{- end }}

{{/* Environment common to frontend and workers: token, pod identity (POD_* first: later values refer to them). */}}
{{- define "specdec.env" -}}
- name: POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
- name: POD_IP
  valueFrom: {fieldRef: {fieldPath: status.podIP}}
- name: SPECDEC_ADMIN_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ include "specdec.tokenSecret" . }}, key: token}
{{- end }}

{{/* `specdec serve` flags common to every process; $(VAR) is expanded by Kubernetes from the ConfigMap env. */}}
{{- define "specdec.commonArgs" -}}
- --port={{ .Values.ports.grpc }}
- --metrics-port={{ .Values.ports.metrics }}
- --cluster-port={{ .Values.ports.cluster }}
{{- if include "specdec.kubernetesApi" . }}
- --discovery=kubernetes-api
- --management-port={{ .Values.ports.management }}
- --pod-selector={{ include "specdec.podSelector" . }}
- --required-contact-points={{ .Values.discovery.requiredContactPoints }}
{{- else }}
- --seed-nodes=$(SPECDEC_SEED_NODES)
{{- end }}
- --max-queue=$(SPECDEC_MAX_QUEUE)
- --max-batch=$(SPECDEC_MAX_BATCH)
{{- /* every node: the Placement singleton, which forms the groups, may run on any of them */}}
- --group-size={{ .Values.placement.groupSize }}
{{- if .Values.placement.rankOnly }}
- --rank-only
{{- end }}
{{- if .Values.logJson }}
- --log-json
{{- end }}
{{- if .Values.tls.enabled }}
- --tls-cert=/etc/specdec/tls/tls.crt
- --tls-key=/etc/specdec/tls/tls.key
{{- if .Values.tls.clientAuth }}
- --tls-client-ca=/etc/specdec/tls/ca.crt
{{- end }}
{{- range .Values.tls.operatorSubjects }}
- --operator-subject={{ . }}
{{- end }}
{{- end }}
{{- range .Values.config.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{- define "specdec.tlsVolume" -}}
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ required "tls.secretName is required when tls.enabled" .Values.tls.secretName }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{- define "specdec.tlsMount" -}}
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: /etc/specdec/tls
  readOnly: true
{{- end }}
{{- end }}
