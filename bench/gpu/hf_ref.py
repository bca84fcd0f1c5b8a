"""HuggingFace transformers as an independent reference for the CUDA backend (bench/gpu/check.sh).

gen DIR N      greedy N tokens after a fixed 32-token prompt (HF_PROMPT=P: P tokens) with LlamaForCausalLM in float32 (KV cache), write
               DIR/tokens.txt (prompt + generated) and the teacher-forced logits of every position in fp32 and bf16
gen-text DIR N TEXT   the same after the first 32 tokens of BOS (id 0) + TEXT, tokenized with DIR/tokenizer.json (a
               real model such as the bundled target: real text, not random ids)
bench CONFIG N HuggingFace transformers eager batch-1 greedy decode tok/s, random bf16 weights (the peer baseline)
compare DIR    compare DIR/gpu_logits.f32 (specdec CUDA, same positions) with them; prints JSON lines
"""
import json, os, sys, time
import numpy as np
import torch
from transformers import LlamaForCausalLM

# prompt tokens of gen/gen-random/gen-text and compare (HF_PROMPT: over 128 the CUDA prefill takes the tensor-core
# prefill attention; the default 32 takes split-K)
PROMPT = int(os.environ.get("HF_PROMPT", "32"))


def load(d, dtype):
    try:
        return LlamaForCausalLM.from_pretrained(d, dtype=dtype).cuda().eval()
    except TypeError:
        return LlamaForCausalLM.from_pretrained(d, torch_dtype=dtype).cuda().eval()


@torch.no_grad()
def gen(d, n, m=None, prompt=None):
    m = m if m is not None else load(d, torch.float32)
    vocab = m.config.vocab_size
    g = torch.Generator().manual_seed(1234)
    ids = torch.tensor([prompt], device="cuda") if prompt else torch.randint(3, vocab, (1, PROMPT), generator=g).cuda()
    out = m(ids, use_cache=True)
    pkv, toks = out.past_key_values, ids[0].tolist()
    nxt = int(out.logits[0, -1].argmax())
    for _ in range(n):
        toks.append(nxt)
        out = m(torch.tensor([[nxt]], device="cuda"), past_key_values=pkv, use_cache=True)
        pkv = out.past_key_values
        nxt = int(out.logits[0, -1].argmax())
    with open(f"{d}/tokens.txt", "w") as f:
        f.write("\n".join(map(str, toks)) + "\n")
    full = torch.tensor([toks], device="cuda")
    np.save(f"{d}/hf32.npy", m(full).logits[0].float().cpu().numpy())
    np.save(f"{d}/hf16.npy", m.to(torch.bfloat16)(full).logits[0].float().cpu().numpy())
    print(json.dumps({"check": "hf-gen", "dir": d, "tokens": len(toks), "prompt": PROMPT}))


@torch.no_grad()
def gen_random(config_path, d, n):
    """A random bf16 model of CONFIG's shape (HF's own init), saved as safetensors to D with CONFIG's config.json."""
    import os, shutil
    from transformers import LlamaConfig
    cfg = LlamaConfig.from_pretrained(config_path)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        m = LlamaForCausalLM(cfg).eval()
    torch.set_default_dtype(torch.float32)
    t0 = time.perf_counter()
    m.save_pretrained(d, safe_serialization=True)
    shutil.copy(config_path, os.path.join(d, "config.json"))   # the plain config specdec reads (rope_theta, ...)
    print(json.dumps({"check": "hf-random-model", "dir": d, "saved_s": time.perf_counter() - t0,
                      "rope": str(getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_theta", None))}))
    gen(d, n, m.float())


def gen_text(d, n, text):
    from tokenizers import Tokenizer
    ids = [0] + Tokenizer.from_file(f"{d}/tokenizer.json").encode(text, add_special_tokens=False).ids
    if len(ids) < PROMPT:
        raise SystemExit(f"the text gives {len(ids)} tokens with BOS, fewer than {PROMPT}")
    gen(d, n, prompt=ids[:PROMPT])


def rel(a, b):
    return np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)


def compare(d):
    toks = [int(x) for x in open(f"{d}/tokens.txt").read().split()]
    hf32, hf16 = np.load(f"{d}/hf32.npy"), np.load(f"{d}/hf16.npy")
    gpu = np.fromfile(f"{d}/gpu_logits.f32", dtype="<f4").reshape(hf32.shape)
    gen_rows = slice(PROMPT - 1, len(toks) - 1)  # rows whose argmax is a generated token
    steps = len(toks) - PROMPT
    for name, x in (("specdec-cuda", gpu), ("hf-bf16", hf16)):
        r = rel(x, hf32)
        agree = int((x[gen_rows].argmax(1) == hf32[gen_rows].argmax(1)).sum())
        first_diff = next((i for i in range(steps) if x[PROMPT - 1 + i].argmax() != toks[PROMPT + i]), steps)
        print(json.dumps({"check": "vs-hf-fp32", "who": name, "rows": int(x.shape[0]), "max_rel_l2": float(r.max()),
                          "median_rel_l2": float(np.median(r)), "greedy_steps": steps, "greedy_equal": agree,
                          "greedy_equal_fraction": agree / steps, "teacher_forced_first_difference": first_diff,
                          "pass": bool(r.max() <= 2e-2 and agree >= 0.99 * steps) if name == "specdec-cuda" else None}))
    r = rel(gpu, hf16)
    print(json.dumps({"check": "vs-hf-bf16", "who": "specdec-cuda", "max_rel_l2": float(r.max()),
                      "median_rel_l2": float(np.median(r)),
                      "greedy_equal": int((gpu[gen_rows].argmax(1) == hf16[gen_rows].argmax(1)).sum()), "greedy_steps": steps}))


@torch.no_grad()
def bench(config_path, n):
    from transformers import LlamaConfig
    cfg = LlamaConfig.from_pretrained(config_path)
    cfg._attn_implementation = "eager"
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        m = LlamaForCausalLM(cfg).eval()
    torch.set_default_dtype(torch.float32)
    ids = torch.randint(3, cfg.vocab_size, (1, 128), generator=torch.Generator().manual_seed(5)).cuda()
    kw = dict(do_sample=False, max_new_tokens=n, min_new_tokens=n, pad_token_id=0)
    m.generate(ids, **dict(kw, max_new_tokens=8, min_new_tokens=8))
    torch.cuda.synchronize(); t0 = time.perf_counter()
    out = m.generate(ids, **kw)
    torch.cuda.synchronize(); dt = time.perf_counter() - t0
    steps = out.shape[1] - ids.shape[1]
    print(json.dumps({"check": "hf-eager-decode", "config": config_path, "new_tokens": int(steps),
                      "tok_s": steps / dt, "ms_per_token": dt / steps * 1e3, "note": "includes the 128-token prefill"}))


if __name__ == "__main__":
    {"gen": lambda: gen(sys.argv[2], int(sys.argv[3])), "compare": lambda: compare(sys.argv[2]),
     "bench": lambda: bench(sys.argv[2], int(sys.argv[3])),
     "gen-text": lambda: gen_text(sys.argv[2], int(sys.argv[3]), sys.argv[4]),
     "gen-random": lambda: gen_random(sys.argv[2], sys.argv[3], int(sys.argv[4]))}[sys.argv[1]]()
