"""Minimal pure-Python safetensors reader/writer (the `safetensors` pip package is not available here).

Follows the format description at https://github.com/huggingface/safetensors:
8-byte little-endian header length N, N bytes of UTF-8 JSON (padded with spaces to a multiple of 8),
then the tensor bytes, contiguous, in the order of the sorted tensor names.

Used by the fixture scripts of this repository (safetensors/testdata, encoder/testdata) and by the
Go tests to check that files written by Go parse in Python.
"""
import json
import struct

import torch

DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}
TORCH = {v: k for k, v in DTYPES.items()}
SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def _tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()  # numpy is little endian on x86


def encode(tensors, metadata=None):
    """tensors: dict name -> torch.Tensor. Returns the file bytes."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    off = 0
    for name in sorted(tensors):
        t = tensors[name]
        b = _tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    hb = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    return struct.pack("<Q", len(hb)) + hb + b"".join(blobs)


def save_file(tensors, path, metadata=None):
    with open(path, "wb") as f:
        f.write(encode(tensors, metadata))


def load_file(path):
    """Strict reader: returns (dict name -> torch.Tensor, metadata). Raises ValueError on any deviation from the spec."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", data[:8])
    if n == 0 or 8 + n > len(data):
        raise ValueError("bad header length %d" % n)
    raw = data[8 : 8 + n]
    if not raw.startswith(b"{"):
        raise ValueError("header does not start with '{'")
    header = json.loads(raw.decode("utf-8"))
    meta = header.pop("__metadata__", None)
    buf = data[8 + n :]
    spans = []
    out = {}
    for name, info in header.items():
        dt = info["dtype"]
        shape = info["shape"]
        b, e = info["data_offsets"]
        numel = 1
        for d in shape:
            numel *= d
        if e - b != numel * SIZES[dt]:
            raise ValueError("%s: size mismatch" % name)
        spans.append((b, e, name))
        chunk = bytearray(buf[b:e])
        if dt == "BF16":
            t = torch.frombuffer(chunk, dtype=torch.int16).view(torch.bfloat16) if chunk else torch.zeros(0, dtype=torch.bfloat16)
        else:
            t = torch.frombuffer(chunk, dtype=TORCH[dt]) if chunk else torch.zeros(0, dtype=TORCH[dt])
        out[name] = t.reshape(shape).clone()
    pos = 0
    for b, e, name in sorted(spans):
        if b != pos:
            raise ValueError("%s: data not contiguous (begin %d, expected %d)" % (name, b, pos))
        pos = e
    if pos != len(buf):
        raise ValueError("data buffer has %d bytes, tensors cover %d" % (len(buf), pos))
    if n % 8 != 0:
        raise ValueError("header length %d is not a multiple of 8" % n)
    return out, meta
