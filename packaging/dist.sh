#!/usr/bin/env bash
# Builds dist/specdec-<version>-linux-x86_64.tar.xz: a jlink'd Java runtime (runtime.sh), the jars
# repacked uncompressed (xz compresses stored data far better), only the native libraries a GPU host needs (JCuda's
# driver API, JavaCPP's cudart/cublas/nccl bridges), the launcher and bench/gpu (not the bundled models: the 45 MB budget; they travel with the repository). Called by `./mvnw -Pdist package`
# (modules/cli) after its jars are in modules/cli/target/lib; runnable by hand too:  packaging/dist.sh VERSION
set -euo pipefail
version="${1:?usage: dist.sh VERSION}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
java_home="${JAVA_HOME:?JAVA_HOME must point to a JDK 25}"
name="specdec-$version-linux-x86_64"
work="$root/modules/cli/target/dist"
stage="$work/$name"
rm -rf "$work" && mkdir -p "$stage/lib" "$stage/bin" "$root/dist"

cp "$root/bin/specdec" "$stage/bin/"
mkdir -p "$stage/bench" && cp -r "$root/bench/gpu" "$stage/bench/"
jars=("$root"/modules/cli/target/specdec-cli-"$version".jar "$root"/modules/cli/target/lib/*.jar)

repack() {   # repack $1 into $stage/lib uncompressed, keeping only entries that match $2 among native libraries
  local jar="$1" keep="${2:-}" tmp
  tmp="$(mktemp -d)"
  (cd "$tmp" && unzip -q -o "$jar")
  if [ -n "$keep" ]; then
    find "$tmp" \( -name '*.so' -o -name '*.dll' -o -name '*.jnilib' -o -name '*.dylib' \) | grep -v -E "$keep" | xargs -r rm -f
    find "$tmp" -path '*META-INF/native-image*' -prune -exec rm -rf {} +
  fi
  (cd "$tmp" && "$java_home/bin/jar" --create --file "$stage/lib/$(basename "$jar")" --no-manifest --no-compress .)
  rm -rf "$tmp"
}
for j in "${jars[@]}"; do
  case "$(basename "$j")" in
    # Kubernetes-only (cluster bootstrap through the Kubernetes API, in the container image): not in this bundle
    pekko-management*|pekko-discovery-kubernetes-api*|pekko-http*|spray-json*|parboiled*) continue ;;
    # XChart's PDF/SVG encoders: the bundle plots PNG only
    pdfbox*|fontbox*|graphics2d-*|VectorGraphics2D*|commons-logging*) continue ;;
    # LMDB, for durable distributed data (pekko-distributed-data loads it only for configured durable keys; specdec
    # configures none: the receptionist's data is not durable), and what only it needs: 1.5 MB of the xz
    lmdbjava-*|jnr-*|jffi-*|asm-*) continue ;;
    jffi-*-native.jar) repack "$j" 'x86_64-Linux' ;;
    jcuda-natives-*) repack "$j" 'libJCudaDriver-' ;;
    cuda-*-linux-x86_64.jar) repack "$j" 'libjnicudart\.so|libjnicublas\.so|libjninccl\.so' ;;
    # gRPC's shaded Netty carries its TLS and epoll libraries for five platforms: this bundle is linux-x86_64 only
    # (about 12 MB of Windows, macOS and aarch64 libraries, ~4 MB of the xz)
    grpc-netty-shaded-*) repack "$j" 'tcnative_linux_x86_64|epoll_x86_64' ;;
    *) repack "$j" ;;
  esac
done

"$root/packaging/runtime.sh" "$stage/runtime"

out="$root/dist/$name.tar.xz"
# one xz block (-T1) over files in name order: 0.6 MB smaller than two threads' blocks
tar -C "$work" --sort=name -cf - "$name" | xz -9 -T1 > "$out.tmp"
mv "$out.tmp" "$out"
echo "[specdec dist] $out $(du -h "$out" | cut -f1)"
