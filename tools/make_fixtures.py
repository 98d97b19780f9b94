#!/usr/bin/python3
"""Regenerate Recur's independent PyTorch reference fixtures (test/fixtures/*.safetensors).

Run from the repository root with Debian's interpreter (it has python3-torch):

    /usr/bin/python3 tools/make_fixtures.py

Nothing besides torch and numpy is needed: the safetensors format is written and re-read by the
small writer/reader in this file. Output is deterministic (a fixed torch.manual_seed per fixture,
one thread, deterministic algorithms, no timestamps), so running it twice gives byte-identical
files.

Conventions (the TypeScript side must match them)
-------------------------------------------------
* Parameters and inputs are drawn as float32. Every reference value (outputs, states, losses,
  gradients) is computed in float64 from those float32 values and rounded to float32 only when
  stored. Each value is computed twice, by an independent plain sequential loop (h_t from h_{t-1},
  hand-written formulas) and by PyTorch's own ops / the log-space parallel (Heinsen) scan, and the
  script asserts they agree (float64: 1e-10; the same computation in float32: 1e-5) before writing.
* Layouts: activations are batch-first [B, T, C] ("channels last"); Linear weights are PyTorch's
  [out, in] (y = x W^T + b); a depthwise Conv1d weight is PyTorch's [C, 1, K]. PyTorch's conv1d
  takes [B, C, T], so the script transposes; the stored x / y are [B, T, C]. The causal conv
  left-pads by K-1 zeros: y[b,t,c] = bias[c] + sum_j w[c,0,j] * x[b, t-(K-1)+j, c].
* g(x) = x + 0.5 (x >= 0), sigmoid(x) (x < 0); log g(x) = log(x + 0.5) (x >= 0), -softplus(-x).
* minGRU (minGRU-pytorch 0.2.1 layout): to_hidden_and_gate.weight [2*Di, D], output chunks
  (hidden, gate); z = sigmoid(gate); h_t = (1 - z_t) h_{t-1} + z_t g(hidden_t); to_out.weight
  [D, Di] (no bias) only when expansion != 1. Without a state h_0 = 0. next_state is the last
  hidden BEFORE to_out, shape [B, 1, Di].
* minLSTM: to_hidden_and_f_i_gate.weight [3*Di, D], chunks (hidden, f, i); f = sigmoid, i = sigmoid,
  f' = f/(f+i), i' = i/(f+i), h_t = f'_t h_{t-1} + i'_t g(hidden_t). A given h0 enters the
  log-space scan as log(h0) (NOT log g(h0), minGRU-pytorch's minLSTM bug).
* Per-layer gradient checks use the scalar L = sum(out * r) for a stored random r of out's shape,
  so that the upstream gradient is not all ones.
* RMSNorm: y = x / sqrt(mean(x^2, last axis) + eps) * weight, eps = 1e-6 (PyTorch nn.RMSNorm's
  formula; NOT minGRU-pytorch's F.normalize(x) * sqrt(dim) * (gamma + 1)). LayerNorm: biased
  variance, eps = 1e-5. GELU "exact" = 0.5 x (1 + erf(x / sqrt 2)); "tanh" = PyTorch's
  approximate='tanh'. softplus = log(1 + e^x) (PyTorch returns x above 20; same in float32).
* Cross-entropy: mean over all positions of -log_softmax(logits)[target].
* Safetensors files: header JSON padded with spaces to a multiple of 8; tensors laid out like the
  official library does (by element size, largest first, then by name), contiguous from offset 0;
  "__metadata__" holds "fixture", "generator" and, where useful, "config" (a JSON string).

Fixtures
--------
mingru.safetensors         minGRU layer, D=8, expansion 1 (no to_out), B=2, T=7.
mingru_expand.safetensors  minGRU layer, D=8, expansion 2 (Di=16, to_out present).
minlstm.safetensors        minLSTM layer, D=8, expansion 1.
minlstm_expand.safetensors minLSTM layer, D=8, expansion 2.
    Tensors: <param>.weight..., x [B,T,D], h0 [B,1,Di] (positive), out_no_state [B,T,D] (h_0 = 0),
    out_with_state [B,T,D], next_state_with_state [B,1,Di], next_state_no_state [B,1,Di],
    r [B,T,D], grad.x, grad.h0, grad.<param> (gradients of L = sum(out_with_state * r)).
minlm.safetensors          tiny minLM LM (vocab 11, dim 8, depth 2, minGRU expansion 1.5, FF mult 4,
    causal depthwise conv k=3 + residual, RMSNorm eps 1e-6, untied logits). Per layer l:
    x = x + conv(x); x = x + rnn(norm1(x)); x = x + ff(norm2(x)); then norm, to_logits.
    Tensors: the parameters (PyTorch module-tree names), tokens I32 [2,9], logits [2,9,11],
    loss [] and grad.<param> for every parameter.
nn_layers.safetensors      single layers: linear, layernorm, rmsnorm, activations (gelu, gelu_tanh,
    silu, softplus), log_softmax, cross_entropy (I64 targets), causal depthwise conv; inputs,
    outputs and gradients of sum(y * r).
rnn_torch.safetensors      nn.LSTM(5, 6) and nn.GRU(5, 6), batch_first, state dicts under lstm./gru.,
    x [2,7,5], initial states and outputs in PyTorch's layout ([num_layers, B, H] states).
export_torch.safetensors   Recur checkpoints (test/fixtures/export/<cell>/: config.json + model.safetensors of
    a 6-step `recur train` run, cells mingru, minlstm, lstm, gru, elman) loaded into PyTorch modules
    by tools/export_torch.py, which checks their logits against Recur's (needs `npm run build`):
    <cell>.tokens I32 [T], <cell>.logits [T, vocab] (PyTorch, float64 rounded to float32).
bf16_f16_i64.safetensors   dtype coverage: the same values as F32, F16, BF16, torch's round-trips
    back to F32, I64 / I32 ids, a 0-d scalar and an empty tensor.
"""

