"""The PyTorch CPU comparison step of `npm run bench` (bench/cpu.ts runs it when torch imports).

One minGRU layer (128 -> 2*128 projection, no bias) + Linear(128 -> 128), MSE, backward and Adam at
B 32, T 256: minGRU-pytorch's parallel forward (log-space gates, Heinsen's log-space scan through
logcumsumexp), restated here from its published code (the package is not installed). Prints one
JSON object: {"torch": version, "ms": {threads: median wall ms per step},
"cpu_ms": {threads: median process CPU ms per step}}.
"""
import json
import sys
import time

import torch
import torch.nn.functional as F


def g(x):
    return torch.where(x >= 0, x + 0.5, x.sigmoid())


def log_g(x):
    return torch.where(x >= 0, (F.relu(x) + 0.5).log(), -F.softplus(-x))


def heinsen_associative_scan_log(log_coeffs, log_values):
    a_star = log_coeffs.cumsum(dim=1)
    log_h0_plus_b_star = (log_values - a_star).logcumsumexp(dim=1)
    return (a_star + log_h0_plus_b_star).exp()


class MinGRU(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.to_hidden_and_gate = torch.nn.Linear(dim, dim * 2, bias=False)

    def forward(self, x):
        hidden, gate = self.to_hidden_and_gate(x).chunk(2, dim=-1)
        log_coeffs = -F.softplus(gate)
        log_values = -F.softplus(-gate) + log_g(hidden)
        return heinsen_associative_scan_log(log_coeffs, log_values)


def main():
    runs, warmup = int(sys.argv[1]), int(sys.argv[2])
    threads = [int(t) for t in sys.argv[3].split(",")]
    B, T, D = 32, 256, 128
    torch.manual_seed(1)
    out = {"torch": torch.__version__, "ms": {}, "cpu_ms": {}}
    for n in threads:
        torch.set_num_threads(n)
        model = torch.nn.Sequential(MinGRU(D), torch.nn.Linear(D, D))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x, y = torch.randn(B, T, D), torch.randn(B, T, D)

        def step():
            opt.zero_grad()
            F.mse_loss(model(x), y).backward()
            opt.step()

        for _ in range(warmup):
            step()
        times, cpu = [], []
        for _ in range(runs):
            t0, c0 = time.perf_counter(), time.process_time()
            step()
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        times.sort()
        cpu.sort()
        out["ms"][str(n)] = times[len(times) // 2]
        out["cpu_ms"][str(n)] = cpu[len(cpu) // 2]
    print(json.dumps(out))


main()
