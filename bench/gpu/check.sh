#!/usr/bin/env bash
# The CUDA backend's checks on a GPU host, run from the unpacked distribution (builds nothing):
#   bench/gpu/check.sh [quick|full|timing|fusion|mma|hf|bench|pdl|swiglu|meta|wide|mma16|hf-bundled|hf8b-256|split|split-hf|kv|kv-hf|fp16kv|early|pair|pair-hf|flash|flash-pair|hf-long|ropeattn]   (mma: verify-sized forwards, CUDA-core GEMV vs tensor-core skinny GEMM)
# split-hf: the HuggingFace part of split only (logits as a generation computes them and of one forward, each variant).
# kv:    split KV (-Dspecdec.cuda.splitKv=true, opt-in: K/V as bf16 hi + lo) with split activations all, and alone,
#        against split all: GpuCheck splitk (split-K and attention_paged agree with the second parts), then split's
#        HF comparisons and interleaved decode rounds with these variants; kv-hf: the checks and HF comparisons only.
# fp16kv: the fp16 KV cache (-Dspecdec.cuda.kvCache=fp16, the default since session 12; same bytes as bf16, 3 more
#        mantissa bits) against bf16: GpuCheck splitk (attention over an fp16 copy of each case's cache == over the bf16
#        one), cpu, spec and mma checks with fp16, HF fp32 comparisons (8B shape over 256 greedy steps: bf16, fp16,
#        split all + bf16, split all + fp16, split all + split KV; the bundled target with each cache), interleaved
#        decode/prefill rounds bf16 vs fp16 vs split all + fp16. (Modes written before session 12 that name no cache
#        now run with fp16 where they ran bf16.)
# flash: the tensor-core prefill attention (default for forwards > 128 tokens) vs attention_paged
#        (-Dspecdec.cuda.flashPrefill=false): CUDA vs CPU with each, then GpuCheck flash (logits, greedy steps, prefill
#        ms) on the 1B and 8B shapes; flash-pair: flash, then pair.
# ropeattn: one-token steps' RoPE/append inside the grouped attention kernel (-Dspecdec.cuda.ropeInAttention=true,
#        the default since session 14) vs qkv_rope_append before it (=false): mma checks (verify rows = decode steps bit
#        for bit, the decode steps taking the folded kernel), interleaved decode rounds of the 1B and 8B shapes,
#        speculative bench, then the quick checks.
# hf-long: HF fp32 after 300-token prompts (tensor-core prefill attention), small config and 8B shape, 64 steps.
# pair:  split prefill (splitActivations=all) as one strided-batched GEMM sharing W (the default for up to 256 rows
#        since session 13) vs two GEMMs (-Dspecdec.cuda.splitPrefillGemm=two): CUDA vs CPU with each, prefill/decode of the 8B shape
#        (128- and 2048-token prompts) and the 1B shape, defaults vs pair vs two, interleaved; pair-hf: HF fp32, 8B
#        shape, 256 greedy steps, pair and two.
# split: split activations (matmul inputs as bf16 hi + lo; -Dspecdec.cuda.splitActivations=true (the default until
#        session 13, since then prefill): decode
#        and verify passes; =all: cuBLAS prefill too) against bf16 matmul inputs (=false): HF transformers logits of
#        each (small config, Llama-3-8B shape), the mma checks, decode and prefill of the 1B and 8B shapes in interleaved
#        rounds, speculative bench, then the quick checks.
# swiglu: SwiGLU in the tensor-core gate/up epilogue (-Dspecdec.cuda.swigluEpilogue=true; the default, auto, takes
#        it where the MLP is at most 8192 wide) vs its own kernel (=false): mma checks (incl. epilogue == kernel bit for
#        bit), decode of the 1B and 8B shapes in interleaved rounds, speculative bench, then the quick checks.
# mma16: tensor-core passes of 9..16 tokens in one weight stream (two token groups, the default) vs passes of 8
#        (-Dspecdec.cuda.mmaPassTokens=8): mma checks, two rounds of the speculative bench each, decode, quick checks.
# wide:  16 warps a tile where a matrix has at most one tile an SM (-Dspecdec.cuda.fewTileWarps=16, the default; 8
#        before) and the split argmax (-Dspecdec.cuda.splitArgmax, default true): mma checks, interleaved decode rounds
#        of the 1B and 8B shapes, speculative bench, per-kernel times of the 1B shape under ncu (ncu-decode.sh), quick.
# meta:  RoPE/append and the grouped attention doing their metadata-only work before pdl_wait
#        (-Dspecdec.cuda.metaFirst=true, the default: positions, slots, rotations, block tables, L2 prefetch of the first
#        K/V rows) vs after it (=false): mma checks, interleaved decode rounds of the 1B and 8B shapes, speculative
#        bench, then the quick checks.
# pdl:   mma checks, decode of the 1B and 8B shapes without programmatic launches, with them, and with them and the
#        skinny GEMM's first weights loaded before its wait (the default), speculative bench, then the quick checks.
# quick: CUDA vs CPU backend, fused acceptance kernel vs CPU reference (+ χ²), speculative greedy == target greedy,
#        argmax_rows_split vs argmax_rows and a CPU argmax (ties, -inf, NaN),
#        device sampling kernel vs the CPU sampling path (+ χ²), speculative sampling with device fused vs host
#        acceptance (same ids, tok/s; χ² of the device decision; bundled pair + random 1B shape), split-K attention vs attention_paged at long contexts,
#        decode GEMV kernels (in use and split-warp variants) in GB/s vs the copy bandwidth, served sampled batches
#        with draft rows held on the device vs the host path (batchheld: same ids).
# full:  + HuggingFace transformers logits/greedy on the same random weights (small config and Llama-3-8B shape) and
#        on the bundled target after a real-text prompt (hf-bundled: that one alone; hf8b-256: the 8B shape over 256
#        greedy steps: defaults, kvCache=bf16 and splitActivations=true, i.e. bf16 prefill inputs),
#        decode tok/s of Llama-3.2-1B and Llama-3-8B shapes (random weights generated on the device) against the HBM
#        floor, HF eager decode on the same host, speculative 8B target + 1B draft under acceptance injection
#        (benchmark-only mode) against the analytic bound; decode at context 128 vs 4096 with and without split-K.
# fusion: the fused decode path (-Dspecdec.cuda.fusedDecode): cpu and spec checks on it, then against the unfused path
#        on the Llama-3.2-1B and Llama-3-8B shapes: graph ms/token vs the HBM floor, per-stage µs, fused == unfused
#        logits (< 4 min).
# SPECDEC_MODELS: the bundled pair's folder (default $home/models; the bundle does not carry it: use the repository's).
# Writes results.jsonl, log.txt, gpu.txt, table.txt under $OUT (default /tmp/specdec-check); prints the table last.
set -uo pipefail
mode="${1:-quick}"
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-/tmp/specdec-check}"; mkdir -p "$out"
work="$(mktemp -d)"
export LD_LIBRARY_PATH="/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:/usr/lib:${LD_LIBRARY_PATH:-}"
export NCCL_NVLS_ENABLE=0
java="$home/runtime/bin/java"; [ -x "$java" ] || java="${JAVA_HOME:-/usr}/bin/java"
check=("$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow
       -Dorg.bytedeco.javacpp.pathsFirst=true -Xmx24g -XX:+UseParallelGC -cp "$home/lib/*" io.specdec.cuda.check.GpuCheck)