import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "test" / "fixtures"
GENERATOR = "tools/make_fixtures.py"

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
torch.set_default_dtype(torch.float32)
assert sys.byteorder == "little"

F64 = torch.float64


# --------------------------------------------------------------------------------------------
# safetensors writer / reader (independent of the `safetensors` package)
# --------------------------------------------------------------------------------------------

# safetensors dtype -> (torch dtype, numpy little-endian dtype used for the raw bytes)
ST_DTYPES = {
    "F64": (torch.float64, np.dtype("<f8")),
    "F32": (torch.float32, np.dtype("<f4")),
    "F16": (torch.float16, np.dtype("<f2")),
    "BF16": (torch.bfloat16, np.dtype("<u2")),  # raw bit pattern
    "I64": (torch.int64, np.dtype("<i8")),
    "I32": (torch.int32, np.dtype("<i4")),
}
TORCH_TO_ST = {v[0]: k for k, v in ST_DTYPES.items()}


def tensor_bytes(t):
    st = TORCH_TO_ST[t.dtype]
    t = t.detach().contiguous().cpu()
    if st == "BF16":
        arr = t.view(torch.int16).numpy().view(np.uint16)
    else:
        arr = t.numpy()
    return st, arr.astype(ST_DTYPES[st][1], copy=False).tobytes(order="C")


def write_safetensors(path, tensors, metadata):
    """tensors: dict name -> torch tensor. metadata: dict str -> str."""
    for k, v in metadata.items():
        assert isinstance(k, str) and isinstance(v, str)
    items = []
    for name, t in tensors.items():
        st, raw = tensor_bytes(t)
        items.append((name, st, list(t.shape), raw))
    # official layout: larger element size first, then by name
    items.sort(key=lambda it: (-ST_DTYPES[it[1]][1].itemsize, it[0]))
    header = {"__metadata__": dict(metadata)}
    offset = 0
    for name, st, shape, raw in items:
        header[name] = {"dtype": st, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for _, _, _, raw in items:
            f.write(raw)


def read_safetensors(path):
    """Minimal strict reader: returns ({name: (dtype, shape, numpy array)}, metadata)."""
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    assert 8 + n <= len(data)
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    body = data[8 + n :]
    spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in header.items())
    pos = 0
    for b, e, k in spans:
        assert b == pos, f"hole/overlap before {k}"
        pos = e
    assert pos == len(body), "trailing bytes after data"
    out = {}
    for name, info in header.items():
        st, shape = info["dtype"], info["shape"]
        b, e = info["data_offsets"]
        npdt = ST_DTYPES[st][1]
        numel = int(np.prod(shape)) if shape else 1
        assert e - b == numel * npdt.itemsize, f"{name}: size mismatch"
        arr = np.frombuffer(body[b:e], dtype=npdt).reshape(shape)
        out[name] = (st, shape, arr)
    return out, meta


def bf16_bits_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def verify_roundtrip(path, tensors, metadata):
    got, meta = read_safetensors(path)
    assert meta == metadata, "metadata mismatch"
    assert set(got) == set(tensors), f"names mismatch: {set(got) ^ set(tensors)}"
    for name, t in tensors.items():
        st, shape, arr = got[name]
        assert st == TORCH_TO_ST[t.dtype], f"{name}: dtype {st}"
        assert shape == list(t.shape), f"{name}: shape {shape} vs {list(t.shape)}"
        _, raw = tensor_bytes(t)
        assert arr.tobytes() == raw, f"{name}: bytes differ"
        if st == "BF16":
            vals = bf16_bits_to_f32(arr)
            ref = t.float().numpy()
        else:
            vals = arr
            ref = t.detach().numpy()
        assert np.array_equal(vals, ref, equal_nan=True), f"{name}: values differ"


