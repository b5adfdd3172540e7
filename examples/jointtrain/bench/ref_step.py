#!/usr/bin/python3
"""PyTorch eager re-statement of one RocketQA v2 joint step (official loss, dropout on, queries once per list line,
two dual-encoder towers and a v2 cross-encoder, forward + backward, no optimizer) on random models and random ids of
fixed lengths; prints the median step time as JSON. Same flags as bench/main.go; --bf16 runs each forward pass in
torch.autocast("cpu", dtype=torch.bfloat16) and takes its output to float32, as the Go task does (losses in float32)."""
import argparse
import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "encoder", "testdata"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from ref_bert import Config, RefBert  # noqa: E402

ap = argparse.ArgumentParser()
for k, v in dict(hidden=32, layers=2, heads=4, inter=64, vocab=1000, b=2, m=8, q_len=32, p_len=128, ce_len=160,
                 steps=5, threads=1).items():
    ap.add_argument("-" + k.replace("_", "-"), "--" + k.replace("_", "-"), type=int, default=v, dest=k)
ap.add_argument("-bf16", "--bf16", action="store_true")
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1)
c = Config(dict(vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers, num_attention_heads=a.heads,
                intermediate_size=a.inter, hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2,
                hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1))
q, p, ce = RefBert(c, False), RefBert(c, False), RefBert(c, False, head="v2")
for mdl in (q, p, ce):
    mdl.train()
n = a.b * a.m


def rows(L, pair):
    ids = torch.randint(5, a.vocab, (n, L))
    types = torch.zeros(n, L, dtype=torch.int64)
    if pair:
        types[:, L // 2:] = 1
    return ids, types, torch.ones(n, L, dtype=torch.int64)


Q, P, C = rows(a.q_len, False), rows(a.p_len, True), rows(a.ce_len, True)
times = []
for i in range(a.steps + 1):
    for mdl in (q, p, ce):
        mdl.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
        qv = q(*Q)[0][:, 0]
        pv = p(*P)[0][:, 0]
        cl = ce(*C)[2][:, 0]
    qv, pv, cl = qv.float(), pv.float(), cl.float()
    de = (qv * pv).sum(-1).view(a.b, a.m)
    cs = cl.view(a.b, a.m)
    sup = F.cross_entropy(cs, torch.zeros(a.b, dtype=torch.int64))
    kl = F.kl_div(F.log_softmax(de, 1), F.softmax(cs, 1).detach(), reduction="mean")
    (sup + kl).backward()
    if i > 0:
        times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"impl": "pytorch", "precision": "bf16" if a.bf16 else "fp32", "median_s": times[len(times) // 2], "times": times}))
