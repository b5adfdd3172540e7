#!/usr/bin/python3
"""Read a safetensors file with the strict pure-Python reader and print its content as JSON
(name -> {dtype, shape, values as float64/int64 lists}, plus "__metadata__"). Used by the Go tests:

  /usr/bin/python3 safetensors/testdata/check_go_written.py FILE
"""
import json
import math
import sys

sys.dont_write_bytecode = True  # keep testdata free of __pycache__

import torch

import pysafetensors as st


def enc(x):
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return str(x)
    return x


def main():
    tensors, meta = st.load_file(sys.argv[1])
    out = {"__metadata__": meta}
    for name, t in tensors.items():
        vals = t.to(torch.float64 if t.is_floating_point() else torch.int64).reshape(-1).tolist()
        out[name] = {"dtype": st.DTYPES[t.dtype], "shape": list(t.shape), "values": [enc(v) for v in vals]}
    json.dump(out, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