def save(name, tensors, config=None, extra_meta=None):
    meta = {"fixture": name, "generator": GENERATOR}
    if config is not None:
        meta["config"] = json.dumps(config, sort_keys=True)
    if extra_meta:
        meta.update(extra_meta)
    tensors = {k: (v.detach().float() if v.is_floating_point() and v.dtype == F64 else v.detach())
               for k, v in tensors.items()}
    path = OUT_DIR / f"{name}.safetensors"
    write_safetensors(path, tensors, meta)
    verify_roundtrip(path, tensors, meta)
    size = path.stat().st_size
    assert size < 200_000, f"{name}: {size} bytes"
    print(f"{path.relative_to(ROOT)}: {size} bytes, {len(tensors)} tensors")
    return size


def close(a, b, tol, what):
    a, b = a.detach().double(), b.detach().double()
    assert a.shape == b.shape, f"{what}: shape {tuple(a.shape)} vs {tuple(b.shape)}"
    err = (a - b).abs().max().item() if a.numel() else 0.0
    scale = max(1.0, b.abs().max().item() if b.numel() else 0.0)
    assert err <= tol * scale, f"{what}: max abs err {err:.3e} > {tol:.1e} * {scale:.3g}"


# --------------------------------------------------------------------------------------------
# hand-written reference pieces (sequential loops, explicit formulas)
# --------------------------------------------------------------------------------------------

def sigmoid_ref(x):
    return 1.0 / (1.0 + torch.exp(-x))


def g_ref(x):
    return torch.where(x >= 0, x + 0.5, sigmoid_ref(x))


def linear_ref(x, w, b=None):
    y = torch.einsum("...i,oi->...o", x, w)
    return y if b is None else y + b


def mingru_loop(params, x, h0, expand):
    """Sequential minGRU. params: dict with to_hidden_and_gate.weight (+ to_out.weight)."""
    hidden, gate = linear_ref(x, params["to_hidden_and_gate.weight"]).chunk(2, dim=-1)
    z = sigmoid_ref(gate)
    ht = g_ref(hidden)
    B, T, Di = hidden.shape
    h = torch.zeros(B, Di, dtype=x.dtype) if h0 is None else h0[:, 0]
    hs = []
    for t in range(T):
        h = (1 - z[:, t]) * h + z[:, t] * ht[:, t]
        hs.append(h)
    H = torch.stack(hs, dim=1)
    nxt = H[:, -1:]
    out = linear_ref(H, params["to_out.weight"]) if expand else H
    return out, nxt


def minlstm_loop(params, x, h0, expand):
    hidden, kf, ki = linear_ref(x, params["to_hidden_and_f_i_gate.weight"]).chunk(3, dim=-1)
    f, i = sigmoid_ref(kf), sigmoid_ref(ki)
    fp, ip = f / (f + i), i / (f + i)
    ht = g_ref(hidden)
    B, T, Di = hidden.shape
    h = torch.zeros(B, Di, dtype=x.dtype) if h0 is None else h0[:, 0]
    hs = []
    for t in range(T):
        h = fp[:, t] * h + ip[:, t] * ht[:, t]
        hs.append(h)
    H = torch.stack(hs, dim=1)
    nxt = H[:, -1:]
    out = linear_ref(H, params["to_out.weight"]) if expand else H
    return out, nxt


def rmsnorm_ref(x, w, eps):
    return x / torch.sqrt((x * x).mean(dim=-1, keepdim=True) + eps) * w


def layernorm_ref(x, w, b, eps):
    mu = x.mean(dim=-1, keepdim=True)
    var = ((x - mu) ** 2).mean(dim=-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def gelu_ref(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2.0)))