results="$out/results.jsonl"; log="$out/log.txt"; : > "$results"; : > "$log"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv > "$out/gpu.txt" 2>&1
run() {   # run NAME TIMEOUT CMD...: JSON lines to results, everything else to the log
  local name="$1" limit="$2"; shift 2
  echo "=== $name: $*" >> "$log"
  local t0=$SECONDS
  timeout "$limit" "$@" > "$work/$name.out" 2>> "$log"; local rc=$?
  grep '^{' "$work/$name.out" | sed "s/^{/{\"run\":\"$name\",/" >> "$results"; grep -v '^{' "$work/$name.out" >> "$log"
  echo "=== $name rc=$rc $((SECONDS - t0))s" >> "$log"
  [ $rc -eq 0 ] || echo "{\"check\":\"$name\",\"error\":\"exit $rc (see log.txt)\",\"pass\":false}" >> "$results"
}
variant_check() {   # variant_check NAME:-Dflag=value ...: v = the GpuCheck command with the variant's JVM flags
  local flags
  read -ra flags <<< "${1#*:}"
  v=("${check[0]}" "${flags[@]}" "${check[@]:1}")
}
variant_rounds() {   # variant_rounds NAME:-Dflag=value ...: mma checks, decode of the 1B and 8B shapes per variant, specbench
  run mma-1b 120 "${check[@]}" mma "$home/bench/gpu/llama-3.2-1b/config.json" llama-3.2-1b
  run mma-8b 180 "${check[@]}" mma "$home/bench/gpu/llama-3-8b/config.json" llama-3-8b
  for round in 1 2 3; do   # interleaved rounds: the host's speed drifts by a few % between minutes
    for variant in "$@"; do
      variant_check "$variant"
      run "bench-1b-${variant%%:*}-$round" 150 "${v[@]}" bench "$home/bench/gpu/llama-3.2-1b/config.json" llama-3.2-1b
      run "bench-8b-${variant%%:*}-$round" 240 "${v[@]}" bench "$home/bench/gpu/llama-3-8b/config.json" llama-3-8b
    done
  done
  run specbench 240 "${check[@]}" specbench "$home/bench/gpu/llama-3-8b/config.json" "$home/bench/gpu/llama-3.2-1b/config.json"
}
if [ "$mode" = mma ]; then   # verify-sized forwards: CUDA-core GEMV vs tensor-core skinny GEMM; speculation with the latter
  run mma-1b 120 "${check[@]}" mma "$home/bench/gpu/llama-3.2-1b/config.json" llama-3.2-1b
  run mma-8b 180 "${check[@]}" mma "$home/bench/gpu/llama-3-8b/config.json" llama-3-8b
  # every pass of up to 16 tokens on the tensor cores (the default; decode too: a verify row must add up as its decode
  # step does) vs every pass on the CUDA-core GEMV
  mma_check=("${check[0]}" -Dspecdec.cuda.mmaFromTokens=1 "${check[@]:1}")
  gemv_check=("${check[0]}" -Dspecdec.cuda.mmaFromTokens=0 "${check[@]:1}")
  run specbench-gemv 240 "${gemv_check[@]}" specbench "$home/bench/gpu/llama-3-8b/config.json" "$home/bench/gpu/llama-3.2-1b/config.json"
  run specbench-mma 240 "${mma_check[@]}" specbench "$home/bench/gpu/llama-3-8b/config.json" "$home/bench/gpu/llama-3.2-1b/config.json"
  run bench-8b-gemv 240 "${gemv_check[@]}" bench "$home/bench/gpu/llama-3-8b/config.json" llama-3-8b
  run bench-8b-mma 240 "${mma_check[@]}" bench "$home/bench/gpu/llama-3-8b/config.json" llama-3-8b
  run bench-1b-gemv 150 "${gemv_check[@]}" bench "$home/bench/gpu/llama-3.2-1b/config.json" llama-3.2-1b
  run bench-1b-mma 150 "${mma_check[@]}" bench "$home/bench/gpu/llama-3.2-1b/config.json" llama-3.2-1b
  mode=done
