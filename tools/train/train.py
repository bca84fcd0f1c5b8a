#!/usr/bin/env python3
"""Trains specdec's bundled model pair: a byte-level BPE tokenizer, a Llama target and a distilled Llama draft.

One command, deterministic for a given seed, corpus and machine:

    python3 tools/train/train.py --corpus tools/corpus/target/english --out build/models

--corpus holds train.txt / valid.txt / test.txt (one document per line; tools/corpus/fetch.sh writes them).
--out receives target/ and draft/ (HuggingFace directories, bf16 safetensors), loss.csv, loss.png,
summary.json (sizes, the hyper-parameter selection, held-out perplexity and acceptance proxies),
hf_greedy.json (HF greedy tokens on 5 held-out prompts, for the cross-check against specdec) and
hf_tokens.json (HF token ids of the held-out documents, for the tokenizer cross-check).

Runs on a GPU (minutes) or on CPU (slowly: use --quick there to prove the pipeline). Model selection: each
candidate (dropout, distillation weight) trains for the same steps; the checkpoint with the lowest
validation loss (target) or highest validation acceptance proxy (draft) is kept; test.txt is only used for the
final numbers.
"""
import argparse
import copy
import hashlib
import csv
import json
import math
import os
import time
from pathlib import Path

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS

import torch
import torch.nn.functional as F
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

BOS, EOS = "<s>", "</s>"

# Sizes chosen so both models stored in bf16 fit models/ <= 12 MB with the tokenizer files (see models/README.md).
TARGET = dict(hidden_size=256, intermediate_size=384, num_hidden_layers=6, num_attention_heads=4,
              num_key_value_heads=4)
DRAFT = dict(hidden_size=128, intermediate_size=384, num_hidden_layers=2, num_attention_heads=2,
             num_key_value_heads=2)


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


# ---------------------------------------------------------------- tokenizer

def train_tokenizer(docs, vocab_size):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[BOS, EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(docs, trainer)
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B",
                                                       special_tokens=[(BOS, tok.token_to_id(BOS))])
    return tok


def tokenizer_config(max_len):
    return {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": BOS, "eos_token": EOS,
            "add_bos_token": True, "add_eos_token": False, "model_max_length": max_len,
            "clean_up_tokenization_spaces": False}


# ---------------------------------------------------------------- models

def make_model(shape, vocab, max_pos, bos_id, eos_id):
    config = LlamaConfig(vocab_size=vocab, max_position_embeddings=max_pos, rms_norm_eps=1e-5,
                         rope_theta=10000.0, tie_word_embeddings=True, hidden_act="silu",
                         bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=None,
                         attention_bias=False, mlp_bias=False, initializer_range=0.02, **shape)
    model = LlamaForCausalLM(config)
    try:
        model.set_attn_implementation("eager")  # deterministic backward (no flash-attention atomics)
    except AttributeError:
        model.config._attn_implementation = "eager"
    model.generation_config = GenerationConfig(bos_token_id=bos_id, eos_token_id=eos_id)
    return model


def add_residual_dropout(model, p):
    """LlamaForCausalLM has only attention-probability dropout; a tiny corpus needs dropout on the
    embedding and on each attention/MLP branch output. Hooks are not saved, so the export is plain Llama."""
    if p <= 0:
        return

    def hook(module, inputs, output):
        if not module.training:
            return output
        if isinstance(output, tuple):
            return (F.dropout(output[0], p, True),) + tuple(output[1:])
        return F.dropout(output, p, True)

    model.model.embed_tokens.register_forward_hook(hook)
    for layer in model.model.layers:
        layer.self_attn.register_forward_hook(hook)
        layer.mlp.register_forward_hook(hook)


def param_count(model):
    return sum(p.numel() for p in model.parameters())  # tied weights counted once


# ---------------------------------------------------------------- data

def encode_docs(tok, docs, eos_id, max_len):
    out = []
    for enc in tok.encode_batch(docs):  # post-processor prepends BOS
        ids = enc.ids + [eos_id]
        out.append(ids[:max_len])
    return out


