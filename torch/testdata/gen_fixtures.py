#!/usr/bin/python3
"""Parity fixtures for package torch, generated with Debian's python3-torch 1.13.1 (run as /usr/bin/python3).

For each case NAME it stores the inputs NAME.in0, NAME.in1, ..., the output NAME.out (several outputs:
NAME.out0, NAME.out1), the random cotangent NAME.R and the gradients of (out * R).sum() with respect to every
floating-point input NAME.grad0, NAME.grad1, ... The Go test (parity_test.go) recomputes each case with the binding and
compares them as torch.testing.assert_close does (float32: rtol 1.3e-6, atol 1e-5).

    /usr/bin/python3 torch/testdata/gen_fixtures.py [OUT]   # writes OUT (default torch/testdata/ops.safetensors)

When /usr/bin/python3 has torch, the Go tests run this script into a temporary file and compare against the
reference computed on the machine under test (set ROCKETQA_FIXTURES=committed to use the committed file only).
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "safetensors", "testdata"))
import pysafetensors  # noqa: E402

torch.manual_seed(1234)
torch.set_num_threads(1)
out = {}


def case(name, fn, *inputs, grad=True):
    """inputs: tensors (float ones get requires_grad when grad)."""
    ins = []
    for i, x in enumerate(inputs):
        x = x.clone()
        out[f"{name}.in{i}"] = x.clone()
        if grad and x.is_floating_point():
            x.requires_grad_(True)
        ins.append(x)
    res = fn(*ins)
    outs = res if isinstance(res, tuple) else (res,)
    loss = 0
    for j, o in enumerate(outs):
        key = f"{name}.out" if len(outs) == 1 else f"{name}.out{j}"
        out[key] = o.detach().clone()
        if grad and o.is_floating_point() and o.requires_grad:
            r = torch.randn(o.shape)
            out[f"{name}.R" if len(outs) == 1 else f"{name}.R{j}"] = r
            loss = loss + (o * r).sum()
    if grad and torch.is_tensor(loss):
        loss.backward()
        for i, x in enumerate(ins):
            if x.is_floating_point() and x.grad is not None:
                out[f"{name}.grad{i}"] = x.grad.clone()


r = torch.randn
case("add", lambda a, b: a + b, r(3, 4), r(4))
case("sub", lambda a, b: a - b, r(3, 4), r(3, 1))
case("mul", lambda a, b: a * b, r(2, 3, 4), r(3, 4))
case("div", lambda a, b: a / b, r(3, 4), r(3, 4).abs() + 0.5)
case("scalar", lambda a: ((a + 2.5) * 3.0 - 1.0) / 4.0, r(5))
case("matmul", lambda a, b: a @ b, r(2, 3, 4), r(4, 5))
case("bmm", lambda a, b: torch.bmm(a, b), r(2, 3, 4), r(2, 4, 5))
case("linear", lambda x, w, b: F.linear(x, w, b), r(2, 3, 4), r(5, 4), r(5))
case("embedding", lambda w, ids: F.embedding(ids, w, padding_idx=0), r(10, 4), torch.tensor([[1, 0, 3], [9, 3, 3]]))
case("layer_norm", lambda x, w, b: F.layer_norm(x, (8,), w, b, 1e-5), r(2, 3, 8) * 3 + 1, r(8), r(8))
case("layer_norm_eps12", lambda x, w, b: F.layer_norm(x, (8,), w, b, 1e-12), r(2, 3, 8), r(8), r(8))
case("softmax", lambda x: torch.softmax(x, -1), r(3, 7) * 3)
case("log_softmax", lambda x: torch.log_softmax(x, 1), r(3, 7) * 3)
case("gelu", lambda x: F.gelu(x), r(4, 5) * 2)
case("relu", lambda x: F.relu(x), r(4, 5))
case("tanh", lambda x: torch.tanh(x), r(4, 5))
case("exp_log_sqrt", lambda x: torch.sqrt(torch.exp(x) + torch.log(x.abs() + 1)), r(4, 5))
case("masked_fill", lambda x, m: x.masked_fill(m, -10000.0), r(2, 5), torch.tensor([[False, True, False, False, True], [True] * 5]))
case("permute_reshape", lambda x: x.permute(2, 0, 1).contiguous().reshape(4, 6).transpose(0, 1), r(2, 3, 4))
case("cat", lambda a, b: torch.cat([a, b], 0), r(2, 3), r(4, 3))
case("stack", lambda a, b: torch.stack([a, b], 1), r(2, 3), r(2, 3))
case("narrow", lambda x: x.narrow(1, 1, 2) * 2, r(3, 4))
case("split", lambda x: torch.split(x, 2, 0), r(5, 3))
case("chunk", lambda x: torch.chunk(x, 3, 1), r(2, 7))
case("index_select", lambda x, i: x.index_select(0, i), r(5, 3), torch.tensor([4, 0, 4, 2]))
case("gather", lambda x, i: x.gather(1, i), r(3, 4), torch.tensor([[0, 3], [1, 1], [2, 0]]))
case("sum_mean", lambda x: (x.sum(1), x.mean((0, 2))), r(2, 3, 4))
case("amax", lambda x: x.amax(1), r(3, 6))
case("max_dim", lambda x: x.max(1), r(3, 6))
case("cross_entropy", lambda x, t: F.cross_entropy(x, t), r(4, 6), torch.tensor([0, 5, 2, 2]))
case("cross_entropy_ls", lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1, reduction="sum"), r(4, 6), torch.tensor([1, 0, 3, 4]))
case("kl_div_mean", lambda a, b: F.kl_div(F.log_softmax(a, -1), F.softmax(b, -1).detach(), reduction="mean"), r(3, 5), r(3, 5))
case("kl_div_batchmean", lambda a, b: F.kl_div(F.log_softmax(a, -1), F.softmax(b, -1).detach(), reduction="batchmean"), r(3, 5), r(3, 5))
case("topk", lambda x: torch.topk(x, 3, 1), r(3, 8), grad=False)
case("argsort", lambda x: torch.argsort(x, 1, descending=True), r(3, 8), grad=False)
case("where_clamp", lambda c, a, b: torch.where(c, a, b).clamp(-0.5, 0.5), torch.tensor([True, False, True, False]), r(4), r(4))

# seeded random streams: the same generator and kernels as the Go side
torch.manual_seed(42)
out["rng.randn"] = torch.randn(3, 4)
out["rng.rand"] = torch.rand(5)
x = torch.ones(4, 50)
out["rng.dropout"] = F.dropout(x, 0.3, True)

# dtype round trips
v = r(16) * 100
out["dtype.f32"] = v
out["dtype.bf16"] = v.to(torch.bfloat16).to(torch.float32)
out["dtype.f16"] = v.to(torch.float16).to(torch.float32)

# AdamW with two groups + global-norm clipping, 3 steps with fixed gradients
torch.manual_seed(7)
p1, p2, p3 = r(4, 3), r(3), r(5)
g = [[r(4, 3) * 3, r(3) * 3, r(5) * 3] for _ in range(3)]
for i, p in enumerate((p1, p2, p3)):
    out[f"adamw.p{i}"] = p.clone()
for s in range(3):
    for i in range(3):
        out[f"adamw.g{s}.{i}"] = g[s][i]
ps = [p.clone().requires_grad_(True) for p in (p1, p2, p3)]
opt = torch.optim.AdamW([{"params": [ps[0]], "weight_decay": 0.01}, {"params": ps[1:], "weight_decay": 0.0}], lr=1e-2)
norms = []
for s in range(3):
    for i in range(3):
        ps[i].grad = g[s][i].clone()
    norms.append(torch.nn.utils.clip_grad_norm_(ps, 1.0))
    opt.step()
for i in range(3):
    out[f"adamw.final{i}"] = ps[i].detach().clone()
out["adamw.norms"] = torch.stack(norms).float()


# a small transformer layer (post-LN, as BERT): forward and parameter gradients
def layer(x, mask, wq, bq, wk, bk, wv, bv, wo, bo, g1, b1, w1, c1, w2, c2, g2, b2, heads=4):
    B, L, H = x.shape
    d = H // heads

    def split(t):
        return t.reshape(B, L, heads, d).permute(0, 2, 1, 3)

    q, k, v = split(F.linear(x, wq, bq)), split(F.linear(x, wk, bk)), split(F.linear(x, wv, bv))
    s = q @ k.transpose(-1, -2) / math.sqrt(d)
    s = s + (1.0 - mask[:, None, None, :]) * -10000.0
    a = torch.softmax(s, -1) @ v
    a = a.permute(0, 2, 1, 3).reshape(B, L, H)
    h = F.layer_norm(x + F.linear(a, wo, bo), (H,), g1, b1, 1e-12)
    f = F.linear(F.gelu(F.linear(h, w1, c1)), w2, c2)
    return F.layer_norm(h + f, (H,), g2, b2, 1e-12)


H, I = 16, 32
lw = [r(H, H) * 0.3, r(H) * 0.1, r(H, H) * 0.3, r(H) * 0.1, r(H, H) * 0.3, r(H) * 0.1, r(H, H) * 0.3, r(H) * 0.1,
      1 + 0.1 * r(H), 0.1 * r(H), r(I, H) * 0.3, r(I) * 0.1, r(H, I) * 0.3, r(H) * 0.1, 1 + 0.1 * r(H), 0.1 * r(H)]
mask = torch.tensor([[1.0] * 6, [1.0] * 4 + [0.0] * 2])
case("layer", lambda x, m, *w: layer(x, m, *w), r(2, 6, H), mask, *lw)

path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "ops.safetensors")
pysafetensors.save_file({k: v.contiguous() for k, v in out.items()}, path, {"torch": torch.__version__})
print(f"wrote {len(out)} tensors to {path}")
