#!/usr/bin/env bash
# The distribution for the device tool's GPU hosts (H100/H200: sm_90 on linux-x86_64), smaller than dist/'s so that it
# and the repository stay under the tool's 64 MiB working-tree limit (dist/ alone is 38 MiB of it and the tracked
# tree grows with every results folder). From dist/'s tarball (./mvnw -Pdist ...):
#   - the kernels rebuilt for sm_90 alone (the packaged fatbin also carries sm_80/86/89 and PTX);
#   - JavaCPP's CUDA bindings cut to the three libraries specdec calls (cudart, cublas, nccl: grep org.bytedeco.cuda
#     in modules/); the others (npp, cusolver, cusparse, cupti, nvml, cudnn, nvcomp, nvblas, cufile, nvjpeg, cufft)
#     are classes no code path loads;
#   - no bench/ folder (device calls copy the repository's bench/gpu/*.sh in);
#   - xz -9 on one thread (multi-threaded xz compresses this tarball 4% worse).
# Writes dist-gpu/ (git-ignored): name it in the device call's carry and unpack dist-gpu/*.tar.xz there.
# Usage: bench/gpu/device-dist.sh   (about 4 minutes on 2 cores; needs nvcc, zip, xz). 40.3 MB -> 38.6 MB (session 19).
set -euo pipefail
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"; cd "$home"
src=$(ls dist/specdec-*-linux-x86_64.tar.xz 2>/dev/null | head -1)
[ -n "$src" ] || { echo "no dist/specdec-*-linux-x86_64.tar.xz: build it first (./mvnw -q -B -Pdist -pl modules/cli -am -DskipTests package)" >&2; exit 2; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/native" "$work/unpacked"
echo "[device-dist] nvcc sm_90 -> specdec_kernels.fatbin"
"${NVCC:-nvcc}" -O3 -std=c++17 -fatbin -o "$work/native/specdec_kernels.fatbin" -gencode arch=compute_90,code=sm_90 native/specdec_kernels.cu
tar xJf "$src" -C "$work/unpacked"
dist=$(ls -d "$work"/unpacked/specdec-*)
(cd "$work" && zip -q -0 "$(ls "$dist"/lib/specdec-cuda-*.jar)" native/specdec_kernels.fatbin)
unused=()
for lib in npp cusolver cusparse cupti nvml cudnn nvcomp nvblas cufile nvjpeg cufft; do
  unused+=("org/bytedeco/cuda/global/$lib*" "org/bytedeco/cuda/$lib*/*")
done
zip -q -d "$(ls "$dist"/lib/cuda-*.jar | grep -v -- '-linux-x86_64\.jar$')" "${unused[@]}"
rm -rf "$dist/bench"
rm -rf dist-gpu && mkdir -p dist-gpu
(cd "$work/unpacked" && tar cf - "$(basename "$dist")") | xz -9 -T1 > "dist-gpu/$(basename "$src" .tar.xz)-sm90.tar.xz"
ls -la dist-gpu
