#!/usr/bin/python3
"""PyTorch eager reference of one RocketQA v1 dual-encoder training step (run by rocketqa/bench/main.go).

Same model (encoder/testdata/ref_bert.py, a plain-PyTorch BERT with HF names), same shapes, same thread count:
B queries of q_len tokens and 2B passages of p_len tokens, raw [CLS] dot products, in-batch cross entropy,
backward, global-norm clip 1.0, AdamW; an eighth argument "bf16" runs the towers under
torch.autocast("cpu", dtype=torch.bfloat16) (the loss in float32). Prints JSON {"threads", "step_s"} (median seconds per step)."""
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "encoder", "testdata"))
from ref_bert import Config, RefBert  # noqa: E402

cfg_path, threads, B, qlen, plen, steps, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
mode = sys.argv[8] if len(sys.argv) > 8 else "fp32"
torch.set_num_threads(threads)
torch.manual_seed(0)
with open(cfg_path) as f:
    c = Config(json.load(f))
q_model, p_model = RefBert(c, with_pooler=False), RefBert(c, with_pooler=False)
q_model.train()
p_model.train()
params = list(q_model.parameters()) + list(p_model.parameters())
decay = [p for n, p in list(q_model.named_parameters()) + list(p_model.named_parameters()) if not (n.endswith("bias") or "LayerNorm" in n)]
nodecay = [p for n, p in list(q_model.named_parameters()) + list(p_model.named_parameters()) if n.endswith("bias") or "LayerNorm" in n]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.0}, {"params": nodecay, "weight_decay": 0.0}], lr=1e-4)
qids = torch.randint(5, c.vocab_size, (B, qlen))
pids = torch.randint(5, c.vocab_size, (2 * B, plen))
qt, pt = torch.zeros_like(qids), torch.zeros_like(pids)
qm, pm = torch.ones(B, qlen), torch.ones(2 * B, plen)


def step():
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "bf16"):
        q = q_model(qids, qt, qm)[0][:, 0]
        p = p_model(pids, pt, pm)[0][:, 0]
    q, p = q.float(), p.float()
    loss = torch.nn.functional.cross_entropy(q @ p.T, torch.arange(B))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)


step()
ts = []
for _ in range(reps):
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    ts.append((time.perf_counter() - t0) / steps)
ts.sort()
print(json.dumps({"threads": torch.get_num_threads(), "step_s": ts[len(ts) // 2]}))
