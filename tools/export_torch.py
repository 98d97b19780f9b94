#!/usr/bin/python3
"""Export a Recur language-model checkpoint to PyTorch, and check that PyTorch computes the same logits.

    /usr/bin/python3 tools/export_torch.py CHECKPOINT [--text "ROMEO:"] [--save model.pt]

CHECKPOINT is a run directory of `recur train` (its latest checkpoint) or a ckpt-* directory. The
script builds the matching PyTorch module (`RecurLM` below: minGRU-pytorch's minLM block layout,
with nn.LSTM / nn.GRU / nn.RNN for the classic cells), loads model.safetensors into it with
`load_state_dict(strict=True)` (the names are the same), runs it on the token ids of --text, and
compares the logits with those Recur computes for the same ids (`node dist/tools/recur-logits.js`,
so `npm run build` first). It exits with status 1 when they differ by more than 1e-4 (relative to
max(1, |logit|)). `--save` writes the PyTorch state dict with torch.save; `RecurLM(config)` from this
file rebuilds the module for it.

Supported: RecurrentLM with the cells mingru, minlstm, lstm, gru, elman; rms or layer norm; the
causal conv; additive or multiplicative residual; tied or untied embeddings. tools/make_fixtures.py
runs this check on the checkpoints in test/fixtures/export/ and stores PyTorch's logits for
test/train/export-torch.test.ts.
"""

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from make_fixtures import g_ref, read_safetensors  # noqa: E402  (one safetensors reader, one g(x))

