"""Peers of @dcp/flashmla-cuda's MLA decode, measured by mla-decode-cuda.bench.ts in the same run.

Measures the two ceilings (device-to-device copy, bf16 matmul), then for every shape plain torch
and, when their sources were placed in the git-ignored .peers/ folder for the run, vLLM's Triton
MLA decode kernel (4 splits as vLLM calls it, and the best of a split sweep) and FlashMLA (its
`flash_mla` module, already built, imported as installed or from .peers/FlashMLA; skipped with the
reason printed when it cannot be imported).
Timing: CUDA graphs, cold L2 (a 256 MiB memset before every replay), CUDA events, median.
Error: relative L2 error against a float64 reference on the first two requests.
Writes JSON to argv[1].
"""
import importlib.util
import json
import math
import os
import sys
import time

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PEERS = os.path.join(ROOT, ".peers")
LATENT, DV, PAGE = 576, 512, 64
SCALE = 1 / math.sqrt(192)
dev = torch.device("cuda")
flush = torch.empty(256 << 20, dtype=torch.uint8, device=dev)


def log(*a):
    print("[peers]", *a, file=sys.stderr, flush=True)


def time_graph(fn, iters):
    """Median µs of `iters` cold-L2 replays of `fn` captured as a CUDA graph (eager on failure)."""
    fn()
    torch.cuda.synchronize()
    g = None
    try:
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            fn()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            fn()
        run = g.replay
    except Exception as e:  # noqa: BLE001
        log("graph capture failed, timing eagerly:", str(e).splitlines()[0])
        run = fn
    ts = []
    for _ in range(iters):
        flush.zero_()
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        run()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b) * 1000)
    ts.sort()
    return ts[len(ts) // 2], g is not None


def ceilings():
    x = torch.empty(2 << 30, dtype=torch.uint8, device=dev).random_()
    y = torch.empty_like(x)
    for _ in range(3):
        y.copy_(x)
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(10):
        y.copy_(x)
    b.record()
    b.synchronize()
    bw = 2 * x.numel() * 10 / (a.elapsed_time(b) / 1000)
    del x, y
    n = 8192
    m1 = torch.randn(n, n, dtype=torch.bfloat16, device=dev)
    m2 = torch.randn(n, n, dtype=torch.bfloat16, device=dev)
    for _ in range(3):
        m1 @ m2
    torch.cuda.synchronize()
    a.record()
    for _ in range(10):
        m1 @ m2
    b.record()
    b.synchronize()
    mm = 2 * n**3 * 10 / (a.elapsed_time(b) / 1000)
    return bw, mm


def load_triton():
    path = os.path.join(PEERS, "triton_decode_attention.py")
    if not os.path.exists(path):
        return None
    spec = importlib.util.spec_from_file_location("vllm_triton_decode", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_flashmla():
    """FlashMLA's `flash_mla` module if it can be imported (installed, or built in .peers/FlashMLA).

    Returns (module, None) or (None, reason); nothing here builds it.
    """
    local = os.path.join(PEERS, "FlashMLA")
    if os.path.isdir(local) and local not in sys.path:
        sys.path.insert(0, local)
    try:
        import flash_mla  # noqa: PLC0415

        return flash_mla, None
    except Exception as e:  # noqa: BLE001
        reason = f"not importable ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})"
        log("FlashMLA skipped:", reason)
        return None, reason


def reference(q, cache, table, s, req):
    """float64 output of request `req` ([H, 512])."""
    nb = (s + PAGE - 1) // PAGE
    kv = cache[table[req, :nb].long()].reshape(-1, LATENT)[:s].double()
    sc = (q[req].double() @ kv.T) * SCALE
    p = torch.softmax(sc, dim=-1)
    return p @ kv[:, :DV]


def rel_err(out, ref):
    if torch.isnan(out).any():
        return float("inf")
    return (torch.linalg.norm(out.double() - ref) / torch.linalg.norm(ref)).item()


def run_shape(h, b, s, triton_mod, flash_mla, iters):
    nb_per = (s + PAGE - 1) // PAGE
    nblocks = b * nb_per
    elems = nblocks * PAGE * LATENT
    cache = torch.empty(nblocks, PAGE, LATENT, dtype=torch.bfloat16, device=dev).uniform_(-1, 1)
    q = torch.empty(b, h, LATENT, dtype=torch.bfloat16, device=dev).uniform_(-1, 1)
    table = torch.randperm(nblocks, device=dev, dtype=torch.int32).view(b, nb_per)
    lens = torch.full((b,), s, dtype=torch.int32, device=dev)
    refs = [reference(q, cache, table, s, r) for r in range(min(2, b))]
    res = {"h": h, "b": b, "s": s, "cacheElements": elems}

    def err_of(out):
        return max(rel_err(out[r].float(), refs[r]) for r in range(len(refs)))

    # plain torch: gather the pages, then two bf16 matmuls and an fp32 softmax
    def torch_decode():
        kv = cache[table.long()].view(b, nb_per * PAGE, LATENT)[:, :s]
        sc = torch.matmul(q, kv.transpose(1, 2)).float() * SCALE
        p = torch.softmax(sc, dim=-1)
        return torch.matmul(p.to(torch.bfloat16), kv[:, :, :DV])

    try:
        res["torch"], _ = time_graph(torch_decode, iters)
        res["torchErr"] = err_of(torch_decode())
    except torch.OutOfMemoryError:
        res["torch"] = None
        res["torchNote"] = "OOM"
    torch.cuda.empty_cache()

    if triton_mod is not None:
        if elems >= 2**31:
            res["tritonNote"] = "skipped: cache past 2^31 elements (32-bit offsets crash the kernel)"
        else:
            kbuf = cache.unsqueeze(2)
            vbuf = cache[..., :DV].unsqueeze(2)
            o = torch.empty(b, h, DV, dtype=torch.bfloat16, device=dev)
            lse = torch.empty(b, h, dtype=torch.float32, device=dev)
            best = None
            for splits in (4, 16, 64, 128):
                logits = torch.empty(b, h, splits, DV + 1, dtype=torch.float32, device=dev)

                def tri(splits=splits, logits=logits):
                    triton_mod.decode_attention_fwd(q, kbuf, vbuf, o, lse, table, lens, logits, splits, SCALE, PAGE)

                t, _ = time_graph(tri, iters)
                if splits == 4:
                    tri()
                    res["triton4"], res["tritonErr"] = t, err_of(o)
                if best is None or t < best[0]:
                    tri()
                    best = (t, splits, err_of(o))
            res["tritonTuned"], res["tritonSplits"], res["tritonTunedErr"] = best

    if flash_mla is not None:
        try:
            md, ns = flash_mla.get_mla_metadata(lens, h, 1)
            qf = q.unsqueeze(1)

            def fm():
                return flash_mla.flash_mla_with_kvcache(qf, cache.unsqueeze(2), table, lens, DV, md, ns, softmax_scale=SCALE, causal=True)

            res["flashmla"], _ = time_graph(fm, iters)
            res["flashmlaErr"] = err_of(fm()[0].squeeze(1))
        except Exception as e:  # noqa: BLE001
            res["flashmlaNote"] = str(e).splitlines()[0][:120]
    del cache
    torch.cuda.empty_cache()
    return res


def main():
    out_path = sys.argv[1]
    shapes = json.loads(sys.argv[2])
    t0 = time.time()
    bw, mm = ceilings()
    log(f"ceilings: copy {bw / 1e12:.2f} TB/s, bf16 matmul {mm / 1e12:.0f} TFLOP/s")
    triton_mod = load_triton()
    flash_mla, flash_skip = load_flashmla()
    if flash_mla is not None:
        log("FlashMLA:", getattr(flash_mla, "__file__", "?"))
    results = []
    for h, b, s in shapes:
        iters = 30 if b * s <= 32 * 16384 else 10
        r = run_shape(h, b, s, triton_mod, flash_mla, iters)
        log(json.dumps(r))
        results.append(r)
    info = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "triton": __import__("triton").__version__,
        "copyBytesPerS": bw,
        "matmulFlopPerS": mm,
        "haveTriton": triton_mod is not None,
        "haveFlashMla": flash_mla is not None,
        "flashmlaSkip": flash_skip,
        "seconds": time.time() - t0,
        "shapes": results,
    }
    with open(out_path, "w") as f:
        json.dump(info, f)


if __name__ == "__main__":
    main()