fi
if [ "$mode" = kv ] || [ "$mode" = kv-hf ]; then   # split KV (opt-in) on top of split activations
  run splitk 300 "${check[@]}" splitk
  variants=(split-all:-Dspecdec.cuda.splitActivations=all
            "split-all-kv:-Dspecdec.cuda.splitActivations=all -Dspecdec.cuda.splitKv=true"
            split-kv:-Dspecdec.cuda.splitKv=true)
  [ "$mode" = kv ] && mode=split || mode=split-hf
fi
if [ "$mode" = split ] || [ "$mode" = split-hf ]; then   # split activations vs bf16 matmul inputs: accuracy, then cost
  [ -n "${variants+x}" ] || variants=(bf16:-Dspecdec.cuda.splitActivations=false split:-Dspecdec.cuda.splitActivations=true
            split-all:-Dspecdec.cuda.splitActivations=all)
  run hf-export 120 "${check[@]}" hf-export "$work/small"
  run hf-gen 180 python3 "$home/bench/gpu/hf_ref.py" gen "$work/small" 256
  run hf8b-gen 240 python3 "$home/bench/gpu/hf_ref.py" gen-random "$home/bench/gpu/llama-3-8b/config.json" "$work/hf8b" 32
  # logits as a generation computes them (prefill of the 32-token prompt, then decode steps), then of one forward
  for how in gen:32 one-forward:0; do
    for variant in "${variants[@]}"; do
      variant_check "$variant"
      for m in small:hf hf8b:hf8b; do
        run "${m#*:}-logits-${variant%%:*}-${how%%:*}" 180 "${v[@]}" hf-logits "$work/${m%%:*}" "$work/${m%%:*}/tokens.txt" "$work/${m%%:*}/gpu_logits.f32" "${how#*:}"
        run "${m#*:}-compare-${variant%%:*}-${how%%:*}" 120 python3 "$home/bench/gpu/hf_ref.py" compare "$work/${m%%:*}"
      done
    done
  done
