#!/usr/bin/env python3
"""Train the brown model: a small DeepSeek-V2 (transformers' DeepseekV2ForCausalLM) on the Brown corpus.

Runs on the GPU host in one go (see README.md):
  0. smoke test: one forward/backward, a checkpoint save + reload, the fp32/fp64 evaluation and the
     sampler on a throw-away copy, so that a mistake fails in seconds, not after training;
  1. training: bf16 autocast, AdamW, linear warm-up then cosine decay, fixed seed; the step count is
     --steps, or what fits in --budget-s at the speed measured over the first steps (logged);
     the dev loss (held-out windows 2.. of the held-out documents, never the evaluation windows)
     is measured along the way and the weights with the lowest dev loss are kept; with several
     --steps values, one run each from the same seed, and the run with the lowest dev loss is kept;
  2. save: config.json + model.safetensors (bf16, the original one-tensor-per-expert layout),
     reloaded with from_pretrained (no missing or unexpected keys allowed);
  3. evaluation: the saved checkpoint upcast to fp32 (TF32 off, eager attention and experts) on the
     fixed evaluation set tooling/eval/brown-heldout-windows.json: perplexity, next-token accuracy and
     per-window summed NLL; cross-checked in float64 on the CPU; also on all held-out windows;
  4. samples: greedy and temperature 0.8 continuations of a few prompts, chat included.

Usage: python train.py --data .device-train --out OUT [--budget-s 150 | --steps N] [--seed 1234]
"""

import argparse
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import safetensors.torch
import torch
import torch.nn.functional as F
import transformers
from transformers import AutoConfig, DeepseekV2ForCausalLM

BOS, EOS, PAD = 0, 1, 2
VOCAB = 2048

# Only keys that transformers' deepseek_v2 (and dcp's config reader) use.
ARCH = dict(
    model_type="deepseek_v2",
    architectures=["DeepseekV2ForCausalLM"],
    vocab_size=VOCAB,
    hidden_size=256,
    intermediate_size=768,
    num_hidden_layers=4,
    num_attention_heads=8,
    q_lora_rank=None,
    kv_lora_rank=512,
    qk_nope_head_dim=32,
    qk_rope_head_dim=64,
    v_head_dim=32,
    first_k_dense_replace=1,
    moe_layer_freq=1,
    n_routed_experts=8,
    n_shared_experts=1,
    num_experts_per_tok=2,
    moe_intermediate_size=160,
    topk_method="greedy",
    n_group=None,
    topk_group=None,
    norm_topk_prob=False,
    routed_scaling_factor=1.0,
    scoring_func="softmax",
    hidden_act="silu",
    rms_norm_eps=1e-6,
    attention_bias=False,
    attention_dropout=0.0,
    mlp_bias=False,
    rope_theta=10000.0,
    rope_scaling=None,
    max_position_embeddings=4096,
    tie_word_embeddings=False,
    bos_token_id=BOS,
    eos_token_id=EOS,
    pad_token_id=PAD,
    initializer_range=0.02,
    use_cache=True,
    torch_dtype="bfloat16",
)

LOG = None


def log(*a):
    line = " ".join(str(x) for x in a)
    print(line, flush=True)
    if LOG is not None:
        LOG.write(line + "\n")
        LOG.flush()


def load_u16(path):
    return torch.from_numpy(np.fromfile(path, dtype=np.uint16).astype(np.int64))


def write_config(d):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(ARCH, f, indent=2)
        f.write("\n")


def set_experts(model, impl):
    if hasattr(model, "set_experts_implementation"):
        model.set_experts_implementation(impl)
    else:
        model.config._experts_implementation = impl
    return model


def hf_layout(model):
    """State dict in the original checkpoint layout (one tensor per expert), bf16."""
    out = {}
    for name, t in model.state_dict().items():
        t = t.detach().to("cpu", torch.float32)
        if name.endswith("mlp.experts.gate_up_proj"):  # [E, 2I, H]: first I rows gate, then up
            pre = name[: -len("gate_up_proj")]
            inter = t.shape[1] // 2
            for e in range(t.shape[0]):
                out[f"{pre}{e}.gate_proj.weight"] = t[e, :inter]
                out[f"{pre}{e}.up_proj.weight"] = t[e, inter:]
        elif name.endswith("mlp.experts.down_proj"):  # [E, H, I]
            pre = name[: -len("down_proj")]
            for e in range(t.shape[0]):
                out[f"{pre}{e}.down_proj.weight"] = t[e]
        else:
            out[name] = t
    return {k: v.to(torch.bfloat16).contiguous() for k, v in out.items()}