def gelu_tanh_ref(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def causal_conv_ref(x, w, b):
    """x [B,T,C], w [C,1,K], b [C] -> [B,T,C], explicit loop over taps."""
    B, T, C = x.shape
    K = w.shape[-1]
    y = b.expand(B, T, C).clone() if b is not None else torch.zeros_like(x)
    for t in range(T):
        for j in range(K):
            s = t - (K - 1) + j
            if s >= 0:
                y[:, t] = y[:, t] + w[:, 0, j] * x[:, s]
    return y


def log_softmax_ref(x):
    m = x.max(dim=-1, keepdim=True).values
    return x - m - torch.log(torch.exp(x - m).sum(dim=-1, keepdim=True))


def cross_entropy_ref(logits, targets):
    lp = log_softmax_ref(logits)
    return -lp.gather(-1, targets.unsqueeze(-1)).squeeze(-1).mean()


# --------------------------------------------------------------------------------------------
# PyTorch-op / log-space parallel versions (the second computation)
# --------------------------------------------------------------------------------------------

def log_g(x):
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def heinsen_scan(log_a, log_b):
    a_star = log_a.cumsum(dim=1)
    return torch.exp(a_star + (log_b - a_star).logcumsumexp(dim=1))


def mingru_parallel(params, x, h0, expand):
    T = x.shape[1]
    hidden, gate = F.linear(x, params["to_hidden_and_gate.weight"]).chunk(2, dim=-1)
    log_a = -F.softplus(gate)
    log_b = -F.softplus(-gate) + log_g(hidden)
    if h0 is not None:
        log_b = torch.cat([h0.log(), log_b], dim=1)
        log_a = F.pad(log_a, (0, 0, 1, 0))
    H = heinsen_scan(log_a, log_b)[:, -T:]
    nxt = H[:, -1:]
    out = F.linear(H, params["to_out.weight"]) if expand else H
    return out, nxt


def minlstm_parallel(params, x, h0, expand):
    T = x.shape[1]
    hidden, kf, ki = F.linear(x, params["to_hidden_and_f_i_gate.weight"]).chunk(3, dim=-1)
    d = F.softplus(-kf) - F.softplus(-ki)
    log_f = -F.softplus(d)
    log_i = -F.softplus(-d)
    log_b = log_i + log_g(hidden)
    if h0 is not None:
        log_b = torch.cat([h0.log(), log_b], dim=1)  # log(h0), not log g(h0)
        log_f = F.pad(log_f, (0, 0, 1, 0))
    H = heinsen_scan(log_f, log_b)[:, -T:]
    nxt = H[:, -1:]
    out = F.linear(H, params["to_out.weight"]) if expand else H
    return out, nxt


def causal_conv_torch(x, w, b):
    K = w.shape[-1]
    xt = F.pad(x.transpose(1, 2), (K - 1, 0))
    return F.conv1d(xt, w, b, groups=x.shape[-1]).transpose(1, 2)


def rmsnorm_torch(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def grads_of(loss, leaves):
    gs = torch.autograd.grad(loss, list(leaves.values()))
    return dict(zip(leaves.keys(), gs))


def leaves64(d):
    return {k: v.detach().to(F64).requires_grad_(True) for k, v in d.items()}


def leaves32(d):
    return {k: v.detach().float().requires_grad_(True) for k, v in d.items()}


# --------------------------------------------------------------------------------------------
# fixtures 1-3: minGRU / minLSTM layers
# --------------------------------------------------------------------------------------------

def make_min_rnn(name, kind, expansion, seed):
    torch.manual_seed(seed)
    B, T, D = 2, 7, 8
    Di = int(D * expansion)
    expand = expansion != 1
    wname = "to_hidden_and_gate.weight" if kind == "gru" else "to_hidden_and_f_i_gate.weight"
    nchunks = 2 if kind == "gru" else 3
    params = {wname: torch.randn(nchunks * Di, D) * (1.5 / math.sqrt(D))}
    if expand:
        params["to_out.weight"] = torch.randn(D, Di) / math.sqrt(Di)
    x = torch.randn(B, T, D)
    h0 = torch.rand(B, 1, Di) * 1.5 + 0.05  # positive
    r = torch.randn(B, T, D)
    loop = mingru_loop if kind == "gru" else minlstm_loop
    par = mingru_parallel if kind == "gru" else minlstm_parallel

    # both g branches must be exercised
    pre = F.linear(x, params[wname])[..., :Di]
    assert (pre >= 0).any() and (pre < 0).any()

    results = {}
    for label, fn, conv in (("loop64", loop, leaves64), ("par64", par, leaves64),
                            ("par32", par, leaves32), ("loop32", loop, leaves32)):
        lv = conv({**params, "x": x, "h0": h0})
        p = {k: lv[k] for k in params}
        out0, nxt0 = fn(p, lv["x"], None, expand)
        out1, nxt1 = fn(p, lv["x"], lv["h0"], expand)
        L = (out1 * r.to(out1.dtype)).sum()
        results[label] = dict(out0=out0, nxt0=nxt0, out1=out1, nxt1=nxt1, grads=grads_of(L, lv))

    ref = results["loop64"]
    for label, tol in (("par64", 1e-10), ("par32", 1e-5), ("loop32", 1e-5)):
        o = results[label]
        for k in ("out0", "nxt0", "out1", "nxt1"):
            close(o[k], ref[k], tol, f"{name} {label} {k}")
        for k in ref["grads"]:
            close(o["grads"][k], ref["grads"][k], tol, f"{name} {label} grad {k}")

    tensors = dict(params)
    tensors.update(x=x, h0=h0, out_no_state=ref["out0"], next_state_no_state=ref["nxt0"],
                   out_with_state=ref["out1"], next_state_with_state=ref["nxt1"], r=r)
    for k, gv in ref["grads"].items():
        tensors[f"grad.{k}"] = gv
    config = {"cell": "minGRU" if kind == "gru" else "minLSTM", "dim": D, "expansion": expansion,
              "dimInner": Di, "batch": B, "seqLen": T, "toOut": expand,
              "gradLoss": "sum(out_with_state * r)"}
    return save(name, tensors, config)


# --------------------------------------------------------------------------------------------
# fixture 4: minLM
# --------------------------------------------------------------------------------------------

MINLM = dict(vocab=11, dim=8, depth=2, expansion=1.5, ffMult=4, convKernel=3, normEps=1e-6)


def minlm_param_shapes(cfg):
    V, D, K = cfg["vocab"], cfg["dim"], cfg["convKernel"]
    Di, Dff = int(D * cfg["expansion"]), int(D * cfg["ffMult"])
    shapes = {"token_emb.weight": (V, D)}
    for l in range(cfg["depth"]):
        p = f"layers.{l}."
        shapes.update({
            p + "conv.weight": (D, 1, K), p + "conv.bias": (D,),
            p + "norm1.weight": (D,),
            p + "rnn.to_hidden_and_gate.weight": (2 * Di, D),
            p + "rnn.to_out.weight": (D, Di),
            p + "norm2.weight": (D,),
            p + "ff.0.weight": (Dff, D), p + "ff.0.bias": (Dff,),
            p + "ff.2.weight": (D, Dff), p + "ff.2.bias": (D,),
        })
    shapes["norm.weight"] = (D,)
    shapes["to_logits.weight"] = (V, D)
    return shapes


def minlm_init(cfg):
    out = {}
    for k, shp in minlm_param_shapes(cfg).items():
        if k == "token_emb.weight":
            v = torch.randn(shp)
        elif k.endswith("norm1.weight") or k.endswith("norm2.weight") or k == "norm.weight":
            v = 1 + 0.2 * torch.randn(shp)
        elif k.endswith("conv.weight"):
            v = 0.4 * torch.randn(shp)
        elif k.endswith(".bias"):
            v = 0.1 * torch.randn(shp)
        elif k.endswith("to_hidden_and_gate.weight"):
            v = torch.randn(shp) * (1.5 / math.sqrt(shp[1]))
        else:
            v = torch.randn(shp) / math.sqrt(shp[1])
        out[k] = v
    return out


def minlm_forward(cfg, P, tokens, independent):
    eps = cfg["normEps"]
    rms = rmsnorm_ref if independent else rmsnorm_torch
    conv = causal_conv_ref if independent else causal_conv_torch
    gelu = gelu_ref if independent else F.gelu
    lin = linear_ref if independent else F.linear
    rnn = mingru_loop if independent else mingru_parallel
    x = P["token_emb.weight"][tokens.long()]
    for l in range(cfg["depth"]):
        p = f"layers.{l}."
        x = conv(x, P[p + "conv.weight"], P[p + "conv.bias"]) + x
        rp = {"to_hidden_and_gate.weight": P[p + "rnn.to_hidden_and_gate.weight"],
              "to_out.weight": P[p + "rnn.to_out.weight"]}
        h, _ = rnn(rp, rms(x, P[p + "norm1.weight"], eps), None, True)
        x = h + x
        y = rms(x, P[p + "norm2.weight"], eps)
        y = lin(gelu(lin(y, P[p + "ff.0.weight"], P[p + "ff.0.bias"])),
                P[p + "ff.2.weight"], P[p + "ff.2.bias"])
        x = y + x
    x = rms(x, P["norm.weight"], eps)
    logits = lin(x, P["to_logits.weight"])
    V = cfg["vocab"]
    lg, tg = logits[:, :-1].reshape(-1, V), tokens[:, 1:].reshape(-1).long()
    loss = cross_entropy_ref(lg, tg) if independent else F.cross_entropy(lg, tg)
    return logits, loss


def make_minlm(seed):
    torch.manual_seed(seed)
    cfg = dict(MINLM)
    params = minlm_init(cfg)
    tokens = torch.randint(0, cfg["vocab"], (2, 9), dtype=torch.int32)
    res = {}
    for label, indep, conv in (("ref64", True, leaves64), ("torch64", False, leaves64),
                               ("torch32", False, leaves32)):
        P = conv(params)
        logits, loss = minlm_forward(cfg, P, tokens, indep)
        res[label] = (logits, loss, grads_of(loss, P))
    ref = res["ref64"]
    for label, tol in (("torch64", 1e-10), ("torch32", 1e-5)):
        logits, loss, gr = res[label]
        close(logits, ref[0], tol, f"minlm {label} logits")
        close(loss, ref[1], tol, f"minlm {label} loss")
        for k in gr:
            close(gr[k], ref[2][k], tol, f"minlm {label} grad {k}")
    tensors = dict(params)
    tensors.update(tokens=tokens, logits=ref[0], loss=ref[1])
    for k, gv in ref[2].items():
        tensors[f"grad.{k}"] = gv
    full_cfg = dict(cfg, dimInner=int(cfg["dim"] * cfg["expansion"]),
                    ffInner=int(cfg["dim"] * cfg["ffMult"]), rnn="minGRU", convBias=True,
                    tiedEmbedding=False, gelu="erf", ffBias=True, logitsBias=False,
                    norm="rmsnorm: x / sqrt(mean(x^2) + eps) * weight",
                    block="x += conv(x); x += rnn(norm1(x)); x += ff(norm2(x))",
                    loss="mean cross-entropy of logits[:, :-1] vs tokens[:, 1:]")
    return save("minlm", tensors, full_cfg)


# --------------------------------------------------------------------------------------------
# fixture 5: single nn layers
# --------------------------------------------------------------------------------------------

def check_layer(prefix, inputs, ref_fn, torch_fn, r):
    """Compute y and grads of sum(y*r) wrt all inputs in float64 (independent + torch), and the
    torch version in float32; assert agreement; return stored tensors."""
    out = {}
    runs = {}
    for label, fn, conv in (("ref", ref_fn, leaves64), ("t64", torch_fn, leaves64),
                            ("t32", torch_fn, leaves32)):
        lv = conv(inputs)
        y = fn(**lv)
        L = y.sum() if r is None else (y * r.to(y.dtype)).sum()
        runs[label] = (y, grads_of(L, lv))
    y_ref, g_ref = runs["ref"]
    for label, tol in (("t64", 1e-10), ("t32", 1e-5)):
        y, gr = runs[label]
        close(y, y_ref, tol, f"{prefix} {label} y")
        for k in gr:
            close(gr[k], g_ref[k], tol, f"{prefix} {label} grad {k}")
    return y_ref, g_ref


def make_nn_layers(seed):
    torch.manual_seed(seed)
    T = {}

    # Linear(5 -> 7)
    w, b, x = torch.randn(7, 5) / math.sqrt(5), 0.1 * torch.randn(7), torch.randn(3, 5)
    r = torch.randn(3, 7)
    y, gr = check_layer("linear", {"x": x, "weight": w, "bias": b},
                        lambda x, weight, bias: linear_ref(x, weight, bias),
                        lambda x, weight, bias: F.linear(x, weight, bias), r)
    T.update({"linear.weight": w, "linear.bias": b, "linear.x": x, "linear.y": y, "linear.r": r,
              "linear.grad_x": gr["x"], "linear.grad_weight": gr["weight"],
              "linear.grad_bias": gr["bias"]})

    # LayerNorm(6), eps 1e-5
    w, b, x = 1 + 0.3 * torch.randn(6), 0.2 * torch.randn(6), 2 * torch.randn(4, 6) + 0.5
    r = torch.randn(4, 6)
    y, gr = check_layer("layernorm", {"x": x, "weight": w, "bias": b},
                        lambda x, weight, bias: layernorm_ref(x, weight, bias, 1e-5),
                        lambda x, weight, bias: F.layer_norm(x, (6,), weight, bias, 1e-5), r)
    T.update({"layernorm.weight": w, "layernorm.bias": b, "layernorm.x": x, "layernorm.y": y,
              "layernorm.r": r, "layernorm.grad_x": gr["x"], "layernorm.grad_weight": gr["weight"],
              "layernorm.grad_bias": gr["bias"]})

    # RMSNorm(6), eps 1e-6
    w, x, r = 1 + 0.3 * torch.randn(6), 2 * torch.randn(4, 6) + 0.5, torch.randn(4, 6)
    y, gr = check_layer("rmsnorm", {"x": x, "weight": w},
                        lambda x, weight: rmsnorm_ref(x, weight, 1e-6),
                        lambda x, weight: rmsnorm_torch(x, weight, 1e-6), r)
    T.update({"rmsnorm.weight": w, "rmsnorm.x": x, "rmsnorm.y": y, "rmsnorm.r": r,
              "rmsnorm.grad_x": gr["x"], "rmsnorm.grad_weight": gr["weight"]})

    # elementwise activations on one vector
    xa = torch.cat([torch.tensor([-25.0, -6, -3, -1.5, -1, -0.5, -0.1, 0, 0.1, 0.5, 1, 1.5, 3,
                                  6, 10, 25]), 2 * torch.randn(8)])
    ra = torch.randn(xa.shape)
    T["act.x"], T["act.r"] = xa, ra
    acts = {
        "gelu": (gelu_ref, F.gelu),
        "gelu_tanh": (gelu_tanh_ref, lambda x: F.gelu(x, approximate="tanh")),
        "silu": (lambda x: x * sigmoid_ref(x), F.silu),
        "softplus": (lambda x: torch.log1p(torch.exp(x)), F.softplus),
    }
    for name, (fr, ft) in acts.items():
        y, gr = check_layer(name, {"x": xa}, lambda x, fr=fr: fr(x), lambda x, ft=ft: ft(x), ra)
        T[f"{name}.y"], T[f"{name}.grad_x"] = y, gr["x"]

    # log_softmax over the last axis of [3, 10]
    x, r = 3 * torch.randn(3, 10), torch.randn(3, 10)
    y, gr = check_layer("log_softmax", {"x": x}, lambda x: log_softmax_ref(x),
                        lambda x: F.log_softmax(x, dim=-1), r)
    T.update({"log_softmax.x": x, "log_softmax.y": y, "log_softmax.r": r,
              "log_softmax.grad_x": gr["x"]})

    # cross_entropy (mean) with I64 targets
    x = 3 * torch.randn(3, 10)
    tg = torch.randint(0, 10, (3,), dtype=torch.int64)
    y, gr = check_layer("cross_entropy", {"x": x}, lambda x: cross_entropy_ref(x, tg),
                        lambda x: F.cross_entropy(x, tg), None)
    T.update({"cross_entropy.x": x, "cross_entropy.targets": tg, "cross_entropy.loss": y,
              "cross_entropy.grad_x": gr["x"]})

    # causal depthwise conv, channels 4, kernel 3, x [B=2, T=9, C=4] (channels last)
    w, b = 0.5 * torch.randn(4, 1, 3), 0.1 * torch.randn(4)
    x, r = torch.randn(2, 9, 4), torch.randn(2, 9, 4)
    y, gr = check_layer("conv", {"x": x, "weight": w, "bias": b},
                        lambda x, weight, bias: causal_conv_ref(x, weight, bias),
                        lambda x, weight, bias: causal_conv_torch(x, weight, bias), r)
    T.update({"conv.weight": w, "conv.bias": b, "conv.x": x, "conv.y": y, "conv.r": r,
              "conv.grad_x": gr["x"], "conv.grad_weight": gr["weight"],
              "conv.grad_bias": gr["bias"]})

    config = {"layernormEps": 1e-5, "rmsnormEps": 1e-6, "gradLoss": "sum(y * r)",
              "crossEntropy": "mean; grad of the loss itself",
              "conv": "depthwise, causal (left pad K-1), x/y [B,T,C], weight [C,1,K]",
              "linear": "y = x W^T + b, W [out, in]",
              "activations": "act.x / act.r shared; gelu = erf form, gelu_tanh = approximate"}
    return save("nn_layers", T, config)


# --------------------------------------------------------------------------------------------
# fixture 6: nn.LSTM / nn.GRU
# --------------------------------------------------------------------------------------------

def lstm_loop(sd, x, h0, c0):
    H = sd["weight_hh_l0"].shape[1]
    h, c = h0[0], c0[0]
    outs = []
    for t in range(x.shape[1]):
        gates = linear_ref(x[:, t], sd["weight_ih_l0"], sd["bias_ih_l0"]) + \
            linear_ref(h, sd["weight_hh_l0"], sd["bias_hh_l0"])
        i, f, gg, o = gates.split(H, dim=-1)
        c = sigmoid_ref(f) * c + sigmoid_ref(i) * torch.tanh(gg)
        h = sigmoid_ref(o) * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs, 1), h[None], c[None]


def gru_loop(sd, x, h0):
    H = sd["weight_hh_l0"].shape[1]
    h = h0[0]
    outs = []
    for t in range(x.shape[1]):
        xr, xz, xn = linear_ref(x[:, t], sd["weight_ih_l0"], sd["bias_ih_l0"]).split(H, dim=-1)
        hr, hz, hn = linear_ref(h, sd["weight_hh_l0"], sd["bias_hh_l0"]).split(H, dim=-1)
        r = sigmoid_ref(xr + hr)
        z = sigmoid_ref(xz + hz)
        n = torch.tanh(xn + r * hn)
        h = (1 - z) * n + z * h
        outs.append(h)
    return torch.stack(outs, 1), h[None]


def make_rnn_torch(seed):
    torch.manual_seed(seed)
    lstm = torch.nn.LSTM(5, 6, num_layers=1, batch_first=True)
    gru = torch.nn.GRU(5, 6, num_layers=1, batch_first=True)
    x = torch.randn(2, 7, 5)
    lh0, lc0, gh0 = torch.randn(1, 2, 6), torch.randn(1, 2, 6), torch.randn(1, 2, 6)
    lsd = {k: v.detach().clone() for k, v in lstm.state_dict().items()}
    gsd = {k: v.detach().clone() for k, v in gru.state_dict().items()}
    assert sorted(lsd) == sorted(gsd) == ["bias_hh_l0", "bias_ih_l0", "weight_hh_l0",
                                          "weight_ih_l0"]
    with torch.no_grad():
        lo32, (lh32, lc32) = lstm(x, (lh0, lc0))
        go32, gh32 = gru(x, gh0)
        lstm64, gru64 = lstm.double(), gru.double()
        lo, (lh, lc) = lstm64(x.double(), (lh0.double(), lc0.double()))
        go, gh = gru64(x.double(), gh0.double())
        d = lambda sd: {k: v.double() for k, v in sd.items()}
        mlo, mlh, mlc = lstm_loop(d(lsd), x.double(), lh0.double(), lc0.double())
        mgo, mgh = gru_loop(d(gsd), x.double(), gh0.double())
    for a, b, what in ((mlo, lo, "lstm out"), (mlh, lh, "lstm hn"), (mlc, lc, "lstm cn"),
                       (mgo, go, "gru out"), (mgh, gh, "gru hn")):
        close(a, b, 1e-10, f"own loop vs nn module: {what}")
    for a, b, what in ((lo32, lo, "lstm out"), (lh32, lh, "lstm hn"), (lc32, lc, "lstm cn"),
                       (go32, go, "gru out"), (gh32, gh, "gru hn")):
        close(a, b, 1e-5, f"float32 vs float64 module: {what}")
    T = {"x": x}
    for k, v in lsd.items():
        T["lstm." + k] = v
    for k, v in gsd.items():
        T["gru." + k] = v
    T.update({"lstm.h0": lh0, "lstm.c0": lc0, "gru.h0": gh0, "lstm.out": lo, "lstm.hn": lh,
              "lstm.cn": lc, "gru.out": go, "gru.hn": gh})
    config = {"inputSize": 5, "hiddenSize": 6, "numLayers": 1, "batchFirst": True, "batch": 2,
              "seqLen": 7, "lstmGates": "i,f,g,o", "gruGates": "r,z,n (reset after)",
              "stateLayout": "[numLayers, B, H]"}
    return save("rnn_torch", T, config)


# --------------------------------------------------------------------------------------------
# fixture 7: dtype coverage
# --------------------------------------------------------------------------------------------

def make_dtypes():
    vals = [-2.5, -1.0, 0.0, 0.5, 1.0, 3.140625, 65504.0, 1e-3, 1.0 / 3.0, 1e-5, 7e4, -0.0]
    a = torch.tensor(vals, dtype=torch.float32)
    a16 = a.to(torch.float16)
    ab16 = a.to(torch.bfloat16)
    ids = [0, 1, -5, 2 ** 31 - 1]
    wide = [-(2 ** 40), 2 ** 40 + 3, 2 ** 53 - 1, -(2 ** 53 - 1)]
    T = {
        "a_f32": a,
        "a_f16": a16,
        "a_bf16": ab16,
        "a_f16_as_f32": a16.to(torch.float32),
        "a_bf16_as_f32": ab16.to(torch.float32),
        "ids_i64": torch.tensor(ids, dtype=torch.int64),
        "ids_i32": torch.tensor(ids, dtype=torch.int32),
        "ids_i64_wide": torch.tensor(wide, dtype=torch.int64),
        "scalar_f32": torch.tensor(-7.75, dtype=torch.float32),
        "empty_f32": torch.zeros(0, 3, dtype=torch.float32),
        "mat_bf16": torch.arange(6, dtype=torch.float32).reshape(2, 3).to(torch.bfloat16) * 0.5,
    }
    # sanity: known conversions
    f16 = T["a_f16_as_f32"].tolist()
    bf = T["a_bf16_as_f32"].tolist()
    assert f16[6] == 65504.0 and math.isinf(f16[10]) and 0 < f16[9] < 6.2e-5  # max, overflow, subnormal
    assert bf[6] == 65536.0 and bf[5] == 3.140625
    assert T["scalar_f32"].shape == ()
    config = {"values": vals,
              "notes": "a_f16[10] = +inf (70000 overflows f16); a_f16[9] is an f16 subnormal; "
                       "a_f16[11] / a_bf16[11] are -0.0; bf16 rounds 65504 to 65536"}
    return save("bf16_f16_i64", T, config)


# --------------------------------------------------------------------------------------------
# fixture 8: Recur checkpoints exported to PyTorch (tools/export_torch.py)
# --------------------------------------------------------------------------------------------

EXPORT_CELLS = ("mingru", "minlstm", "lstm", "gru", "elman")


def make_export_torch():
    """Loads each Recur checkpoint of test/fixtures/export/ into its PyTorch module, checks the logits
    agree with Recur's (export_torch.check runs node dist/tools/recur-logits.js), stores PyTorch's."""
    import export_torch  # after the helpers above exist: it imports them from this file

    T = {}
    for cell in EXPORT_CELLS:
        path = OUT_DIR / "export" / cell
        config = json.loads((path / "config.json").read_text())
        ids = export_torch.encode(config, "it was the best of times, it was the worst")
        logits, _, _ = export_torch.check(path, ids)
        T[f"{cell}.tokens"] = torch.tensor(ids, dtype=torch.int32)
        T[f"{cell}.logits"] = logits[0]
    return save("export_torch", T, {"cells": list(EXPORT_CELLS), "tolerance": export_torch.TOLERANCE})


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    total = 0
    total += make_min_rnn("mingru", "gru", 1, seed=1)
    total += make_min_rnn("mingru_expand", "gru", 2, seed=2)
    total += make_min_rnn("minlstm", "lstm", 1, seed=3)
    total += make_min_rnn("minlstm_expand", "lstm", 2, seed=4)
    total += make_minlm(seed=5)
    total += make_nn_layers(seed=6)
    total += make_rnn_torch(seed=7)
    total += make_dtypes()
    total += make_export_torch()
    assert total < 2_000_000
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