def padded(docs_ids, device):
    """Documents as one right-padded batch; labels -100 on padding."""
    n = max(len(d) for d in docs_ids)
    ids = torch.zeros(len(docs_ids), n, dtype=torch.long)
    labels = torch.full((len(docs_ids), n), -100, dtype=torch.long)
    for i, d in enumerate(docs_ids):
        ids[i, :len(d)] = torch.tensor(d)
        labels[i, :len(d)] = torch.tensor(d)
    return ids.to(device), labels.to(device)


@torch.no_grad()
def evaluate(model, batch, device, teacher=None, chunk=16, autocast=True):
    """Mean next-token NLL over real tokens; with a teacher also the acceptance proxies of the draft:
    sum_x min(p, q) (expected acceptance of one token at temperature 1) and argmax agreement (greedy)."""
    was = model.training
    model.eval()
    ids, labels = batch
    nll, count, accept, agree = 0.0, 0, 0.0, 0
    for s in range(0, ids.shape[0], chunk):
        x, y = ids[s:s + chunk], labels[s:s + chunk]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast and device.type == "cuda"):
            logits = model(input_ids=x).logits.float()
            t_logits = teacher(input_ids=x).logits.float() if teacher is not None else None
        pred, gold = logits[:, :-1], y[:, 1:]
        mask = gold != -100
        nll += F.cross_entropy(pred.reshape(-1, pred.shape[-1]), gold.reshape(-1), ignore_index=-100,
                               reduction="sum").item()
        count += mask.sum().item()
        if t_logits is not None:
            q, p = pred.softmax(-1), t_logits[:, :-1].softmax(-1)
            accept += (torch.minimum(p, q).sum(-1) * mask).sum().item()
            agree += ((pred.argmax(-1) == t_logits[:, :-1].argmax(-1)) & mask).sum().item()
    model.train(was)
    out = {"loss": nll / count, "ppl": math.exp(nll / count), "tokens": count}
    if teacher is not None:
        out["accept_t1"] = accept / count
        out["accept_greedy"] = agree / count
    return out


def train_model(name, model, stream, valid, args, device, lr, dropout, teacher=None, alpha=0.0, writer=None):
    torch.manual_seed(args.seed)
    add_residual_dropout(model, dropout)
    model.to(device).train()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95), eps=1e-8)
    warmup = max(1, args.steps // 20)

    def lr_at(step):
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, args.steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    gen = torch.Generator().manual_seed(args.seed)
    L, B = args.seq_len, args.batch
    best, best_state, best_step = None, None, -1
    key = "accept_t1" if teacher is not None else "loss"
    t0 = time.time()
    stopped_early, ce_sum, ce_n = False, 0.0, 0
    for step in range(args.steps):
        if time.time() - t0 > args.max_seconds_per_run:  # a guard for the device's time limit, not a schedule
            stopped_early = True
            log(name, "stopped at step", step, "by --max-seconds-per-run")
            break
        starts = torch.randint(0, stream.numel() - L - 1, (B,), generator=gen)
        x = torch.stack([stream[s:s + L + 1] for s in starts.tolist()]).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(input_ids=x[:, :-1]).logits.float()
            ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
            loss = ce
            if teacher is not None and alpha > 0:
                with torch.no_grad():
                    t_logp = teacher(input_ids=x[:, :-1]).logits.float().log_softmax(-1)
                kl = F.kl_div(logits.log_softmax(-1), t_logp, log_target=True, reduction="none").sum(-1).mean()
                loss = (1 - alpha) * ce + alpha * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        ce_sum, ce_n = ce_sum + ce.item(), ce_n + 1
        if step % args.eval_every == args.eval_every - 1 or step == args.steps - 1 \
                or time.time() - t0 > args.max_seconds_per_run:
            ev = evaluate(model, valid, device, teacher)
            better = best is None or (ev[key] > best if key == "accept_t1" else ev[key] < best)
            if better:
                best, best_step = ev[key], step + 1
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            row = {"run": name, "step": step + 1, "lr": sched.get_last_lr()[0], "train_ce": ce_sum / ce_n,
                   "valid_loss": ev["loss"], "valid_accept_t1": ev.get("accept_t1", ""),
                   "seconds": round(time.time() - t0, 2)}
            ce_sum, ce_n = 0.0, 0
            if writer:
                writer.writerow(row)
            log(name, " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    model.load_state_dict(best_state)
    model.eval()
    return {"run": name, "best_step": best_step, "best_" + key: best, "steps_run": step + 1 - stopped_early,
            "stopped_early": stopped_early, "seconds": round(time.time() - t0, 1)}


# ---------------------------------------------------------------- export and references

def export(model, tok, out_dir, max_len):
    out_dir.mkdir(parents=True, exist_ok=True)
    bf16 = copy.deepcopy(model).to(torch.bfloat16).cpu()
    bf16.save_pretrained(out_dir, safe_serialization=True)
    tok.save(str(out_dir / "tokenizer.json"))
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(max_len), indent=2) + "\n")
    return LlamaForCausalLM.from_pretrained(out_dir, dtype=torch.float32)  # what ships, computed in f32


