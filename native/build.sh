#!/usr/bin/env bash
# Builds native/specdec_kernels.cu (and the .cuh files it includes) into one fatbin (SASS sm_80, sm_86, sm_89, sm_90 + PTX compute_90) at $1/specdec_kernels.fatbin.
# Called by modules/cuda's Maven build; skips (exit 0, message) where nvcc is absent. NVCC=/path/to/nvcc overrides.
set -euo pipefail
out="${1:?usage: build.sh OUTPUT_DIR}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
nvcc="${NVCC:-}"
if [ -z "$nvcc" ]; then
  nvcc="$(command -v nvcc || true)"
  if [ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ]; then nvcc=/usr/local/cuda/bin/nvcc; fi
fi
if [ -z "$nvcc" ] || [ ! -x "$nvcc" ]; then
  echo "[specdec native] SKIPPED: nvcc not found${NVCC:+ at NVCC=$NVCC} (set NVCC or put CUDA's bin on PATH); the cuda module builds without kernels and its GPU tests skip."
  exit 0
fi
mkdir -p "$out"
target="$out/specdec_kernels.fatbin"
fresh=1
for src in "$here"/*.cu "$here"/*.cuh "$0"; do [ -f "$target" ] && [ "$target" -nt "$src" ] || fresh=0; done
if [ "$fresh" = 1 ]; then
  echo "[specdec native] up to date: $target"; exit 0
fi
echo "[specdec native] $("$nvcc" --version | tail -1) -> $target"
"$nvcc" -O3 -std=c++17 -fatbin -o "$target.tmp" \
  -gencode arch=compute_80,code=sm_80 -gencode arch=compute_86,code=sm_86 \
  -gencode arch=compute_89,code=sm_89 -gencode arch=compute_90,code=sm_90 \
  -gencode arch=compute_90,code=compute_90 \
  "$here/specdec_kernels.cu"
mv "$target.tmp" "$target"
