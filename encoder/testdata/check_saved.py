#!/usr/bin/python3
"""Load a saved model directory into a PyTorch re-statement and print its outputs as JSON.

  /usr/bin/python3 encoder/testdata/check_saved.py [--mlm] DIR --ids 1,5,6,2 [--types 0,0,0,0] [--ids ... --types ...]

DIR must hold config.json and model.safetensors. The weights are loaded with load_state_dict(strict=True), so any
missing, unexpected or misshapen tensor is an error (exit status 1). Each --ids gives one sequence (no padding;
--types defaults to all 0). Outputs are computed in eval mode.

Without --mlm the model is ref_bert.RefBert (pooler and classifier head chosen from the tensors present), and it
prints {"cls": [[...H floats] per sequence], "pooled": [...] or null, "logits": [...] or null}.
With --mlm DIR holds HF BertForMaskedLM's names, the model is ref_mlm.RefBertForMaskedLM (tied decoder), and it
prints {"logits": [[L x V floats] per sequence]}.
"""
import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # keep testdata free of __pycache__

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "safetensors", "testdata"))

import pysafetensors as st  # noqa: E402
import ref_bert  # noqa: E402
import ref_mlm  # noqa: E402


def sequences(a):
    """(ids, types) tensors of shape [1, L] for each --ids, with its --types or zeros."""
    for i, s in enumerate(a.ids):
        ids = torch.tensor([[int(x) for x in s.split(",")]])
        types = torch.zeros_like(ids)
        if i < len(a.types):
            types = torch.tensor([[int(x) for x in a.types[i].split(",")]])
        yield ids, types


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlm", action="store_true", help="a masked-LM directory: print the LM logits")
    ap.add_argument("dir")
    ap.add_argument("--ids", action="append", required=True)
    ap.add_argument("--types", action="append", default=[])
    a = ap.parse_args()
    with open(os.path.join(a.dir, "config.json")) as f:
        cfg = json.load(f)
    sd, _ = st.load_file(os.path.join(a.dir, "model.safetensors"))
    m = (ref_mlm if a.mlm else ref_bert).from_state_dict(cfg, sd, strict=True)
    m.eval()
    if a.mlm:
        out = {"logits": []}
    else:
        out = {"cls": [], "pooled": None, "logits": None}
        if m.pooler is not None:
            out["pooled"] = []
        if m.head is not None:
            out["logits"] = []
    with torch.no_grad():
        for ids, types in sequences(a):
            if a.mlm:
                out["logits"].append(m(ids, types, torch.ones_like(ids))[0].tolist())
                continue
            seq, pooled, logits = m(ids, types, torch.ones_like(ids))
            out["cls"].append(seq[0, 0].tolist())
            if pooled is not None:
                out["pooled"].append(pooled[0].tolist())
            if logits is not None:
                out["logits"].append(logits[0].tolist())
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
