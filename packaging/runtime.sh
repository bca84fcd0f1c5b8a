#!/usr/bin/env bash
# Builds the jlink'd Java runtime specdec runs on into OUT (zip-0: xz and gzip compress stored data far better;
# libjvm stripped). One place for the module list: used by dist.sh (the tarball) and image-root.sh (the image).
#   packaging/runtime.sh OUT
set -euo pipefail
out="${1:?usage: runtime.sh OUT}"
java_home="${JAVA_HOME:?JAVA_HOME must point to a JDK 25}"
rm -rf "$out" && mkdir -p "$(dirname "$out")"
# jdk.jfr (Pekko), jdk.httpserver (Prometheus exporter) and jdk.management are needed by `specdec serve`: without
# them the runtime failed with NoClassDefFoundError: jdk/jfr/Event (found with jdeps --print-module-deps).
"$java_home/bin/jlink" --add-modules java.base,java.logging,java.management,java.naming,java.sql,java.xml,jdk.unsupported,jdk.incubator.vector,jdk.jfr,jdk.httpserver,jdk.management \
  --strip-debug --no-header-files --no-man-pages --compress zip-0 --output "$out"
strip --strip-unneeded "$out/lib/server/libjvm.so"
