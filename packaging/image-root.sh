#!/usr/bin/env bash
# Lays out the files the container image adds on top of `scratch` (Jib copies OUT into the image as one layer):
#   /opt/specdec/runtime   the jlink runtime (runtime.sh), entrypoint /opt/specdec/runtime/bin/java
#   /opt/specdec/models    the bundled model pair (the default when no --model is given; real models are a volume)
#   /lib64, /lib/x86_64-linux-gnu   the C libraries that runtime and the JNI libraries in the jars link against
#                          (glibc, libstdc++, libgcc_s), copied from the build machine: scratch has no libc
#   /etc/passwd, /etc/group, /etc/nsswitch.conf   user 65532 `specdec` with home /tmp, name lookups from files + DNS
# CUDA user-space libraries are deliberately absent: libcuda comes from the node through the NVIDIA container
# runtime, cudart/cuBLAS from the node's CUDA toolkit (chart value gpu.cudaLibraries). Called by `./mvnw -Pimage
# package` (modules/cli) after its jars are in modules/cli/target/lib; by hand:  packaging/image-root.sh OUT
set -euo pipefail
out="${1:?usage: image-root.sh OUT}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rm -rf "$out" && mkdir -p "$out/opt/specdec" "$out/etc" "$out/lib64" "$out/lib/x86_64-linux-gnu"

"$root/packaging/runtime.sh" "$out/opt/specdec/runtime"
[ -d "$root/models" ] && cp -r "$root/models" "$out/opt/specdec/models"

# ELF files whose shared-library needs the image must meet: the runtime's, and the JNI libraries of the jars
# (JCuda driver API, JavaCPP's CUDA bridges, Netty's epoll/tcnative for x86_64).
jni="$(mktemp -d)"
trap 'rm -rf "$jni"' EXIT
for j in "$root"/modules/cli/target/lib/{jcuda-natives,cuda-,javacpp-,grpc-netty-shaded}*.jar; do
  unzip -q -o "$j" '*.so' -d "$jni" 2>/dev/null || true
done
mapfile -t elfs < <(find "$out/opt/specdec/runtime" "$jni" -type f \( -name '*.so' -o -path '*/bin/*' \) | grep -v aarch)
# Only system libraries (glibc, libstdc++, libgcc_s) are copied; libcuda/libcudart/libcublas stay "not found" here.
libs="$(for f in "${elfs[@]}"; do ldd "$f" 2>/dev/null || true; done \
  | awk '$2 == "=>" && $3 ~ /^\/(usr\/)?lib(64)?\/(x86_64-linux-gnu\/)?[^\/]+$/ {print $3}' | sort -u)"
[ -n "$libs" ] || { echo "image-root.sh: ldd found no system libraries" >&2; exit 1; }
for l in $libs; do cp -L "$l" "$out/lib/x86_64-linux-gnu/$(basename "$l")"; done
cp -L /lib64/ld-linux-x86-64.so.2 "$out/lib64/ld-linux-x86-64.so.2"

printf 'root:x:0:0:root:/root:/sbin/nologin\nspecdec:x:65532:65532:specdec:/tmp:/sbin/nologin\n' > "$out/etc/passwd"
printf 'root:x:0:\nspecdec:x:65532:\n' > "$out/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$out/etc/nsswitch.conf"
echo "[specdec image-root] $out $(du -sh "$out" | cut -f1): $(echo $libs | wc -w) system libraries"