def save_checkpoint(model, d):
    write_config(d)
    sd = hf_layout(model)
    safetensors.torch.save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    loaded, info = DeepseekV2ForCausalLM.from_pretrained(
        d, dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    if info.get("missing_keys") or info.get("unexpected_keys"):
        raise RuntimeError(f"checkpoint did not reload cleanly: {bad}")
    log(f"saved {d}: {len(sd)} tensors, {os.path.getsize(os.path.join(d, 'model.safetensors'))} bytes; reload: {bad or 'clean'}")
    return loaded


@torch.no_grad()
def score(model, windows, device, batch=25):
    """Per-window summed NLL (float64 log-softmax of the model's logits) and correct argmax count."""
    nll, correct = [], []
    for i in range(0, windows.shape[0], batch):
        x = windows[i:i + batch].to(device)
        logits = model(input_ids=x).logits[:, :-1].to(torch.float64)
        y = x[:, 1:]
        lp = torch.log_softmax(logits, -1).gather(-1, y[..., None])[..., 0]
        nll += (-lp).sum(-1).tolist()
        correct += (logits.argmax(-1) == y).sum(-1).tolist()
    return nll, correct


def summary(nll, correct, per):
    n = len(nll) * per
    return dict(windows=len(nll), predicted_tokens=n, mean_nll=sum(nll) / n,
                ppl=math.exp(sum(nll) / n), accuracy=sum(correct) / n, correct=sum(correct))


def fp32_model(d, device):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    m = DeepseekV2ForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
    return set_experts(m, "eager").to(device).eval()


@torch.no_grad()
def sample(model, tok, device, prompt_ids, n, temp, gen):
    ids = list(prompt_ids)
    for _ in range(n):
        logits = model(input_ids=torch.tensor([ids], device=device)).logits[0, -1].float().cpu()
        if temp == 0:
            nxt = int(logits.argmax())
        else:
            nxt = int(torch.multinomial(torch.softmax(logits / temp, -1), 1, generator=gen))
        ids.append(nxt)
        if nxt == EOS:
            break
    return ids[len(prompt_ids):]


PROMPTS = ["The old man looked at", "It was a cold morning, and", "The committee voted to", "In the spring of 1960,"]
CHATS = ["Where did you go last summer?", "What do you think of the new law?"]


def samples(model, tok, device, n, seed):
    out = []
    gen = torch.Generator().manual_seed(seed)
    enc = lambda s: tok.encode(s, add_special_tokens=False).ids  # noqa: E731
    items = [("text", p, [BOS] + enc(p)) for p in PROMPTS]
    items += [("chat", c, [BOS] + enc(f"<|user|>{c}<|eos|><|assistant|>")) for c in CHATS]
    for kind, p, ids in items:
        for temp in (0.0, 0.8):
            cont = sample(model, tok, device, ids, n, temp, gen)
            text = tok.decode([t for t in cont if t != EOS], skip_special_tokens=False)
            out.append(dict(kind=kind, prompt=p, prompt_ids=ids, temperature=temp, ids=cont, text=text,
                            ended_with_eos=bool(cont and cont[-1] == EOS)))
            log(f"[{kind} T={temp}] {p!r} -> {text!r}{' <eos>' if out[-1]['ended_with_eos'] else ''}")
    return out


def batches(train, chat, chat_starts, rows, chat_rows, L, gen, device):
    offs = torch.randint(0, train.numel() - L - 1, (rows - chat_rows,), generator=gen)
    cs = chat_starts[torch.randint(0, chat_starts.numel(), (chat_rows,), generator=gen)]
    ar = torch.arange(L + 1)
    x = torch.cat([train[offs[:, None] + ar], chat[cs[:, None] + ar]]).to(device, non_blocking=True)
    return x[:, :-1], x[:, 1:]


def train_step(model, opt, x, y):
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = model(input_ids=x).logits
    loss = F.cross_entropy(logits.float().reshape(-1, VOCAB), y.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss, gn


@torch.no_grad()
def dev_loss(model, dev):
    model.eval()
    tot = 0.0
    for i in range(0, dev.shape[0], 64):
        x = dev[i:i + 64]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(input_ids=x[:, :-1]).logits
        tot += float(F.cross_entropy(logits.float().reshape(-1, VOCAB), x[:, 1:].reshape(-1), reduction="sum"))
    model.train()
    return tot / (dev.shape[0] * (dev.shape[1] - 1))


def build_model(cfg_dir, seed, device, experts):
    config = AutoConfig.from_pretrained(cfg_dir)
    try:
        config._attn_implementation = "sdpa"
    except Exception as e:  # noqa: BLE001
        log(f"(could not ask for sdpa attention: {e})")
    torch.manual_seed(seed)
    model = DeepseekV2ForCausalLM(config).float()  # fp32 master weights; bf16 only under autocast
    return set_experts(model, experts).to(device).train()


def train_run(args, cfg_dir, device, experts, train, chat, chat_starts, dev, total):
    """One training run from the seed; `total` steps, or what fits in --budget-s when None.
    Returns its figures and the weights with the lowest dev loss (under "model")."""
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    model = build_model(cfg_dir, args.seed, device, experts)
    n_params = sum(p.numel() for p in model.parameters())
    expert_params = [p for n, p in model.named_parameters() if "experts.gate_up" in n or "experts.down" in n]
    per_tok = n_params - sum(p.numel() for p in expert_params)
    per_tok += sum(p[0].numel() for p in expert_params) * ARCH["num_experts_per_tok"]
    log(f"--- run: {total or 'budget'} steps; parameters {n_params} ({n_params / 1e6:.2f} M), "
        f"active per token {per_tok} ({per_tok / 1e6:.2f} M)")
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW([dict(params=decay, weight_decay=args.wd), dict(params=no_decay, weight_decay=0.0)],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
    tokens_per_step = args.rows * args.seq
    cap = int(args.max_epochs * train.numel() / ((args.rows - args.chat_rows) * args.seq))
    measure = (5, 25)
    curve, dev_curve = [], []
    best = (float("inf"), -1, None)
    eval_every = None
    t0 = time.time()
    t_measure = None
    run_loss, run_n = 0.0, 0
    step = 0
    while total is None or step < total:
        if step < args.warmup:
            lr = args.lr * (step + 1) / args.warmup
        else:
            frac = (step - args.warmup) / max(1, (total or cap) - args.warmup)
            lr = args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = batches(train, chat, chat_starts, args.rows, args.chat_rows, args.seq, gen, device)
        loss, gn = train_step(model, opt, x, y)
        step += 1
        run_loss += float(loss.detach())
        run_n += 1
        if step == measure[0]:
            torch.cuda.synchronize()
            t_measure = time.time()
        if step == measure[1] and total is None:
            torch.cuda.synchronize()
            per = (time.time() - t_measure) / (measure[1] - measure[0])
            fit = int((args.budget_s - (time.time() - t0)) / (per * 1.08)) + step
            total = max(measure[1] + 1, min(fit, cap))
            log(f"step time {per * 1000:.1f} ms ({tokens_per_step / per / 1e6:.2f} M tok/s): {fit} steps fit "
                f"the budget, epoch cap {cap} -> total {total} steps")
        if total is not None and eval_every is None:
            eval_every = max(25, total // 16)
        if step % 25 == 0 or step == total:
            el = time.time() - t0
            curve.append(dict(step=step, loss=run_loss / run_n, lr=lr, grad_norm=float(gn), s=round(el, 2)))
            log(f"step {step:5d}  loss {run_loss / run_n:.4f}  lr {lr:.2e}  gnorm {float(gn):.3f}  {el:6.1f} s")
            run_loss, run_n = 0.0, 0
        if eval_every and (step % eval_every == 0 or step == total):
            dl = dev_loss(model, dev)
            dev_curve.append(dict(step=step, dev_loss=dl, dev_ppl=math.exp(dl)))
            log(f"step {step:5d}  dev loss {dl:.4f}  dev ppl {math.exp(dl):.2f}")
            if dl < best[0]:
                best = (dl, step, {k: v.detach().clone() for k, v in model.state_dict().items()})
    torch.cuda.synchronize()
    train_s = time.time() - t0
    epochs = step * (args.rows - args.chat_rows) * args.seq / train.numel()
    log(f"trained {step} steps, {step * tokens_per_step} tokens ({epochs:.1f} passes over the training text "
        f"+ chat rows) in {train_s:.1f} s; best dev loss {best[0]:.4f} at step {best[1]}")
    if best[1] != step:
        log(f"keeping the step-{best[1]} weights (lowest dev loss)")
        model.load_state_dict(best[2])
    del opt
    return dict(model=model, parameters=n_params, active_per_token=per_tok, steps=step,
                tokens=step * tokens_per_step, train_seconds=round(train_s, 1), passes_over_train_text=round(epochs, 2),
                kept_step=best[1], best_dev_loss=best[0], curve=curve, dev_curve=dev_curve)


def main():
    global LOG
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--eval-set", default="tooling/eval/brown-heldout-windows.json")
    ap.add_argument("--tokenizer", default="packages/model/presets/tiny/tokenizer.json")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--steps", default="", help="step counts, comma-separated: one run each, the lowest dev loss is kept (empty: one run sized by --budget-s)")
    ap.add_argument("--budget-s", type=float, default=150.0)
    ap.add_argument("--max-epochs", type=float, default=30.0, help="cap on passes over the training text")
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--chat-rows", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--dev-windows", type=int, default=192)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    LOG = open(os.path.join(args.out, "train-log.txt"), "w")
    t_start = time.time()
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(args.tokenizer)
    device = "cuda"
    log(f"transformers {transformers.__version__}, torch {torch.__version__}, {torch.cuda.get_device_name(0)}")
    log(f"args {vars(args)}")
    log(f"arch {json.dumps(ARCH)}")

    train = load_u16(os.path.join(args.data, "train.u16"))
    chat = load_u16(os.path.join(args.data, "chat.u16"))
    dev_all = load_u16(os.path.join(args.data, "dev.u16")).view(-1, 256)
    chat_starts = (chat == BOS).nonzero()[:, 0]
    chat_starts = chat_starts[chat_starts + args.seq + 1 <= chat.numel()]
    es = json.load(open(args.eval_set))
    evalw = torch.tensor([w["ids"] for w in es["windows"]])
    assert evalw.shape[1] == es["window"] and int(evalw[:, 0].max()) == BOS
    log(f"data: train {train.numel()} tokens, chat {chat.numel()} tokens ({chat_starts.numel()} starts), "
        f"dev {tuple(dev_all.shape)}, eval {tuple(evalw.shape)}")
    dev = dev_all[torch.linspace(0, dev_all.shape[0] - 1, args.dev_windows).long()].to(device)

    cfg_dir = os.path.join("/tmp", "brown-cfg")
    write_config(cfg_dir)

    # ---- 0. smoke test: every later code path on a throw-away model
    ts = time.time()
    experts = "grouped_mm"
    gen = torch.Generator().manual_seed(args.seed)
    try:
        m = build_model(cfg_dir, args.seed, device, experts)
        o = torch.optim.AdamW(m.parameters(), lr=1e-4, fused=True)
        x, y = batches(train, chat, chat_starts, 4, 1, 64, gen, device)
        train_step(m, o, x, y)
    except Exception as e:  # noqa: BLE001
        log(f"experts 'grouped_mm' failed in training ({type(e).__name__}: {e}); using 'eager'")
        experts = "eager"
    m = build_model(cfg_dir, args.seed, device, experts)
    log(f"attention {m.config._attn_implementation}, experts {experts}")
    o = torch.optim.AdamW(m.parameters(), lr=1e-4, fused=True)
    x, y = batches(train, chat, chat_starts, 4, 1, 64, gen, device)
    train_step(m, o, x, y)
    dev_loss(m, dev[:4])
    smoke_dir = "/tmp/brown-smoke"
    save_checkpoint(m, smoke_dir)
    fm = fp32_model(smoke_dir, device)
    nll, cor = score(fm, evalw[:2], device)
    cpu = DeepseekV2ForCausalLM.from_pretrained(smoke_dir, dtype=torch.float32, attn_implementation="eager")
    nll64, _ = score(set_experts(cpu, "eager").double().eval(), evalw[:1], "cpu")
    samples(fm, tok, device, 3, 0)
    log(f"smoke ok in {time.time() - ts:.1f} s: nll {nll[:1]} fp64 {nll64}, correct {cor}")
    del m, o, fm, cpu
    shutil.rmtree(smoke_dir, ignore_errors=True)

    # ---- 1. training: one run per --steps value (each from the same seed); keep the lowest dev loss
    runs = []
    for total in [int(t) for t in args.steps.split(",")] if args.steps else [None]:
        runs.append(train_run(args, cfg_dir, device, experts, train, chat, chat_starts, dev, total))
    pick = min(range(len(runs)), key=lambda i: runs[i]["best_dev_loss"])
    model, n_params, per_tok = runs[pick].pop("model"), runs[pick]["parameters"], runs[pick]["active_per_token"]
    for r in runs:
        r.pop("model", None)
    log(f"picked run {pick} ({runs[pick]['steps']} steps): dev loss {runs[pick]['best_dev_loss']:.4f} at step {runs[pick]['kept_step']}")

    # ---- 2. save
    ck = "/tmp/brown-ckpt"
    save_checkpoint(model, ck)
    for f in ("config.json", "model.safetensors"):
        shutil.copy(os.path.join(ck, f), os.path.join(args.out, f))
    metrics = dict(seed=args.seed, args=vars(args), experts_implementation_train=experts, parameters=n_params,
                   active_parameters_per_token=per_tok, picked_run=pick, runs=runs)
    json.dump(metrics, open(os.path.join(args.out, "train-metrics.json"), "w"), indent=1)
    del model

    # ---- 3. evaluation (fp32 from the saved bf16 checkpoint)
    try:
        fm = fp32_model(ck, device)
        nll, cor = score(fm, evalw, device)
        s32 = summary(nll, cor, evalw.shape[1] - 1)
        log(f"eval fp32 (GPU, TF32 off): {s32}")
        cpu = set_experts(DeepseekV2ForCausalLM.from_pretrained(ck, dtype=torch.float32, attn_implementation="eager"), "eager")
        torch.set_num_threads(min(16, os.cpu_count() or 1))
        nll64, cor64 = score(cpu.double().eval(), evalw, "cpu")
        s64 = summary(nll64, cor64, evalw.shape[1] - 1)
        worst = max(abs(a - b) / abs(b) for a, b in zip(nll, nll64))
        log(f"eval fp64 (CPU): {s64}; max per-window |nll32-nll64|/nll64 {worst:.2e}")
        nll_all, cor_all = score(fm, dev_all, device, batch=64)
        nll_all, cor_all = nll + nll_all, cor + cor_all
        s_all = summary(nll_all, cor_all, 255)
        log(f"all held-out windows fp32: {s_all}")
        ref = dict(
            model="packages/brown-model (config.json + model.safetensors, bf16)",
            eval_set=args.eval_set,
            transformers=transformers.__version__,
            torch=torch.__version__,
            device=torch.cuda.get_device_name(0),
            computation="DeepseekV2ForCausalLM.from_pretrained(dir, dtype=float32), eager attention, eager experts, TF32 off; each window one forward from position 0; NLL = -log_softmax (float64) of the fp32 logits at the next token, summed over positions 1..255; accuracy = argmax of the fp32 logits equals the next token",
            windows=s32["windows"], predicted_tokens=s32["predicted_tokens"], mean_nll=s32["mean_nll"],
            ppl=s32["ppl"], accuracy=s32["accuracy"], correct=s32["correct"],
            per_window=[dict(doc=w["doc"], nll=a, correct=c) for w, a, c in zip(es["windows"], nll, cor)],
            fp64_cpu_check=dict(ppl=s64["ppl"], accuracy=s64["accuracy"], max_rel_window_nll_diff=worst,
                                per_window_nll=nll64),
            all_held_out_windows=dict(windows=s_all["windows"], predicted_tokens=s_all["predicted_tokens"],
                                      ppl=s_all["ppl"], accuracy=s_all["accuracy"],
                                      note="the 50 evaluation windows plus windows 2.. of every held-out document (the dev windows)"),
        )
        json.dump(ref, open(os.path.join(args.out, "brown-heldout-reference.json"), "w"), indent=1)
    except Exception as e:  # noqa: BLE001
        log(f"!!! evaluation failed: {type(e).__name__}: {e}")
        fm = None

    # ---- 4. samples
    try:
        if fm is None:
            fm = fp32_model(ck, device)
        sm = samples(fm, tok, device, 60, args.seed)
        json.dump(dict(seed=args.seed, max_new_tokens=60, samples=sm), open(os.path.join(args.out, "samples.json"), "w"), indent=1)
    except Exception as e:  # noqa: BLE001
        log(f"!!! sampling failed: {type(e).__name__}: {e}")
    log(f"total {time.time() - t_start:.1f} s")
    LOG.close()


if __name__ == "__main__":
    sys.exit(main())
