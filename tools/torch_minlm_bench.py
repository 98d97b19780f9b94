"""Training throughput of the minGRU paper's Shakespeare model in PyTorch (our own implementation).

The same architecture as `recur train --preset shakespeare-mingru` (docs/models.md#recurrentlm): character
embedding, 3 blocks of [causal depthwise conv k=4 + residual] → RMSNorm → minGRU (expansion 2,
log-space parallel scan as minGRU-pytorch writes it) + residual → RMSNorm → FeedForward ×4 (GELU)
+ residual; final RMSNorm; untied logits. AdamW lr 1e-3, weight decay 0.1, clip 0.25, batch 64,
sequence 256, dropout 0.2. Prints one JSON line: tokens/s (median over timed steps), loss.

Usage (on the GPU machine): python3 tools/torch_minlm_bench.py TEXT [steps] [dtype f32|bf16]
"""
import json, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

text_path = sys.argv[1]
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 30
dtype = sys.argv[3] if len(sys.argv) > 3 else 'f32'
dev = 'cuda'
torch.manual_seed(0)
text = open(text_path, encoding='utf-8').read()
chars = sorted(set(text))
data = torch.tensor([chars.index(c) for c in text], dtype=torch.long)
train = data[: int(0.9 * len(data))]
V, D, DEPTH, B, T = len(chars), 384, 3, 64, 256


def log_g(x):
    return torch.where(x >= 0, (F.relu(x) + 0.5).log(), -F.softplus(-x))


def heinsen(log_coeffs, log_values):
    a_star = log_coeffs.cumsum(dim=1)
    return (a_star + (log_values - a_star).logcumsumexp(dim=1)).exp()


class MinGRU(nn.Module):
    def __init__(self, dim, expansion):
        super().__init__()
        inner = int(dim * expansion)
        self.to_hidden_and_gate = nn.Linear(dim, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x):
        hidden, gate = self.to_hidden_and_gate(x).chunk(2, dim=-1)
        h = heinsen(-F.softplus(gate), -F.softplus(-gate) + log_g(hidden))
        return self.to_out(h)


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(D, D, 4, groups=D)
        self.norm1, self.rnn, self.norm2 = RMSNorm(D), MinGRU(D, 2), RMSNorm(D)
        self.ff = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Dropout(0.2), nn.Linear(4 * D, D))
        self.drop = nn.Dropout(0.2)

    def forward(self, x):
        x = x + self.conv(F.pad(x.transpose(1, 2), (3, 0))).transpose(1, 2)
        x = x + self.drop(self.rnn(self.norm1(x)))
        return x + self.ff(self.norm2(x))


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.layers = nn.ModuleList([Block() for _ in range(DEPTH)])
        self.norm, self.head = RMSNorm(D), nn.Linear(D, V, bias=False)

    def forward(self, x):
        x = self.emb(x)
        for layer in self.layers:
            x = layer(x)
        return self.head(self.norm(x))


model = LM().to(dev)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
times, loss = [], None
for step in range(steps + 5):
    ix = torch.randint(len(train) - T - 1, (B,))
    x = torch.stack([train[i:i + T] for i in ix]).to(dev)
    y = torch.stack([train[i + 1:i + T + 1] for i in ix]).to(dev)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.autocast('cuda', dtype=torch.bfloat16, enabled=dtype == 'bf16'):
        loss = F.cross_entropy(model(x).float().reshape(-1, V), y.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
    opt.step()
    torch.cuda.synchronize()
    if step >= 5:
        times.append(time.perf_counter() - t0)
times.sort()
med = times[len(times) // 2]
print(json.dumps({'impl': 'pytorch', 'torch': torch.__version__, 'dtype': dtype, 'params': sum(p.numel() for p in model.parameters()),
                  'batch': B, 'seq': T, 'median_step_ms': med * 1e3, 'tokens_per_s': B * T / med, 'last_loss': loss.item()}))