fi
if [ "$mode" = split ]; then
  variant_rounds "${variants[@]}"
  mode=quick-then-done
fi
[ "$mode" = split-hf ] && mode=done
if [ "$mode" = ropeattn ]; then   # RoPE/append folded into the decode step's attention vs its own kernel
  variant_rounds separate:-Dspecdec.cuda.ropeInAttention=false folded:-Dspecdec.cuda.ropeInAttention=true
  mode=quick-then-done
fi
if [ "$mode" = pdl ]; then   # programmatic dependent launches and the GEMMs' early weight loads: decode with each setting
  variant_rounds nopdl:-Dspecdec.cuda.noPdl=true late:-Dspecdec.cuda.earlyWeights=false early:-Dspecdec.cuda.earlyWeights=true
  mode=quick-then-done
fi
if [ "$mode" = early ]; then   # the skinny GEMM's first weights requested before pdl_wait (opt-in) or after (default)
  variant_rounds late:-Dspecdec.cuda.earlyWeights=false early:-Dspecdec.cuda.earlyWeights=true
  mode=done
fi
if [ "$mode" = swiglu ]; then   # SwiGLU in the tensor-core gate/up epilogue (=true) vs swiglu_bf16 of its own
  variant_rounds epilogue:-Dspecdec.cuda.swigluEpilogue=true kernel:-Dspecdec.cuda.swigluEpilogue=false
  mode=quick-then-done
fi
if [ "$mode" = meta ]; then   # RoPE/append and grouped attention read the step's metadata before pdl_wait (default) or after
  variant_rounds metafirst:-Dspecdec.cuda.metaFirst=true waitfirst:-Dspecdec.cuda.metaFirst=false
  mode=quick-then-done
fi
if [ "$mode" = wide ]; then   # 16 warps a tile for matrices of at most one tile an SM and the split argmax (the defaults)
  # vs 8 warps and one block an argmax row: mma checks, interleaved decode rounds, per-kernel times of the 1B shape under
  # ncu (isolated, no overlap), quick checks
  variant_rounds "before:-Dspecdec.cuda.fewTileWarps=8 -Dspecdec.cuda.splitArgmax=false" \
      wide:-Dspecdec.cuda.splitArgmax=false wide-argmax:-Dspecdec.cuda.fewTileWarps=16
  run ncu-1b 150 env JAVA="${check[0]}" "$home/bench/gpu/ncu-decode.sh" "$out/ncu-1b" \
      "$home/bench/gpu/llama-3.2-1b/config.json" llama-3.2-1b
  mode=quick-then-done
