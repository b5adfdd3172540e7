#!/usr/bin/python3
"""Regenerate encoder/testdata/ptbin/ (run with Debian's /usr/bin/python3, torch 1.13):

  /usr/bin/python3 encoder/testdata/gen_ptbin_fixtures.py

Each NAME.bin is a torch.save file; NAME.expected.safetensors holds contiguous copies of its tensors (written by the
pure-Python writer) and the key order in metadata["order"] (comma-separated). The Go test compares bytes exactly.

  mixed.bin   dict of float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8, bool tensors, a scalar,
              an empty tensor, a transposed (non-contiguous) tensor, a strided slice with a storage offset, two views
              sharing one storage, and an expanded arange like HF's position_ids (stride 0)
  module.bin  the OrderedDict of a real nn.Module's state_dict() (Linear, LayerNorm, Embedding, BatchNorm1d with
              its int64 num_batches_tracked; carries the _metadata attribute)
  proto4.bin  module.bin's state dict saved with pickle_protocol=4 (FRAME, MEMOIZE, SHORT_BINUNICODE, ...)
  legacy.bin  module.bin's state dict in the legacy non-zip format (_use_new_zipfile_serialization=False): must be
              refused with a conversion command (this one file is not byte-identical between runs: the legacy format
              records storage ids and system info)
"""
import collections
import os
import sys

sys.dont_write_bytecode = True  # keep testdata free of __pycache__

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "safetensors", "testdata"))
import pysafetensors as st  # noqa: E402

OUT = os.path.join(HERE, "ptbin")


def expected(name, sd):
    st.save_file({k: v.contiguous().clone() for k, v in sd.items()}, os.path.join(OUT, name + ".expected.safetensors"),
                 {"order": ",".join(sd.keys())})


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    base = torch.randn(4, 3, generator=g)
    grid = torch.randn(4, 6, generator=g)
    mixed = {
        "f32": torch.randn(3, 4, generator=g),
        "f16": torch.randn(5, generator=g).half(),
        "bf16": torch.randn(2, 3, generator=g).bfloat16(),
        "f64": torch.randn(2, generator=g).double(),
        "i64": torch.tensor([[-3, 2**40], [7, -(2**50)]]),
        "i32": torch.tensor([-5, 6, 2**31 - 1], dtype=torch.int32),
        "i16": torch.tensor([-300, 300], dtype=torch.int16),
        "i8": torch.tensor([-128, 5, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 200, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 4),
        "transposed": torch.randn(3, 5, generator=g).t(),
        "strided": grid[1::2, 1::3],
        "shared_a": base[0:2],
        "shared_b": base[1:].t(),
        "position_ids": torch.arange(6).expand((1, -1)),
    }
    assert not mixed["transposed"].is_contiguous() and not mixed["strided"].is_contiguous()
    assert mixed["shared_a"].storage().data_ptr() == mixed["shared_b"].storage().data_ptr()
    assert mixed["strided"].storage_offset() == 7
    torch.save(mixed, os.path.join(OUT, "mixed.bin"))
    expected("mixed", mixed)

    torch.manual_seed(3)
    mod = torch.nn.Sequential(collections.OrderedDict([
        ("emb", torch.nn.Embedding(5, 4, padding_idx=0)),
        ("lin", torch.nn.Linear(4, 3)),
        ("norm", torch.nn.LayerNorm(3)),
        ("bn", torch.nn.BatchNorm1d(3)),
    ]))
    mod(torch.tensor([1, 2, 3, 4]))  # [4, 3] into BatchNorm1d: trains its statistics
    sd = mod.state_dict()
    assert isinstance(sd, collections.OrderedDict) and hasattr(sd, "_metadata")
    torch.save(sd, os.path.join(OUT, "module.bin"))
    expected("module", sd)
    torch.save(sd, os.path.join(OUT, "proto4.bin"), pickle_protocol=4)
    torch.save(sd, os.path.join(OUT, "legacy.bin"), _use_new_zipfile_serialization=False)

    # Self-check: torch reads back what was written.
    for name in ("mixed", "module", "proto4"):
        back = torch.load(os.path.join(OUT, name + ".bin"))
        want = mixed if name == "mixed" else sd
        assert list(back.keys()) == list(want.keys())
        for k in want:
            assert torch.equal(back[k], want[k]), (name, k)


if __name__ == "__main__":
    main()
