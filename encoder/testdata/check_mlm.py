#!/usr/bin/python3
"""Load a saved masked-LM directory into the BertForMaskedLM re-statement and print its logits as JSON.

  /usr/bin/python3 encoder/testdata/check_mlm.py DIR --ids 2,5,4,3 [--types 0,0,0,0] [--ids ...]

DIR must hold config.json and model.safetensors with HF BertForMaskedLM's names. The weights are loaded with
load_state_dict(strict=True) into ref_mlm.RefBertForMaskedLM (tied decoder), so any missing, unexpected or misshapen
tensor is an error (exit status 1). Prints {"logits": [[L x V floats] per sequence]} in eval mode.
"""
import argparse
import json
import os
import sys

sys.dont_write_bytecode = True

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "safetensors", "testdata"))

import pysafetensors as st  # noqa: E402
from ref_mlm import from_state_dict  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--ids", action="append", required=True)
    ap.add_argument("--types", action="append", default=[])
    a = ap.parse_args()
    with open(os.path.join(a.dir, "config.json")) as f:
        cfg = json.load(f)
    sd, _ = st.load_file(os.path.join(a.dir, "model.safetensors"))
    m = from_state_dict(cfg, sd, strict=True)
    m.eval()
    out = {"logits": []}
    with torch.no_grad():
        for i, s in enumerate(a.ids):
            ids = torch.tensor([[int(x) for x in s.split(",")]])
            types = torch.zeros_like(ids)
            if i < len(a.types):
                types = torch.tensor([[int(x) for x in a.types[i].split(",")]])
            out["logits"].append(m(ids, types, torch.ones_like(ids))[0].tolist())
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