fi
hf_bundled() {   # the bundled target (a real model: HF transformers fp32 on its bf16 weights) after a real-text prompt
  cp -r "${SPECDEC_MODELS:-$home/models}/target" "$work/bundled"
  run hfb-gen 120 python3 "$home/bench/gpu/hf_ref.py" gen-text "$work/bundled" 256 \
      "Mr President, I would like to thank the rapporteur for his excellent report on the situation of the fishing industry and the common agricultural policy in the new Member States."
  run hfb-logits 120 "${check[@]}" hf-logits "$work/bundled" "$work/bundled/tokens.txt" "$work/bundled/gpu_logits.f32" 32
  run hfb-compare 60 python3 "$home/bench/gpu/hf_ref.py" compare "$work/bundled"
}
if [ "$mode" = hf-bundled ]; then hf_bundled; mode=done; fi
if [ "$mode" = hf8b-256 ]; then   # the Llama-3-8B shape against HF fp32 over 256 greedy steps (the count issue #4 names;
  # hf runs 32): the defaults (fp16 KV cache, split activations prefill), the bf16 cache, then bf16 prefill inputs
  # (splitActivations=true, the default before session 13)
  run hf8b-gen 360 python3 "$home/bench/gpu/hf_ref.py" gen-random "$home/bench/gpu/llama-3-8b/config.json" "$work/hf8b" 256
  for variant in default: bf16-kv:-Dspecdec.cuda.kvCache=bf16 bf16-prefill:-Dspecdec.cuda.splitActivations=true; do
    variant_check "$variant"
    run "hf8b-logits-${variant%%:*}" 240 "${v[@]}" hf-logits "$work/hf8b" "$work/hf8b/tokens.txt" "$work/hf8b/gpu_logits.f32" 32
    run "hf8b-compare-${variant%%:*}" 120 python3 "$home/bench/gpu/hf_ref.py" compare "$work/hf8b"
  done
  mode=done
fi
if [ "$mode" = flash ] || [ "$mode" = flash-pair ]; then   # tensor-core prefill attention (flash_prefill.cuh, the default
  # for forwards > 128 tokens) vs attention_paged (-Dspecdec.cuda.flashPrefill=false): CUDA vs CPU with each (the
  # check's forwards of 170 and 221 tokens take it), then logits, greedy steps and prefill ms of both on the same weights
  run cpu-flash 150 "${check[@]}" cpu
  variant_check "paged:-Dspecdec.cuda.flashPrefill=false"
  run cpu-paged 150 "${v[@]}" cpu
  # defaults (split prefill inputs, splitActivations=prefill since session 13): the kernels must agree to 2e-4; with bf16
  # prefill inputs (=true) their last-bit differences flip bf16 roundings, amplified to ~1e-2 on random models
  run flash-1b 240 "${check[@]}" flash "$home/bench/gpu/llama-3.2-1b/config.json" llama-3.2-1b 200,512,2048,8192
  run flash-8b 300 "${check[@]}" flash "$home/bench/gpu/llama-3-8b/config.json" llama-3-8b 200,512,2048
  variant_check "bf16-prefill:-Dspecdec.cuda.splitActivations=true"
  run flash-1b-bf16-prefill 240 "${v[@]}" flash "$home/bench/gpu/llama-3.2-1b/config.json" llama-3.2-1b 200,2048
  run flash-8b-bf16-prefill 300 "${v[@]}" flash "$home/bench/gpu/llama-3-8b/config.json" llama-3-8b 200,2048
  [ "$mode" = flash-pair ] && mode=pair || mode=done
fi
if [ "$mode" = hf-long ]; then   # HF fp32 after 300-token prompts (the prefill takes the tensor-core attention): the
  # small random config and the Llama-3-8B shape, 64 greedy steps each, defaults
  export HF_PROMPT=300
  run hf-export 120 "${check[@]}" hf-export "$work/small"
  run hf-gen-long 180 python3 "$home/bench/gpu/hf_ref.py" gen "$work/small" 64
  run hf-logits-long 120 "${check[@]}" hf-logits "$work/small" "$work/small/tokens.txt" "$work/small/gpu_logits.f32" 300
  run hf-compare-long 60 python3 "$home/bench/gpu/hf_ref.py" compare "$work/small"
  run hf8b-gen-long 300 python3 "$home/bench/gpu/hf_ref.py" gen-random "$home/bench/gpu/llama-3-8b/config.json" "$work/hf8b" 64
  run hf8b-logits-long 240 "${check[@]}" hf-logits "$work/hf8b" "$work/hf8b/tokens.txt" "$work/hf8b/gpu_logits.f32" 300
  run hf8b-compare-long 120 python3 "$home/bench/gpu/hf_ref.py" compare "$work/hf8b"
  unset HF_PROMPT
  mode=done
