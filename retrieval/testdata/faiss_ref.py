#!/usr/bin/python3
"""Reference fixtures for package retrieval, made with Python FAISS (Debian python3-faiss 1.7.3) and numpy.

    /usr/bin/python3 retrieval/testdata/faiss_ref.py gen [outdir]    # (re)writes the committed fixtures
    /usr/bin/python3 retrieval/testdata/faiss_ref.py check DIR       # used by the Go tests (skipped without faiss)

`gen` writes, into outdir (default: this script's directory):
  base.emb, base_f16.emb, queries.emb  embedding shard files (format in retrieval/doc.go), written here
                                       independently of the Go writer;
  flat_ip.faiss, ivf_ip.faiss, hnsw_ip.faiss
                                       indexes written by faiss.write_index;
  expected.json                        faiss's own top-k for the queries on each index, plus float16 rounding
                                       cases (numpy's float32 -> float16 bits).

`check DIR` reads DIR/queries.emb and every DIR/*.faiss written by the Go side, searches them with faiss and
prints {name: {"scores": [[...]], "ids": [[...]]}} as JSON, with params read from DIR/params.json
({name: {"k": K, "nprobe": N, "efSearch": E}}). It also reads DIR/go.emb (written by Go) and prints its ids and
vectors under "go.emb", checking both checksums.
"""
import json
import os
import struct
import sys
import zlib

import numpy as np

MAGIC = b"RQAEMB\x00\n"
HEADER = 64
DTYPES = {1: np.dtype("<f4"), 2: np.dtype("<f2")}

N, DIM, NQ, K = 200, 32, 24, 10
SEED = 20240611


def write_emb(path, ids, vecs, dtype_code):
    vecs = np.ascontiguousarray(vecs, dtype=DTYPES[dtype_code])
    count, dim = vecs.shape
    assert len(ids) == count
    vec_bytes = vecs.tobytes()
    id_bytes = "".join(i + "\n" for i in ids).encode("utf-8")
    ids_off = HEADER + len(vec_bytes)
    header = MAGIC + struct.pack(
        "<IIIIQQQII8x", 1, dtype_code, dim, HEADER, count, ids_off, len(id_bytes),
        zlib.crc32(vec_bytes) & 0xFFFFFFFF, zlib.crc32(id_bytes) & 0xFFFFFFFF)
    assert len(header) == HEADER
    with open(path, "wb") as f:
        f.write(header + vec_bytes + id_bytes)


def read_emb(path):
    data = open(path, "rb").read()
    assert data[:8] == MAGIC, "bad magic"
    version, dtype_code, dim, hsize, count, ids_off, ids_len, vcrc, icrc = struct.unpack("<IIIIQQQII", data[8:56])
    assert version == 1 and hsize == HEADER
    dt = DTYPES[dtype_code]
    assert ids_off == HEADER + count * dim * dt.itemsize and ids_off + ids_len == len(data)
    vec_bytes, id_bytes = data[HEADER:ids_off], data[ids_off:]
    assert zlib.crc32(vec_bytes) & 0xFFFFFFFF == vcrc, "vector checksum"
    assert zlib.crc32(id_bytes) & 0xFFFFFFFF == icrc, "ids checksum"
    vecs = np.frombuffer(vec_bytes, dtype=dt).reshape(count, dim).astype(np.float32)
    ids = id_bytes.decode("utf-8").split("\n")[:-1]
    assert len(ids) == count
    return ids, vecs


def search(index, xq, k):
    D, I = index.search(xq, k)
    return {"scores": [[float(v) for v in row] for row in D], "ids": [[int(v) for v in row] for row in I]}


def gen(outdir):
    import faiss

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(SEED)
    xb = rng.standard_normal((N, DIM)).astype(np.float32)
    xq = rng.standard_normal((NQ, DIM)).astype(np.float32)
    pids = ["p%04d" % (1000 + 7 * i) for i in range(N)]
    pids[7] = "段落-7"  # a non-ASCII id
    qids = ["q%d" % i for i in range(NQ)]
    write_emb(os.path.join(outdir, "base.emb"), pids, xb, 1)
    write_emb(os.path.join(outdir, "base_f16.emb"), pids, xb, 2)
    write_emb(os.path.join(outdir, "queries.emb"), qids, xq, 1)

    expected = {"n": N, "dim": DIM, "nq": NQ, "k": K, "seed": SEED, "faiss_version": faiss.__version__}

    flat = faiss.IndexFlatIP(DIM)
    flat.add(xb)
    faiss.write_index(flat, os.path.join(outdir, "flat_ip.faiss"))
    expected["flat_ip"] = search(flat, xq, K)

    ivf = faiss.index_factory(DIM, "IVF8,Flat", faiss.METRIC_INNER_PRODUCT)
    ivf.train(xb)
    ivf.add(xb)
    faiss.write_index(ivf, os.path.join(outdir, "ivf_ip.faiss"))
    faiss.ParameterSpace().set_index_parameter(ivf, "nprobe", 3)
    expected["ivf_ip"] = dict(search(ivf, xq, K), nprobe=3)

    hnsw = faiss.index_factory(DIM, "HNSW8", faiss.METRIC_INNER_PRODUCT)
    hnsw.add(xb)
    faiss.write_index(hnsw, os.path.join(outdir, "hnsw_ip.faiss"))
    faiss.ParameterSpace().set_index_parameter(hnsw, "efSearch", 16)
    expected["hnsw_ip"] = dict(search(hnsw, xq, K), efSearch=16)

    # float16 rounding: random values over the whole range, halfway cases, subnormals, overflow edge.
    cases = np.concatenate([
        rng.standard_normal(64).astype(np.float32) * np.float32(3),
        np.exp2(rng.uniform(-26, 16, 64)).astype(np.float32) * rng.choice([-1, 1], 64).astype(np.float32),
        np.array([0.0, -0.0, 1.0, 65504.0, -65504.0, 65519.99, 2.0 ** -24, 2.0 ** -25, 3 * 2.0 ** -26,
                  2.0 ** -14, 1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11, 0.1, 1e-8], dtype=np.float32),
    ])
    expected["float16"] = {
        "f32_bits": [int(v) for v in cases.view(np.uint32)],
        "f16_bits": [int(v) for v in cases.astype(np.float16).view(np.uint16)],
    }
    with open(os.path.join(outdir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=None, separators=(",", ":"))
        f.write("\n")


def check(d):
    import faiss

    faiss.omp_set_num_threads(1)
    params = json.load(open(os.path.join(d, "params.json")))
    _, xq = read_emb(os.path.join(d, "queries.emb"))
    out = {}
    for name, p in params.items():
        index = faiss.read_index(os.path.join(d, name))
        ps = faiss.ParameterSpace()
        for key in ("nprobe", "efSearch"):
            if key in p:
                ps.set_index_parameter(index, key, p[key])
        out[name] = dict(search(index, xq, p["k"]), ntotal=int(index.ntotal), d=int(index.d),
                         metric=int(index.metric_type))
    ids, vecs = read_emb(os.path.join(d, "go.emb"))
    out["go.emb"] = {"ids": ids, "vecs": [float(v) for v in vecs.ravel()]}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "gen":
        gen(sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__)))
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        check(sys.argv[2])
    else:
        sys.exit(__doc__)
