#!/usr/bin/python3
"""Regenerate safetensors/testdata fixtures (run with Debian's /usr/bin/python3, which has torch).

  /usr/bin/python3 safetensors/testdata/gen_fixtures.py

Writes:
  python_written.safetensors  every supported dtype, a scalar, an empty tensor and metadata, written by the
                              pure-Python writer in pysafetensors.py (JSON keys sorted, compact separators)
  python_written.json         the expected values (float values as float32 decoded by torch; "inf"/"-inf"/"nan"
                              as strings) for the Go reader test
"""
import json
import math
import os
import sys

sys.dont_write_bytecode = True  # keep testdata free of __pycache__

import torch

import pysafetensors as st

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    g = torch.Generator().manual_seed(1234)
    tensors = {
        "a.f32": torch.randn(2, 3, generator=g),
        "b.f16": torch.tensor([1.0, -2.5, 65504.0, 6e-8, float("inf"), -0.0, float("nan"), 0.1], dtype=torch.float16),
        "c.bf16": torch.randn(2, 2, generator=g).to(torch.bfloat16),
        "d.f64": torch.tensor([math.pi, -1e-3, 1e300], dtype=torch.float64),
        "e.i64": torch.tensor([[-1, 2**40], [0, -(2**62)]], dtype=torch.int64),
        "f.i32": torch.tensor([-7, 0, 2**31 - 1], dtype=torch.int32),
        "g.i8": torch.tensor([-128, 127, 0, -1], dtype=torch.int8),
        "h.u8": torch.tensor([0, 255, 17], dtype=torch.uint8),
        "i.bool": torch.tensor([True, False, True]),
        "j.scalar": torch.tensor(3.25),
        "k.empty": torch.zeros(0, 3),
    }
    meta = {"format": "pt", "source": "gen_fixtures.py"}
    st.save_file(tensors, os.path.join(HERE, "python_written.safetensors"), meta)

    def enc(x):
        if isinstance(x, float):
            if math.isnan(x):
                return "nan"
            if math.isinf(x):
                return "inf" if x > 0 else "-inf"
        return x

    expected = {"metadata": meta, "tensors": {}}
    for name, t in tensors.items():
        if t.is_floating_point():
            vals = t.to(torch.float32).reshape(-1).tolist()  # what Float32s must return
        else:
            vals = t.to(torch.int64).reshape(-1).tolist()
        expected["tensors"][name] = {
            "dtype": st.DTYPES[t.dtype],
            "shape": list(t.shape),
            "values": [enc(v) for v in vals],
        }
    with open(os.path.join(HERE, "python_written.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")

    # Self-check: the strict reader reads back the same values.
    back, m = st.load_file(os.path.join(HERE, "python_written.safetensors"))
    assert m == meta
    for name, t in tensors.items():
        assert back[name].dtype == t.dtype and list(back[name].shape) == list(t.shape), name
        assert torch.equal(back[name].nan_to_num(0.0), t.nan_to_num(0.0)), name


if __name__ == "__main__":
    main()
