"""cuDNN nn.LSTM / nn.GRU at FlashRNN's configuration (B = 16, T = 1024, hidden 768), forward and
forward+backward (gradients w.r.t. the input and the weights), fp32 (TF32 off), fp16 and bf16;
the companion of bench/gpu-rnn.ts, run in the same device session. Note: cuDNN's time includes
the input projection W·x (one large GEMM), which the Recur figures take as given.

Usage: python3 tools/torch_rnn_bench.py [--out FILE] [--runs N]
"""
import json, sys
import torch

runs = 7
out = None
a = sys.argv[1:]
if '--runs' in a: runs = int(a[a.index('--runs') + 1])
if '--out' in a: out = a[a.index('--out') + 1]
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = 'cuda'
B, T, H = 16, 1024, 768
rows = []


def timed(fn):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(runs):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); torch.cuda.synchronize()
        ts.append(s.elapsed_time(e))
    ts.sort()
    return ts[len(ts) // 2]


for name, cls in (('nn.LSTM', torch.nn.LSTM), ('nn.GRU', torch.nn.GRU)):
    for dt_name, dt in (('f32', torch.float32), ('fp16', torch.float16), ('bf16', torch.bfloat16)):
        torch.manual_seed(0)
        m = cls(H, H, batch_first=True).to(dev, dt)
        m.flatten_parameters()
        x = torch.randn(B, T, H, device=dev, dtype=dt, requires_grad=True)
        with torch.no_grad():
            fwd = timed(lambda: m(x))

        def fb():
            y, _ = m(x)
            y.backward(torch.ones_like(y))
        fwdbwd = timed(fb)
        row = dict(name=name, dtype=dt_name, fwdMs=fwd, fwdBwdMs=fwdbwd)
        rows.append(row)
        print(json.dumps(row), flush=True)
res = dict(device=torch.cuda.get_device_name(), torch=torch.__version__, cudnn=torch.backends.cudnn.version(), B=B, T=T, H=H, rows=rows)
if out:
    open(out, 'w').write(json.dumps(res, indent=2))
print(json.dumps({k: v for k, v in res.items() if k != 'rows'}))