fi
if [ "$mode" = pair ]; then   # split prefill (splitActivations=all) as one strided-batched GEMM sharing W (pair, the
  # default since session 13) vs two accumulating GEMMs (two, before): CUDA vs CPU with each, then prefill of the 8B
  # shape at 128 and 2048 tokens and of the 1B shape at 128, defaults vs pair vs two, in interleaved rounds
  pair="pair:-Dspecdec.cuda.splitActivations=all"
  two="two:-Dspecdec.cuda.splitActivations=all -Dspecdec.cuda.splitPrefillGemm=two"
  for variant in "$pair" "$two"; do
    variant_check "$variant"
    run "cpu-${variant%%:*}" 150 "${v[@]}" cpu
  done
  for round in 1 2 3; do
    for variant in default: "$pair" "$two"; do
      variant_check "$variant"
      run "bench-8b-${variant%%:*}-$round" 240 "${v[@]}" bench "$home/bench/gpu/llama-3-8b/config.json" llama-3-8b 128 64
      run "prefill2k-8b-${variant%%:*}-$round" 240 "${v[@]}" bench "$home/bench/gpu/llama-3-8b/config.json" llama-3-8b 2048 8
      [ $round = 1 ] && run "bench-1b-${variant%%:*}" 150 "${v[@]}" bench "$home/bench/gpu/llama-3.2-1b/config.json" llama-3.2-1b 128 64
    done
  done
  mode=done
fi
if [ "$mode" = pair-hf ]; then   # the 8B shape against HF fp32 over 256 greedy steps with split prefill paired
  run hf8b-gen 360 python3 "$home/bench/gpu/hf_ref.py" gen-random "$home/bench/gpu/llama-3-8b/config.json" "$work/hf8b" 256
  for variant in "pair:-Dspecdec.cuda.splitActivations=all" \
      "two:-Dspecdec.cuda.splitActivations=all -Dspecdec.cuda.splitPrefillGemm=two"; do
    variant_check "$variant"
    run "hf8b-logits-${variant%%:*}" 240 "${v[@]}" hf-logits "$work/hf8b" "$work/hf8b/tokens.txt" "$work/hf8b/gpu_logits.f32" 32
    run "hf8b-compare-${variant%%:*}" 120 python3 "$home/bench/gpu/hf_ref.py" compare "$work/hf8b"
  done
  mode=done
fi
if [ "$mode" = fp16kv ]; then   # fp16 KV cache (-Dspecdec.cuda.kvCache=fp16, the default) against bf16
  run splitk 300 "${check[@]}" splitk   # every case: attention over an fp16 copy of the cache == over the bf16 one
  fp16=fp16:-Dspecdec.cuda.kvCache=fp16
  variant_check "$fp16"
  run cpu-fp16 150 "${v[@]}" cpu
  run spec-fp16 120 "${v[@]}" spec
  run mma-1b-fp16 120 "${v[@]}" mma "$home/bench/gpu/llama-3.2-1b/config.json" llama-3.2-1b
  run mma-8b-fp16 180 "${v[@]}" mma "$home/bench/gpu/llama-3-8b/config.json" llama-3-8b
  # the Llama-3-8B shape against HF fp32 over 256 greedy steps (hf8b-256's), and the bundled target (a real model)
  run hf8b-gen 360 python3 "$home/bench/gpu/hf_ref.py" gen-random "$home/bench/gpu/llama-3-8b/config.json" "$work/hf8b" 256
  bf16=bf16:-Dspecdec.cuda.kvCache=bf16
  for variant in "$bf16" "$fp16" "split-all:-Dspecdec.cuda.splitActivations=all -Dspecdec.cuda.kvCache=bf16" \
      "split-all-fp16:-Dspecdec.cuda.splitActivations=all -Dspecdec.cuda.kvCache=fp16" \
      "split-all-kv:-Dspecdec.cuda.splitActivations=all -Dspecdec.cuda.kvCache=split"; do
    variant_check "$variant"
    run "hf8b-logits-${variant%%:*}" 240 "${v[@]}" hf-logits "$work/hf8b" "$work/hf8b/tokens.txt" "$work/hf8b/gpu_logits.f32" 32
    run "hf8b-compare-${variant%%:*}" 120 python3 "$home/bench/gpu/hf_ref.py" compare "$work/hf8b"
  done
  hf_bundled   # the defaults (fp16)
  variant_check "$bf16"
  run hfb-logits-bf16 120 "${v[@]}" hf-logits "$work/bundled" "$work/bundled/tokens.txt" "$work/bundled/gpu_logits.f32" 32
  run hfb-compare-bf16 60 python3 "$home/bench/gpu/hf_ref.py" compare "$work/bundled"
  variant_check "$fp16"
  run hfb-logits-fp16 120 "${v[@]}" hf-logits "$work/bundled" "$work/bundled/tokens.txt" "$work/bundled/gpu_logits.f32" 32
  run hfb-compare-fp16 60 python3 "$home/bench/gpu/hf_ref.py" compare "$work/bundled"
  variant_rounds "$bf16" "$fp16" "split-all-fp16:-Dspecdec.cuda.splitActivations=all -Dspecdec.cuda.kvCache=fp16"
  mode=quick-then-done
