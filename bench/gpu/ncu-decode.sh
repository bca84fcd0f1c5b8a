#!/usr/bin/env bash
# Per-kernel times of batch-1 decode under Nsight Compute (on a GPU host, from the unpacked distribution):
#   JAVA=<java> bench/gpu/ncu-decode.sh OUTDIR CONFIG.json LABEL [-Dproperty=value ...]
# GpuCheck bench (128-token prompt, 8 new tokens) under ncu, which runs each kernel alone (no programmatic overlap), so
# a kernel's time includes its whole ramp: what a step would cost with no overlap at all. The first 900 matching
# launches fall in bench's first variant, the uncaptured skinny-kernel forwards (bench picks graphs per variant itself). The decode kernels'
# times, DRAM bytes and grids go to OUTDIR/ncu.csv; ncu_summary.py prints the median per (kernel, grid) with GB/s.
set -uo pipefail
out="$1" config="$2" label="$3"; shift 3
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mkdir -p "$out"
ncu=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
[ -n "$ncu" ] || { echo "ncu not found" >&2; exit 2; }
"$ncu" --csv --page raw --log-file "$out/ncu.csv" --cache-control none --clock-control none \
    --metrics gpu__time_duration.sum,dram__bytes_read.sum,launch__grid_size,launch__block_size,launch__registers_per_thread \
    -k 'regex:gemm_skinny|attention_gqa|rmsnorm|qkv_rope|argmax_rows|embed_gather|swiglu_bf16' --launch-count 900 \
    "${JAVA:-java}" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
    --sun-misc-unsafe-memory-access=allow -Dorg.bytedeco.javacpp.pathsFirst=true -Xmx24g "$@" \
    -cp "$home/lib/*" io.specdec.cuda.check.GpuCheck bench "$config" "$label" 128 8 \
    > "$out/stdout.txt" 2> "$out/stderr.txt"
rc=$?
python3 "$home/bench/gpu/ncu_summary.py" "$out/ncu.csv" | tee "$out/summary.txt"
exit $rc
