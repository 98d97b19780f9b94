#!/usr/bin/env python3
"""PyTorch references for `npm run bench:gpu`, measured on the same GPU in the same run.

One layer, forward + backward (input and weight gradients), B = 64, D = 512, T = 512 ... 4096,
median milliseconds over timed runs (CUDA events around each run, after warm-up):
  - minGRU / minLSTM written in the log-space form of minGRU-pytorch 0.2.1 (Heinsen scan:
    cumsum + logcumsumexp), projection Linear(D -> 2D / 3D, no bias), expansion 1 (no to_out);
  - cuDNN nn.GRU / nn.LSTM (one layer, hidden D, batch_first).
Precisions: f32 strict (TF32 off for matmul and cuDNN), tf32 (TF32 on), bf16 (module and input
in bfloat16, as `.to(torch.bfloat16)`).

Usage: python3 tools/torch_reference_bench.py --out results.json [--quick] [--runs N]
"""
import argparse
import json
import statistics
import sys

import torch
import torch.nn.functional as F
from torch import nn


def log_g(x):
    return torch.where(x >= 0, (F.relu(x) + 0.5).log(), -F.softplus(-x))


def heinsen_associative_scan_log(log_coeffs, log_values):
    a_star = log_coeffs.cumsum(dim=1)
    log_h0_plus_b_star = (log_values - a_star).logcumsumexp(dim=1)
    log_h = a_star + log_h0_plus_b_star
    return log_h.exp()


class MinGRU(nn.Module):
    """minGRU-pytorch's parallel (log-space) path, expansion 1."""

    def __init__(self, dim):
        super().__init__()
        self.to_hidden_and_gate = nn.Linear(dim, dim * 2, bias=False)

    def forward(self, x):
        hidden, gate = self.to_hidden_and_gate(x).chunk(2, dim=-1)
        log_coeffs = -F.softplus(gate)
        log_z = -F.softplus(-gate)
        log_tilde_h = log_g(hidden)
        return heinsen_associative_scan_log(log_coeffs, log_z + log_tilde_h)


class MinLSTM(nn.Module):
    """minGRU-pytorch's minLSTM parallel (log-space) path, expansion 1."""

    def __init__(self, dim):
        super().__init__()
        self.to_hidden_and_f_i_gate = nn.Linear(dim, dim * 3, bias=False)

    def forward(self, x):
        hidden, f_gate, i_gate = self.to_hidden_and_f_i_gate(x).chunk(3, dim=-1)
        diff = F.softplus(-f_gate) - F.softplus(-i_gate)
        log_f = -F.softplus(diff)
        log_i = -F.softplus(-diff)
        return heinsen_associative_scan_log(log_f, log_i + log_g(hidden))


class CudnnRNN(nn.Module):
    def __init__(self, kind, dim):
        super().__init__()
        self.rnn = (nn.GRU if kind == 'gru' else nn.LSTM)(dim, dim, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]


def set_tf32(on):
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def time_layer(model, B, T, D, dtype, warmup, runs):
    gen = torch.Generator(device='cuda').manual_seed(0)
    x = torch.randn(B, T, D, device='cuda', dtype=dtype, generator=gen).requires_grad_(True)
    dy = torch.randn(B, T, D, device='cuda', dtype=dtype, generator=gen)

    def step():
        out = model(x)
        out.backward(dy)
        x.grad = None
        for p in model.parameters():
            p.grad = None

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times), min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--runs', type=int, default=10)
    ap.add_argument('--Ts', default='512,1024,2048,4096')
    args = ap.parse_args()
    B, D = 64, 512
    Ts = [512] if args.quick else [int(t) for t in args.Ts.split(',')]
    runs = 3 if args.quick else args.runs
    results = []
    dev = torch.cuda.get_device_name(0)
    for precision in ['f32', 'tf32', 'bf16']:
        set_tf32(precision == 'tf32')
        dtype = torch.bfloat16 if precision == 'bf16' else torch.float32
        models = [('minGRU-pytorch (log space)', lambda: MinGRU(D)), ('minLSTM-pytorch (log space)', lambda: MinLSTM(D))]
        if precision != 'tf32':
            models += [('cuDNN nn.GRU', lambda: CudnnRNN('gru', D)), ('cuDNN nn.LSTM', lambda: CudnnRNN('lstm', D))]
        for name, make in models:
            for T in Ts:
                torch.manual_seed(0)
                model = make().to(device='cuda', dtype=dtype)
                cudnn = name.startswith('cuDNN')
                if cudnn:
                    model.rnn.flatten_parameters()
                med, best = time_layer(model, B, T, D, dtype, 1 if cudnn else 3, max(3, runs // 2) if cudnn else runs)
                row = {'name': name, 'precision': precision, 'B': B, 'T': T, 'D': D, 'medianMs': med, 'minMs': best}
                results.append(row)
                print(json.dumps(row), flush=True)
                del model
                torch.cuda.empty_cache()
    set_tf32(False)
    with open(args.out, 'w') as f:
        json.dump({'device': dev, 'torch': torch.__version__, 'cudnn': torch.backends.cudnn.version(), 'results': results}, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
