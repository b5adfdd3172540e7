#!/usr/bin/env python3
"""Writes lamb.json: 5 LAMB steps on a small parameter set, for torch/lamb_test.go.

PyTorch 1.13 has no LAMB, so the reference is a re-statement of the update of Paddle's lamb op (PaddlePaddle 2.x;
You et al. 2019) from its formulas, in float64 from the float32 inputs:
  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
  r = (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps) + wd*w
  w = w - lr * (|w|/|r| if both norms > 0 else 1) * r
and, as Paddle 1.x's lamb op, without the bias corrections (1-b1^t), (1-b2^t).
Run: /usr/bin/python3 torch/testdata/gen_lamb.py
"""
import json
import os

import torch

torch.manual_seed(7)
B1, B2, EPS, LR = 0.9, 0.999, 1e-6, 0.01
FACTORS = [1.0, 0.8, 0.6, 0.4, 0.2]  # LR schedule factors of the 5 steps
params = [  # name, init, weight decay, group
    ("w", torch.randn(4, 3), 0.01, 0),
    ("big", torch.randn(5) * 3, 0.01, 0),
    ("LayerNorm.weight", torch.ones(3), 0.0, 1),
    ("bias", torch.zeros(3), 0.0, 1),  # |w| = 0 at step 1: ratio 1
]
grads = [[torch.randn(p.shape) for _, p, _, _ in params] for _ in FACTORS]



def trajectory(bias_correction):
    w = [p.double().clone() for _, p, _, _ in params]
    m = [torch.zeros_like(x) for x in w]
    v = [torch.zeros_like(x) for x in w]
    after = []
    for t, (f, gs) in enumerate(zip(FACTORS, grads), start=1):
        c1, c2 = (1 - B1 ** t, 1 - B2 ** t) if bias_correction else (1.0, 1.0)
        for i, (_, _, wd, _) in enumerate(params):
            g = gs[i].double()
            m[i] = B1 * m[i] + (1 - B1) * g
            v[i] = B2 * v[i] + (1 - B2) * g * g
            r = (m[i] / c1) / (torch.sqrt(v[i] / c2) + EPS) + wd * w[i]
            pn, rn = w[i].norm().item(), r.norm().item()
            ratio = pn / rn if pn > 0 and rn > 0 else 1.0
            w[i] = w[i] - LR * f * ratio * r
        after.append([x.flatten().tolist() for x in w])
    return after


out = {
    "lr": LR, "factors": FACTORS,
    "params": [{"name": n, "shape": list(p.shape), "init": p.flatten().tolist(), "wd": wd, "group": g}
               for n, p, wd, g in params],
    "grads": [[g.flatten().tolist() for g in gs] for gs in grads],
    "after": trajectory(True),
    "after_no_bias_correction": trajectory(False),  # Paddle 1.x's lamb op
}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "lamb.json"), "w") as fh:
    json.dump(out, fh)
    fh.write("\n")
