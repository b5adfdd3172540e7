#!/usr/bin/python3
"""Plain-PyTorch re-statement of PAIR's loss (official research/PAIR_ACL2021 dual_encoder.py) for pair's tests.

  /usr/bin/python3 pair/testdata/ref_pair.py IN.json OUT.json

IN.json: {"model": DIR (config.json + model.safetensors, one shared tower), "q": batch, "p": batch,
          "cases": [{"stage": "pretrain"|"finetune", "alpha": a}, ...]}
a batch is {"ids": [...], "types": [...], "mask": [...], "rows": R, "cols": C} (row-major int64); "p" holds the
2B passages as [B positives; B negatives] (the official layout). One process, dropout off (eval-free train mode
with zero dropout is the caller's choice: the model is run with the config's dropout set to 0).

For each case, with one shared encoder E and raw [CLS] vectors:
  q = E(queries) [B,H], pp = E(positives), np = E(negatives)
  L_Q = CE(q @ [pp; np]^T, arange(B))
  L_P = CE(pp @ [q; np]^T, arange(B))
  L = (1 - a) L_Q + a L_P  (pretrain),  L = L_Q  (finetune)
OUT.json: [{"loss": L, "grads": {param name: flat list}}] in case order (parameters without a gradient omitted).
"""
import json
import os
import sys

sys.dont_write_bytecode = True

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "encoder", "testdata"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "safetensors", "testdata"))

import pysafetensors as st  # noqa: E402
from ref_bert import from_state_dict  # noqa: E402


def tensors(b):
    shape = (b["rows"], b["cols"])
    return [torch.tensor(b[k], dtype=torch.int64).reshape(shape) for k in ("ids", "types", "mask")]


def main():
    with open(sys.argv[1]) as f:
        inp = json.load(f)
    with open(os.path.join(inp["model"], "config.json")) as f:
        cfg = json.load(f)
    cfg["hidden_dropout_prob"] = 0.0
    cfg["attention_probs_dropout_prob"] = 0.0
    sd, _ = st.load_file(os.path.join(inp["model"], "model.safetensors"))
    q_in, p_in = tensors(inp["q"]), tensors(inp["p"])
    out = []
    for case in inp["cases"]:
        m = from_state_dict(cfg, sd, strict=True)
        m.train()
        q = m(*q_in)[0][:, 0]
        p = m(*p_in)[0][:, 0]
        b = q.shape[0]
        pp, np_ = p[:b], p[b:]
        target = torch.arange(b)
        lq = F.cross_entropy(q @ torch.cat([pp, np_]).T, target)
        if case["stage"] == "pretrain":
            lp = F.cross_entropy(pp @ torch.cat([q, np_]).T, target)
            a = case["alpha"]
            loss = (1 - a) * lq + a * lp
        else:
            loss = lq
        loss.backward()
        grads = {n: t.grad.reshape(-1).tolist() for n, t in m.named_parameters() if t.grad is not None}
        out.append({"loss": loss.item(), "grads": grads})
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
