#!/usr/bin/python3
"""PyTorch eager side of the torch benchmark (run by bench/main.go; same workloads, same thread count).

Prints one JSON object: seconds per iteration (median of repeats) for each workload."""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

threads, reps = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)


def median_time(fn, iters):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        ts.append((time.perf_counter() - t0) / iters)
    ts.sort()
    return ts[len(ts) // 2]


x = torch.randn(16)


def chain():
    y = x
    for _ in range(25):
        y = ((y + 1.0) * 0.5).tanh() - x


a, b = torch.randn(512, 768), torch.randn(768, 768)


def matmul():
    a @ b


B, L, H, I, heads = 16, 64, 256, 1024, 4
ws = []
for shape in [(H, H), (H,), (H, H), (H,), (H, H), (H,), (H, H), (H,), (H,), (H,), (I, H), (I,), (H, I), (H,), (H,), (H,)]:
    ws.append((torch.randn(*shape) * 0.05).requires_grad_(True))
xin = torch.randn(B, L, H)
mask = torch.ones(B, L)
mask[:, L - 8:] = 0


def layer(x, mask, w):
    d = H // heads

    def split(t):
        return t.reshape(B, L, heads, d).permute(0, 2, 1, 3)

    q, k, v = split(F.linear(x, w[0], w[1])), split(F.linear(x, w[2], w[3])), split(F.linear(x, w[4], w[5]))
    s = q @ k.transpose(-1, -2) / math.sqrt(d)
    s = s + (1.0 - mask).mul(-10000.0).reshape(B, 1, 1, L)
    att = torch.softmax(s, -1) @ v
    att = att.permute(0, 2, 1, 3).reshape(B, L, H)
    h = F.layer_norm(x + F.linear(att, w[6], w[7]), (H,), w[8], w[9], 1e-12)
    f = F.linear(F.gelu(F.linear(h, w[10], w[11])), w[12], w[13])
    return F.layer_norm(h + f, (H,), w[14], w[15], 1e-12)


def fwdbwd():
    out = layer(xin, mask, ws)
    out.square().mean().backward()
    for w in ws:
        w.grad = None


res = {
    "threads": torch.get_num_threads(),
    "chain": median_time(chain, 200) / 100,  # per op (4 ops x 25)
    "matmul": median_time(matmul, 20),
    "layer": median_time(fwdbwd, 5),
}
print(json.dumps(res))