@torch.no_grad()
def greedy(model, prompt_ids, steps, device):
    ids = torch.tensor([prompt_ids], device=device)
    out, margins = [], []
    for _ in range(steps):
        logits = model(input_ids=ids).logits[0, -1].float()
        top2 = logits.topk(2)
        nxt = int(top2.indices[0])
        margins.append(float(top2.values[0] - top2.values[1]))
        out.append(nxt)
        ids = torch.cat([ids, torch.tensor([[nxt]], device=device)], dim=1)
    return out, margins


def plot(csv_path, png_path, chosen):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = list(csv.DictReader(open(csv_path)))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, kind in zip(axes, ("target", "draft")):
        for run in sorted({r["run"] for r in rows if r["run"].startswith(kind)}):
            rs = [r for r in rows if r["run"] == run]
            steps = [int(r["step"]) for r in rs]
            lw = 2.2 if run in chosen else 0.9
            ax.plot(steps, [float(r["train_ce"]) for r in rs], "--", lw=lw, alpha=0.6, label=f"{run} train")
            ax.plot(steps, [float(r["valid_loss"]) for r in rs], "-", lw=lw, label=f"{run} valid")
        ax.set_title(f"{kind} (bold: kept)")
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy (nats/token)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(png_path, dpi=90)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--max-pos", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--eval-every", type=int, default=40)
    ap.add_argument("--max-seconds-per-run", type=float, default=60.0)
    ap.add_argument("--target-lr", type=float, default=1e-3)
    ap.add_argument("--draft-lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--target-dropouts", default="0.1,0.2,0.3")
    ap.add_argument("--draft-runs", default="0.0:0.5,0.1:0.5,0.0:0.9,0.1:0.9", help="dropout:alpha,...")
    ap.add_argument("--quick", action="store_true", help="tiny run proving the pipeline end to end")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.eval_every = 30, 10
        args.target_dropouts, args.draft_runs = "0.1", "0.0:0.5"

    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    log("device", device, torch.__version__, "args", vars(args))

    docs = {s: (args.corpus / f"{s}.txt").read_text(encoding="utf-8").splitlines() for s in ("train", "valid", "test")}
    tok = train_tokenizer(docs["train"], args.vocab)
    bos_id, eos_id = tok.token_to_id(BOS), tok.token_to_id(EOS)
    log("tokenizer vocab", tok.get_vocab_size(), "bos", bos_id, "eos", eos_id,
        "sha256", hashlib.sha256(tok.to_str().encode()).hexdigest())
    enc = {s: encode_docs(tok, d, eos_id, args.max_pos) for s, d in docs.items()}
    stream = torch.tensor([t for d in enc["train"] for t in d], dtype=torch.long)
    valid, test = padded(enc["valid"], device), padded(enc["test"], device)
    summary = {"args": {k: str(v) for k, v in vars(args).items()}, "device": str(device),
               "torch": torch.__version__, "transformers": transformers.__version__,
               "tokenizer_sha256": hashlib.sha256(tok.to_str().encode()).hexdigest(), "tokens": {s: sum(map(len, e)) for s, e in enc.items()},
               "chars_per_token_train": sum(map(len, docs["train"])) / sum(len(d) - 2 for d in enc["train"])}
    log("tokens", summary["tokens"])

    csv_path = args.out / "loss.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["run", "step", "lr", "train_ce", "valid_loss", "valid_accept_t1",
                                               "seconds"])
        writer.writeheader()
        runs, best_target, best_loss = [], None, None
        for p in [float(x) for x in args.target_dropouts.split(",")]:
            model = make_model(TARGET, tok.get_vocab_size(), args.max_pos, bos_id, eos_id)
            r = train_model(f"target-d{p}", model, stream, valid, args, device, args.target_lr, p, writer=writer)
            r["params"] = param_count(model)
            runs.append(r)
            if best_loss is None or r["best_loss"] < best_loss:
                best_loss, best_target = r["best_loss"], (r["run"], model)
            f.flush()
        target_name, target = best_target
        target.requires_grad_(False)
        best_draft, best_acc = None, None
        for spec in args.draft_runs.split(","):
            p, alpha = (float(x) for x in spec.split(":"))
            model = make_model(DRAFT, tok.get_vocab_size(), args.max_pos, bos_id, eos_id)
            r = train_model(f"draft-d{p}-a{alpha}", model, stream, valid, args, device, args.draft_lr, p,
                            teacher=target, alpha=alpha, writer=writer)
            r["params"] = param_count(model)
            runs.append(r)
            if best_acc is None or r["best_accept_t1"] > best_acc:
                best_acc, best_draft = r["best_accept_t1"], (r["run"], model)
            f.flush()
    draft_name, draft = best_draft
    summary["runs"], summary["chosen"] = runs, {"target": target_name, "draft": draft_name}
    plot(csv_path, args.out / "loss.png", {target_name, draft_name})

    # Export, then measure what was exported (bf16 weights, f32 compute).
    t_exp = export(target, tok, args.out / "target", args.max_pos).to(device)
    d_exp = export(draft, tok, args.out / "draft", args.max_pos).to(device)
    summary["params"] = {"target": param_count(t_exp), "draft": param_count(d_exp)}
    summary["bytes"] = {m: {f.name: f.stat().st_size for f in sorted((args.out / m).iterdir())} for m in ("target", "draft")}
    summary["test"] = {"target": evaluate(t_exp, test, device, autocast=False),
                       "draft": evaluate(d_exp, test, device, teacher=t_exp, autocast=False)}
    summary["valid"] = {"target": evaluate(t_exp, valid, device, autocast=False),
                        "draft": evaluate(d_exp, valid, device, teacher=t_exp, autocast=False)}
    log("test", summary["test"])

    # References for the cross-checks run against specdec: greedy tokens and tokenizer ids.
    prompts = [" ".join(d.split()[:8]) for d in docs["test"][:5]]
    refs = []
    for prompt in prompts:
        prompt_ids = tok.encode(prompt).ids  # BOS + prompt, as specdec does with add_bos_token
        ids, margins = greedy(t_exp, prompt_ids, 100, device)
        refs.append({"prompt": prompt, "prompt_ids": prompt_ids, "token_ids": ids,
                     "text": tok.decode(ids), "min_top2_margin": min(margins)})
        log("greedy", repr(prompt), "->", repr(tok.decode(ids)[:120]))
    (args.out / "hf_greedy.json").write_text(json.dumps(refs, indent=1) + "\n")
    texts = docs["test"] + prompts
    (args.out / "hf_tokens.json").write_text(json.dumps(
        [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in texts]) + "\n")
    try:  # the same tokenizer through transformers' AutoTokenizer
        from transformers import AutoTokenizer
        auto = AutoTokenizer.from_pretrained(args.out / "target")
        summary["auto_tokenizer_matches"] = all(
            auto(t)["input_ids"] == tok.encode(t).ids for t in texts)
    except Exception as e:  # noqa: BLE001 - recorded, not fatal
        summary["auto_tokenizer_matches"] = f"error: {e!r}"
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log("done", json.dumps({k: summary[k] for k in ("chosen", "params", "test", "auto_tokenizer_matches")}))


if __name__ == "__main__":
    main()