fi
if [ "$mode" = mma16 ]; then   # tensor-core passes of 9..16 tokens in one weight stream (gemm_skinny_mma16, the default)
  # vs passes of 8 (-Dspecdec.cuda.mmaPassTokens=8): mma checks (verify of 12 tokens == decode, bit for bit), speculative
  # bench with each (γ = 8 verifies 9 tokens), decode of both shapes, quick checks
  run mma-1b 150 "${check[@]}" mma "$home/bench/gpu/llama-3.2-1b/config.json" llama-3.2-1b
  run mma-8b 240 "${check[@]}" mma "$home/bench/gpu/llama-3-8b/config.json" llama-3-8b
  eight=("${check[0]}" -Dspecdec.cuda.mmaPassTokens=8 "${check[@]:1}")
  for round in 1 2; do
    run "specbench-pass8-$round" 240 "${eight[@]}" specbench "$home/bench/gpu/llama-3-8b/config.json" "$home/bench/gpu/llama-3.2-1b/config.json"
    run "specbench-pass16-$round" 240 "${check[@]}" specbench "$home/bench/gpu/llama-3-8b/config.json" "$home/bench/gpu/llama-3.2-1b/config.json"
  done
  run bench-1b 150 "${check[@]}" bench "$home/bench/gpu/llama-3.2-1b/config.json" llama-3.2-1b
  run bench-8b 240 "${check[@]}" bench "$home/bench/gpu/llama-3-8b/config.json" llama-3-8b
  mode=quick-then-done
fi
if [ "$mode" = hf ]; then   # the HuggingFace transformers comparisons of full (small config, Llama-3-8B shape, bundled target)
  hf_bundled
  run hf-export 120 "${check[@]}" hf-export "$work/small"
  run hf-gen 180 python3 "$home/bench/gpu/hf_ref.py" gen "$work/small" 256
  run hf-logits 120 "${check[@]}" hf-logits "$work/small" "$work/small/tokens.txt" "$work/small/gpu_logits.f32" 32
  run hf-compare 60 python3 "$home/bench/gpu/hf_ref.py" compare "$work/small"
  run hf8b-gen 240 python3 "$home/bench/gpu/hf_ref.py" gen-random "$home/bench/gpu/llama-3-8b/config.json" "$work/hf8b" 32
  run hf8b-logits 180 "${check[@]}" hf-logits "$work/hf8b" "$work/hf8b/tokens.txt" "$work/hf8b/gpu_logits.f32" 32
  run hf8b-compare 120 python3 "$home/bench/gpu/hf_ref.py" compare "$work/hf8b"
  mode=done
fi
if [ "$mode" = bench ]; then   # decode tok/s of the 1B and 8B shapes vs the HBM floor only
  run bench-1b 150 "${check[@]}" bench "$home/bench/gpu/llama-3.2-1b/config.json" llama-3.2-1b
  run bench-8b 240 "${check[@]}" bench "$home/bench/gpu/llama-3-8b/config.json" llama-3-8b
  mode=done
fi
if [ "$mode" = timing ]; then   # split-K decode timings only (contexts 128 and 4096, with and without split-K)
  run splitk-1b 180 "${check[@]}" splitk "$home/bench/gpu/llama-3.2-1b/config.json" llama-3.2-1b
  run splitk-8b 240 "${check[@]}" splitk "$home/bench/gpu/llama-3-8b/config.json" llama-3-8b
  mode=done