TOLERANCE = 1e-4
CLASSIC_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "elman": nn.RNN}


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x^2) + eps) * weight (torch 1.13 has no nn.RMSNorm)."""

    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + self.eps) * self.weight


class MinRNN(nn.Module):
    """minGRU / minLSTM as minGRU-pytorch names them, run as a sequential loop from a zero state."""

    def __init__(self, kind, dim, expansion):
        super().__init__()
        self.kind = kind
        inner = int(dim * expansion)
        parts = 2 if kind == "mingru" else 3
        proj = nn.Linear(dim, parts * inner, bias=False)
        if kind == "mingru":
            self.to_hidden_and_gate = proj
        else:
            self.to_hidden_and_f_i_gate = proj
        self.to_out = nn.Linear(inner, dim, bias=False) if expansion != 1 else nn.Identity()

    def forward(self, x):
        if self.kind == "mingru":
            hidden, gate = self.to_hidden_and_gate(x).chunk(2, dim=-1)
            keep, take = 1 - torch.sigmoid(gate), torch.sigmoid(gate)
        else:
            hidden, f, i = self.to_hidden_and_f_i_gate(x).chunk(3, dim=-1)
            f, i = torch.sigmoid(f), torch.sigmoid(i)
            keep, take = f / (f + i), i / (f + i)
        candidate = g_ref(hidden)
        h = torch.zeros_like(candidate[:, 0])
        outputs = []
        for t in range(x.shape[1]):
            h = keep[:, t] * h + take[:, t] * candidate[:, t]
            outputs.append(h)
        return self.to_out(torch.stack(outputs, dim=1))


class CausalConv(nn.Module):
    """Depthwise Conv1d over time, left-padded by k-1 zeros; [B, T, C] in and out."""

    def __init__(self, dim, kernel):
        super().__init__()
        self.kernel = kernel
        self.weight = nn.Parameter(torch.zeros(dim, 1, kernel))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        y = F.conv1d(F.pad(x.transpose(1, 2), (self.kernel - 1, 0)), self.weight, self.bias, groups=x.shape[-1])
        return y.transpose(1, 2)


class Block(nn.Module):
    """[x += conv(x)]; x = x + rnn(norm1(x)) (or x * …); x = x + ff(norm2(x))."""

    def __init__(self, c):
        super().__init__()
        dim = c["dim"]
        norm = (lambda: RMSNorm(dim, c["normEps"])) if c["norm"] == "rms" else (lambda: nn.LayerNorm(dim, eps=c["normEps"]))
        self.residual = c["residual"]
        self.conv = CausalConv(dim, c["convKernel"]) if c["convKernel"] > 0 else None
        self.norm1 = norm()
        cell = c["cell"]
        # nn.LSTM / nn.GRU / nn.RNN(tanh), batch first, hidden size = dim: torch's own state-dict names.
        self.rnn = MinRNN(cell, dim, c["expansion"]) if cell in ("mingru", "minlstm") else CLASSIC_CELLS[cell](dim, dim, batch_first=True)
        self.norm2 = norm()
        hidden = int(dim * c["ffMult"])
        self.ff = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x):
        if self.conv is not None:
            x = x + self.conv(x)
        r = self.rnn(self.norm1(x))
        r = r[0] if isinstance(r, tuple) else r  # the classic cells return (output, state)
        x = x * r if self.residual == "mul" else x + r
        return x + self.ff(self.norm2(x))


class RecurLM(nn.Module):
    """Recur's RecurrentLM in PyTorch, built from a checkpoint's config.json "model.config"."""

    def __init__(self, c):
        super().__init__()
        cell = c["cell"]
        if cell not in ("mingru", "minlstm", *CLASSIC_CELLS):
            raise SystemExit(f"export_torch: cell '{cell}' has no PyTorch counterpart here (supported: mingru, minlstm, lstm, gru, elman)")
        self.tied = c["tieEmbeddings"]
        self.token_emb = nn.Embedding(c["vocabSize"], c["dim"])
        self.layers = nn.ModuleList(Block(c) for _ in range(c["depth"]))
        self.norm = RMSNorm(c["dim"], c["normEps"]) if c["norm"] == "rms" else nn.LayerNorm(c["dim"], eps=c["normEps"])
        self.to_logits = None if self.tied else nn.Linear(c["dim"], c["vocabSize"], bias=False)

    def forward(self, tokens):
        x = self.token_emb(tokens)
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x)
        return x @ self.token_emb.weight.T if self.tied else self.to_logits(x)


def checkpoint_dir(path):
    """The checkpoint a path names: a ckpt-* directory, or the current one of a run directory."""
    p = Path(path)
    pointer = p / "latest.json"
    if pointer.exists():
        return p / json.loads(pointer.read_text())["checkpoint"]
    if not (p / "config.json").exists():
        raise SystemExit(f"export_torch: '{path}' is neither a run directory nor a checkpoint (no latest.json, no config.json)")
    return p


def load(path):
    """(RecurLM in float64 with the checkpoint's weights, config.json, the checkpoint directory)."""
    d = checkpoint_dir(path)
    config = json.loads((d / "config.json").read_text())
    if config["model"]["kind"] != "recurrent-lm":
        raise SystemExit(f"export_torch: model kind '{config['model']['kind']}' is not exported (only recurrent-lm)")
    tensors, _ = read_safetensors(d / "model.safetensors")
    weights = {name: torch.from_numpy(arr.copy()).double() for name, (st, _, arr) in tensors.items()}
    model = RecurLM(config["model"]["config"]).double()
    model.load_state_dict(weights, strict=True)  # Recur's names are PyTorch's
    return model.eval(), config, d


def encode(config, text):
    chars = config["tokenizer"]["chars"]
    index = {ch: i for i, ch in enumerate(chars)}
    missing = sorted({ch for ch in text if ch not in index})
    if missing:
        raise SystemExit(f"export_torch: --text has characters the model never saw: {missing}")
    return [index[ch] for ch in text]


def recur_logits(ckpt_dir, ids):
    script = ROOT / "dist" / "tools" / "recur-logits.js"
    if not script.exists():
        raise SystemExit("export_torch: dist/tools/recur-logits.js is missing; run 'npm run build' first")
    out = subprocess.run(["node", str(script), str(ckpt_dir), json.dumps(ids)], check=True, capture_output=True, text=True)
    r = json.loads(out.stdout)
    return torch.tensor(r["logits"], dtype=torch.float64).reshape(r["shape"])


def check(path, ids):
    """Torch logits [1, T, vocab] (float64) for ids; raises SystemExit when Recur's differ."""
    model, config, d = load(path)
    with torch.no_grad():
        ours = model(torch.tensor([ids]))
    theirs = recur_logits(d, ids)
    err = (ours - theirs).abs().max().item()
    scale = max(1.0, theirs.abs().max().item())
    if err > TOLERANCE * scale:
        raise SystemExit(f"export_torch: {d}: PyTorch and Recur logits differ by {err:.3e} (> {TOLERANCE:.0e} x {scale:.3g})")
    print(f"{d}: {config['model']['config']['cell']} LM, {len(ids)} tokens: PyTorch and Recur logits agree (max |difference| {err:.2e})")
    return ours, model, config


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--text", help="text whose logits are compared (default: the model's first characters, repeated)")
    ap.add_argument("--save", help="write the PyTorch state dict here (torch.save)")
    a = ap.parse_args()
    _, config, _ = load(a.checkpoint)
    text = a.text if a.text is not None else "".join(config["tokenizer"]["chars"])[:16] * 2
    _, model, _ = check(a.checkpoint, encode(config, text))
    if a.save:
        torch.save(model.float().state_dict(), a.save)
        print(f"saved {a.save}: load it into tools/export_torch.py's RecurLM({json.dumps(config['model']['config'])})")


if __name__ == "__main__":
    main()
