#!/usr/bin/env python3
"""PyTorch eager side of the throughput rows of scripts/gpu-check.sh (Go side: encoder/cuda_test.go).

Same model (encoder/testdata/ref_bert.py, a plain-PyTorch BERT with the Go encoder's computation), same shapes
(the table below must match perfShapeFor in encoder/cuda_test.go), same timing rule (median of reps after one
warm-up, device synchronised around each):
  encode_float32 / encode_bfloat16: one batch of passages, eval, no_grad, fp32 and bf16 autocast;
  dual_step_bf16: two towers, raw [CLS], in-batch cross entropy, backward, clip 1.0, AdamW, under bf16 autocast,
  with torch.cuda.max_memory_allocated over one step.
Prints GPUPERF_REF|key|seconds|detail and GPUMEM_REF|key|peak|reserved lines.

  ref_perf.py --device cuda|cpu --size base|tiny"""
import argparse
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
for d in (HERE, os.path.join(HERE, "..", "..", "encoder", "testdata")):
    sys.path.insert(0, d)
from ref_bert import Config, RefBert  # noqa: E402

SHAPES = {
    "base": dict(hidden=768, layers=12, heads=12, inter=3072, enc_batch=64, enc_len=384, train_b=16, q_len=32, p_len=384, reps=10),
    "tiny": dict(hidden=64, layers=2, heads=4, inter=256, enc_batch=8, enc_len=64, train_b=4, q_len=16, p_len=64, reps=5),
}

ap = argparse.ArgumentParser()
ap.add_argument("--device", default="cuda")
ap.add_argument("--size", default="base")
ap.add_argument("--threads", type=int, default=0)
a = ap.parse_args()
p = SHAPES[a.size]
dev = torch.device(a.device)
if a.threads:
    torch.set_num_threads(a.threads)
if dev.type == "cuda":
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
cfg = Config(dict(model_type="bert", vocab_size=21128, hidden_size=p["hidden"], num_hidden_layers=p["layers"],
                  num_attention_heads=p["heads"], intermediate_size=p["inter"], hidden_act="gelu",
                  hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, max_position_embeddings=512,
                  type_vocab_size=2, layer_norm_eps=1e-12))


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def ids(b, l):
    v = torch.tensor([5 + (i * 7919) % 21000 for i in range(b * l)], dtype=torch.int64).view(b, l).to(dev)
    return v, torch.zeros(b, l, dtype=torch.int64, device=dev), torch.ones(b, l, dtype=torch.int64, device=dev)


def median(fn, reps):
    fn()
    sync()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2]


torch.manual_seed(0)
m = RefBert(cfg, with_pooler=False).to(dev).eval()
e_ids, e_types, e_mask = ids(p["enc_batch"], p["enc_len"])


def encode():
    with torch.no_grad():
        m(e_ids, e_types, e_mask)[0][:, 0].contiguous()


def encode_bf16():
    with torch.autocast(device_type=dev.type, dtype=torch.bfloat16):
        encode()


for key, fn in (("encode_float32", encode), ("encode_bfloat16", encode_bf16)):
    s = median(fn, p["reps"])
    print("GPUPERF_REF|%s|%.6g|%.0f passages/s" % (key, s, p["enc_batch"] / s), flush=True)
del m

q_model = RefBert(cfg, with_pooler=False).to(dev).train()
p_model = RefBert(cfg, with_pooler=False).to(dev).train()
params = list(q_model.parameters()) + list(p_model.parameters())
opt = torch.optim.AdamW(params, lr=1e-5, weight_decay=0.0)
B = p["train_b"]
qi, qt, qm = ids(B, p["q_len"])
pi, pt, pm = ids(2 * B, p["p_len"])


def step():
    with torch.autocast(device_type=dev.type, dtype=torch.bfloat16):
        q = q_model(qi, qt, qm)[0][:, 0]
        pv = p_model(pi, pt, pm)[0][:, 0]
        scores = q @ pv.T
    loss = torch.nn.functional.cross_entropy(scores.float(), torch.arange(B, device=dev))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)


step()
if dev.type == "cuda":
    torch.cuda.reset_peak_memory_stats(dev)
    step()
    sync()
    print("GPUMEM_REF|dual_step_bf16|%d|%d" % (torch.cuda.max_memory_allocated(dev), torch.cuda.memory_reserved(dev)), flush=True)
s = median(step, p["reps"])
print("GPUPERF_REF|dual_step_bf16|%.6g|%.1f queries/s" % (s, B / s), flush=True)