fi
if [ "$mode" = fusion ]; then   # fused path vs CPU and spec == target greedy, then decode-profile of both paths (1B, 8B)
  check=("${check[0]}" -Dspecdec.cuda.mmaFromTokens=0 "${check[@]:1}")   # the fused GEMVs are the CUDA-core path's
  run cpu-fused 30 "${check[@]}" cpu fused
  run spec-fused 30 "${check[@]}" spec fused
  run fusion-1b 60 "${check[@]}" decode-profile "$home/bench/gpu/llama-3.2-1b/config.json" llama-3.2-1b
  run fusion-8b 110 "${check[@]}" decode-profile "$home/bench/gpu/llama-3-8b/config.json" llama-3-8b
  mode=done
fi
[ "$mode" != done ] && run cpu 150 "${check[@]}" cpu
[ "$mode" != done ] && run accept 180 "${check[@]}" accept
[ "$mode" != done ] && run spec 120 "${check[@]}" spec
[ "$mode" != done ] && run sample 240 "${check[@]}" sample
[ "$mode" != done ] && run argmax 120 "${check[@]}" argmax
[ "$mode" != done ] && run specsample 300 "${check[@]}" specsample "${SPECDEC_MODELS:-$home/models}" "$home/bench/gpu/llama-3.2-1b/config.json"
[ "$mode" != done ] && run splitk 120 "${check[@]}" splitk
[ "$mode" != done ] && run gemv 120 "${check[@]}" gemv
[ "$mode" != done ] && run batchheld 300 "${check[@]}" batchheld "${SPECDEC_MODELS:-$home/models}" "$home/bench/gpu/llama-3.2-1b/config.json"
[ "$mode" = quick-then-done ] && mode=done
if [ "$mode" = full ]; then
  hf_bundled
  run hf-export 120 "${check[@]}" hf-export "$work/small"
  run hf-gen 180 python3 "$home/bench/gpu/hf_ref.py" gen "$work/small" 256
  run hf-logits 120 "${check[@]}" hf-logits "$work/small" "$work/small/tokens.txt" "$work/small/gpu_logits.f32" 32
  run hf-compare 60 python3 "$home/bench/gpu/hf_ref.py" compare "$work/small"
  run bench-1b 150 "${check[@]}" bench "$home/bench/gpu/llama-3.2-1b/config.json" llama-3.2-1b
  run bench-8b 240 "${check[@]}" bench "$home/bench/gpu/llama-3-8b/config.json" llama-3-8b
  run splitk-1b 180 "${check[@]}" splitk "$home/bench/gpu/llama-3.2-1b/config.json" llama-3.2-1b
  run splitk-8b 240 "${check[@]}" splitk "$home/bench/gpu/llama-3-8b/config.json" llama-3-8b
  run specbench 240 "${check[@]}" specbench "$home/bench/gpu/llama-3-8b/config.json" "$home/bench/gpu/llama-3.2-1b/config.json"
  run hf-bench-1b 120 python3 "$home/bench/gpu/hf_ref.py" bench "$home/bench/gpu/llama-3.2-1b/config.json" 128
  run hf-bench-8b 150 python3 "$home/bench/gpu/hf_ref.py" bench "$home/bench/gpu/llama-3-8b/config.json" 64
  run hf8b-gen 240 python3 "$home/bench/gpu/hf_ref.py" gen-random "$home/bench/gpu/llama-3-8b/config.json" "$work/hf8b" 32
  run hf8b-logits 180 "${check[@]}" hf-logits "$work/hf8b" "$work/hf8b/tokens.txt" "$work/hf8b/gpu_logits.f32" 32
  run hf8b-compare 120 python3 "$home/bench/gpu/hf_ref.py" compare "$work/hf8b"
fi
python3 - "$results" > "$out/table.txt" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for r in rows:
    c = r.pop("check"); ok = r.pop("pass", None)
    keep = {k: v for k, v in r.items() if k not in ("stats", "device", "out", "dir")}
    print(f"{'PASS' if ok else ('FAIL' if ok is False else '    ')} {c:28s} " + " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in keep.items()))
PY
cat "$out/table.txt"
rm -rf "$work"
