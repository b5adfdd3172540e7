"""Writes tiny PaddlePaddle-format fixtures for paddle/ and rocketqa/ConvertPaddle, without the paddle package.

The writer follows PaddlePaddle's C++ serialization as its source documents it (no Go code is involved):
  paddle/fluid/framework/lod_tensor.cc  SerializeToStream: uint32 version 0, uint64 lod_level, per level uint64
                                        byte size + size_t offsets, then the tensor;
  paddle/fluid/framework/tensor_util.cc TensorToStream: uint32 version 0, int32 size of the TensorDesc protobuf,
                                        the message, numel * sizeof(dtype) raw bytes;
  paddle/fluid/framework/framework.proto VarType.TensorDesc { required Type data_type = 1; repeated int64 dims = 2; }
                                        (proto2, unpacked: key 0x08 + varint, then key 0x10 + varint per dim).

Models follow the official RocketQA package (rocketqa/model/ernie.py, dual_encoder_predict.py,
cross_encoder_predict.py): variable names with the tower prefixes query_ / titlepara_ / qtp_, fc weights [in, out],
d_inner = 4 * hidden, post-LN with epsilon 1e-5, attention bias (mask m m^T - 1) * 10000, representation = [CLS].
The reference forward pass below is written from those files in plain PyTorch (float32), on unpadded single
sequences built with the official readers' conventions (reader_de_predict.py / reader_ce_predict.py).

Run from the repository root:  /usr/bin/python3 rocketqa/testdata/gen_paddle_fixtures.py
"""
import json
import math
import os
import shutil
import struct

import numpy as np
import torch

torch.manual_seed(0)
ROOT = os.path.dirname(os.path.abspath(__file__))
PADDLE_TD = os.path.join(ROOT, "..", "..", "paddle", "testdata")

DT = {"bool": 0, "int16": 1, "int32": 2, "int64": 3, "float16": 4, "float32": 5, "float64": 6,
      "uint8": 20, "int8": 21, "bfloat16": 22}


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tensor_desc(dtype_code, dims):
    msg = b"\x08" + varint(dtype_code)
    for d in dims:
        msg += b"\x10" + varint(d)
    return msg


def serialize(raw, dtype_code, dims, lod=()):
    out = struct.pack("<I", 0) + struct.pack("<Q", len(lod))
    for level in lod:
        out += struct.pack("<Q", 8 * len(level)) + struct.pack("<%dQ" % len(level), *level)
    desc = tensor_desc(dtype_code, dims)
    out += struct.pack("<I", 0) + struct.pack("<i", len(desc)) + desc + raw
    return out


def write_var(dirname, name, arr, dtype="float32"):
    """arr: a float32 torch tensor or numpy array; stored as dtype."""
    a = torch.as_tensor(np.asarray(arr, dtype=np.float32)) if not torch.is_tensor(arr) else arr.float()
    if dtype == "float32":
        raw = a.numpy().astype("<f4").tobytes()
    elif dtype == "float16":
        raw = a.numpy().astype("<f2").tobytes()
    elif dtype == "bfloat16":
        raw = a.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
    elif dtype == "float64":
        raw = a.numpy().astype("<f8").tobytes()
    else:
        raise ValueError(dtype)
    with open(os.path.join(dirname, name), "wb") as f:
        f.write(serialize(raw, DT[dtype], list(a.shape)))


def stored(a, dtype):
    """The float32 values a tensor has after a round trip through dtype."""
    if dtype == "float16":
        return a.half().float()
    if dtype == "bfloat16":
        return a.bfloat16().float()
    return a.float()


# ---------------------------------------------------------------- dtype / rank round trip (paddle package)

def gen_dtypes():
    d = os.path.join(PADDLE_TD, "dtypes")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    rng = np.random.default_rng(1)
    cases = []
    shapes = [[], [3], [2, 3], [2, 1, 3], [0, 4]]
    np_types = {"bool": "?", "int16": "<i2", "int32": "<i4", "int64": "<i8", "float16": "<f2", "float32": "<f4",
                "float64": "<f8", "uint8": "u1", "int8": "i1"}
    for dt in list(np_types) + ["bfloat16"]:
        for shape in shapes:
            n = int(np.prod(shape)) if shape else 1
            if dt in ("float16", "float32", "float64", "bfloat16"):
                v = rng.normal(0, 3, n).astype(np.float32)
                if n >= 3:
                    v[0], v[1] = 0.0, -1.5
                if dt == "bfloat16":
                    t = torch.tensor(v).bfloat16()
                    raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
                    vals = t.float().tolist()
                else:
                    a = v.astype(np_types[dt])
                    raw = a.tobytes()
                    vals = a.astype(np.float64).tolist()
            else:
                if dt == "bool":
                    a = rng.integers(0, 2, n).astype("?")
                else:
                    info = np.iinfo(np.dtype(np_types[dt]))
                    a = rng.integers(max(info.min, -(2 ** 40)), min(info.max, 2 ** 40), n, endpoint=True).astype(np_types[dt])
                    if n >= 2:
                        a[0], a[1] = info.min, info.max
                raw = a.tobytes()
                vals = [int(x) for x in a.tolist()]
            name = "%s_r%d_%s" % (dt, len(shape), "x".join(map(str, shape)) or "scalar")
            with open(os.path.join(d, name), "wb") as f:
                f.write(serialize(raw, DT[dt], shape))
            cases.append({"file": name, "dtype": dt, "dims": shape, "values": vals})
    # a tensor with two LoD levels
    lod = [[0, 2, 3], [0, 1, 3, 4]]
    a = np.arange(8, dtype="<f4")
    with open(os.path.join(d, "lod2_float32"), "wb") as f:
        f.write(serialize(a.tobytes(), DT["float32"], [4, 2], lod))
    cases.append({"file": "lod2_float32", "dtype": "float32", "dims": [4, 2], "values": a.astype(float).tolist(), "lod": lod})
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(cases, f, indent=0)


# ---------------------------------------------------------------- tiny ERNIE reference in Paddle terms

def layer_norm(x, g, b, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * g + b


def act(x, name):
    if name == "relu":
        return torch.relu(x)
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def ernie_forward(P, pre, cfg, ids, types, task_id=0):
    """Sequence output [L, H] of ErnieModel(model_name=pre) for one unpadded sequence."""
    L = len(ids)
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    dk = H // nh
    x = P[pre + "word_embedding"][ids] + P[pre + "pos_embedding"][torch.arange(L)] + P[pre + "sent_embedding"][types]
    if cfg.get("use_task_id"):
        x = x + P[pre + "task_embedding"][torch.full((L,), task_id)]
    x = layer_norm(x, P[pre + "pre_encoder_layer_norm_scale"], P[pre + "pre_encoder_layer_norm_bias"])
    for i in range(cfg["num_hidden_layers"]):
        n = "%sencoder_layer_%d" % (pre, i)

        def fc(h, nm):
            return h @ P[n + nm + ".w_0"] + P[n + nm + ".b_0"]

        q = fc(x, "_multi_head_att_query_fc").view(L, nh, dk).transpose(0, 1) * (dk ** -0.5)
        k = fc(x, "_multi_head_att_key_fc").view(L, nh, dk).transpose(0, 1)
        v = fc(x, "_multi_head_att_value_fc").view(L, nh, dk).transpose(0, 1)
        w = torch.softmax(q @ k.transpose(1, 2), dim=-1)
        ctx = (w @ v).transpose(0, 1).reshape(L, H)
        x = layer_norm(x + fc(ctx, "_multi_head_att_output_fc"),
                       P[n + "_post_att_layer_norm_scale"], P[n + "_post_att_layer_norm_bias"])
        h = fc(act(fc(x, "_ffn_fc_0"), cfg["hidden_act"]), "_ffn_fc_1")
        x = layer_norm(x + h, P[n + "_post_ffn_layer_norm_scale"], P[n + "_post_ffn_layer_norm_bias"])
    return x


def make_tower(pre, cfg, std=0.5):
    H = cfg["hidden_size"]
    I = 4 * H
    P = {}

    def r(*shape, s=std):
        return torch.randn(*shape) * s

    P[pre + "word_embedding"] = r(cfg["vocab_size"], H)
    P[pre + "pos_embedding"] = r(cfg["max_position_embeddings"], H)
    P[pre + "sent_embedding"] = r(cfg.get("sent_type_vocab_size") or cfg["type_vocab_size"], H)
    if cfg.get("use_task_id"):
        P[pre + "task_embedding"] = r(cfg["task_type_vocab_size"], H)
    P[pre + "pre_encoder_layer_norm_scale"] = 1 + r(H, s=0.1)
    P[pre + "pre_encoder_layer_norm_bias"] = r(H, s=0.1)
    for i in range(cfg["num_hidden_layers"]):
        n = "%sencoder_layer_%d" % (pre, i)
        for nm in ("query", "key", "value", "output"):
            P[n + "_multi_head_att_%s_fc.w_0" % nm] = r(H, H)
            P[n + "_multi_head_att_%s_fc.b_0" % nm] = r(H, s=0.1)
        P[n + "_ffn_fc_0.w_0"] = r(H, I)
        P[n + "_ffn_fc_0.b_0"] = r(I, s=0.1)
        P[n + "_ffn_fc_1.w_0"] = r(I, H, s=0.2)
        P[n + "_ffn_fc_1.b_0"] = r(H, s=0.1)
        for ln in ("post_att", "post_ffn"):
            P[n + "_%s_layer_norm_scale" % ln] = 1 + r(H, s=0.1)
            P[n + "_%s_layer_norm_bias" % ln] = r(H, s=0.1)
    return P


# ---------------------------------------------------------------- tokenization with the official conventions

class Vocab:
    def __init__(self, tokens):
        self.tokens = tokens
        self.id = {t: i for i, t in enumerate(tokens)}

    def tokenize(self, text, for_cn):
        # for_cn: reader_de_predict.py removes ' ' from each field; CJK characters are single tokens and
        # lower-cased words are whole tokens in these vocabularies (BERT BasicTokenizer + WordPiece).
        if for_cn:
            text = text.replace(" ", "")
            return [self.id[c] for c in text]
        return [self.id[w] for w in text.lower().split()]


def truncate_pair(a, b, max_len):
    a, b = list(a), list(b)
    while len(a) + len(b) > max_len:
        if len(a) > len(b):
            a.pop()
        else:
            b.pop()
    return a, b


def de_query(v, q, qmax, for_cn):
    _, t = truncate_pair([], v.tokenize(q, for_cn), qmax - 2)
    ids = [v.id["[CLS]"]] + t + [v.id["[SEP]"]]
    return ids, [0] * len(ids)


def de_para(v, title, para, pmax, for_cn):
    t, p = truncate_pair(v.tokenize(title, for_cn), v.tokenize(para, for_cn), pmax - 3)
    ids = [v.id["[CLS]"]] + t + [v.id["[SEP]"]] + p + [v.id["[SEP]"]]
    return ids, [0] * (len(t) + 2) + [1] * (len(p) + 1)


def ce_pair(v, q, title, para, maxlen, for_cn):
    a, b = truncate_pair(v.tokenize(q, for_cn), v.tokenize(title, for_cn) + v.tokenize(para, for_cn), maxlen - 3)
    ids = [v.id["[CLS]"]] + a + [v.id["[SEP]"]] + b + [v.id["[SEP]"]]
    return ids, [0] * (len(a) + 2) + [1] * (len(b) + 1)


SPECIAL = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"]
ZH_CHARS = list(dict.fromkeys("中国的首都是北京上海天气怎么样今天很好城市人口多少大学"))
EN_WORDS = ["what", "is", "the", "capital", "of", "china", "beijing", "paris", "france", "weather", "today",
            "city", "large", "a", "in", "population", "river", "long"]

ZH_Q = ["中国的首都", "上海 天气 怎么样", "北京 人口 多少 大学 城市 中国 的 首都"]
ZH_T = ["北京", "", "城市"]
ZH_P = ["北京是中国的首都", "今天 上海 天气 很好", "北京 是 大 城市 人口 很 多 中国 的 首都 是 北京 上海 天气 好"]
EN_Q = ["What is the capital of China", "weather in Paris today", "population of a large city"]
EN_T = ["Beijing", "", "city"]
EN_P = ["Beijing is the capital of China", "the weather in paris is a weather", "a city in China is large"]


def write_vocab(path, tokens, with_ids, rng):
    order = list(range(len(tokens)))
    if with_ids:
        rng.shuffle(order)  # explicit ids: the line order does not matter
    with open(path, "w", encoding="utf8") as f:
        for i in order:
            f.write("%s\t%d\n" % (tokens[i], i) if with_ids else tokens[i] + "\n")


def ernie_config(vocab_size, act_name, types, use_task_id=False):
    c = {"attention_probs_dropout_prob": 0.1, "hidden_act": act_name, "hidden_dropout_prob": 0.1,
         "hidden_size": 8, "initializer_range": 0.02, "max_position_embeddings": 24, "num_attention_heads": 2,
         "num_hidden_layers": 2, "vocab_size": vocab_size}
    if types == 2:
        c["type_vocab_size"] = 2
    else:
        c["sent_type_vocab_size"] = types
    if use_task_id:
        c["use_task_id"] = True
        c["task_type_vocab_size"] = 3
    return c


def save_ckpt(d, P, dtype, extra=()):
    os.makedirs(d, exist_ok=True)
    for k, v in P.items():
        write_var(d, k, v, dtype)
    for k, v in extra:
        write_var(d, k, v, "float32")


def gen_models():
    base = os.path.join(ROOT, "paddle")
    shutil.rmtree(base, ignore_errors=True)
    rng = np.random.default_rng(2)
    zh = Vocab(SPECIAL + ZH_CHARS)
    en = Vocab(SPECIAL + EN_WORDS)

    def dual(name, vocab, cfg, for_cn, share, dtype, vocab_ids, qmax=8, pmax=16, rq_cfg=True, extra_unused=True):
        d = os.path.join(base, name)
        os.makedirs(d)
        q_pre = "titlepara_" if share else "query_"
        Pq = make_tower(q_pre, cfg)
        Pp = Pq if share else make_tower("titlepara_", cfg)
        P = dict(Pq)
        P.update(Pp)
        extra = []
        if extra_unused:  # optimizer state save_persistables also writes: reported as unused
            extra = [(q_pre + "word_embedding_moment1_0", torch.zeros(cfg["vocab_size"], 8)),
                     ("learning_rate_0", torch.tensor([3e-5]))]
        ck = "params" if not rq_cfg else "step_100"
        save_ckpt(os.path.join(d, ck), P, dtype, extra)
        S = {k: stored(v, dtype) for k, v in P.items()}
        vocab_file = "vocab.txt" if not rq_cfg else ("zh_vocab.txt" if for_cn else "en_vocab.txt")
        write_vocab(os.path.join(d, vocab_file), vocab.tokens, vocab_ids, rng)
        conf_file = "ernie_config.json" if not rq_cfg else ("zh_config.json" if for_cn else "en_config.json")
        with open(os.path.join(d, conf_file), "w") as f:
            json.dump(cfg, f, indent=1)
        if rq_cfg:
            rc = {"model_type": "dual_encoder", "q_max_seq_len": qmax, "p_max_seq_len": pmax,
                  "model_conf_path": conf_file, "model_vocab_path": vocab_file, "model_checkpoint_path": ck,
                  "for_cn": for_cn, "share_parameter": int(share)}
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(rc, f, indent=1)
        Q, T, Pa = (ZH_Q, ZH_T, ZH_P) if for_cn else (EN_Q, EN_T, EN_P)
        out = {"queries": Q, "titles": T, "paras": Pa, "q_ids": [], "p_ids": [], "p_types": [], "pn_ids": [],
               "q_vecs": [], "p_vecs": [], "pn_vecs": [], "scores": []}
        for q in Q:
            ids, ty = de_query(vocab, q, qmax, for_cn)
            out["q_ids"].append(ids)
            out["q_vecs"].append(ernie_forward(S, q_pre, cfg, torch.tensor(ids), torch.tensor(ty))[0].tolist())
        for t, p in zip(T, Pa):
            ids, ty = de_para(vocab, t, p, pmax, for_cn)
            out["p_ids"].append(ids)
            out["p_types"].append(ty)
            out["p_vecs"].append(ernie_forward(S, "titlepara_", cfg, torch.tensor(ids), torch.tensor(ty))[0].tolist())
            ids, ty = de_para(vocab, "", p, pmax, for_cn)  # encode_para without titles
            out["pn_ids"].append(ids)
            out["pn_vecs"].append(ernie_forward(S, "titlepara_", cfg, torch.tensor(ids), torch.tensor(ty))[0].tolist())
        out["scores"] = [float(np.dot(a, b)) for a, b in zip(out["q_vecs"], out["p_vecs"])]
        with open(os.path.join(d, "expected.json"), "w") as f:
            json.dump(out, f)

    def cross(name, vocab, cfg, for_cn, v2, dtype, maxlen=20):
        d = os.path.join(base, name)
        os.makedirs(d)
        pre = "qtp_" if v2 else ""
        P = make_tower(pre, cfg)
        H = cfg["hidden_size"]
        if v2:
            P["qtp__cls_out_w"] = torch.randn(H, 1)
            P["qtp__cls_out_b"] = torch.randn(1) * 0.1
        else:
            P["pooled_fc.w_0"] = torch.randn(H, H) * 0.5
            P["pooled_fc.b_0"] = torch.randn(H) * 0.1
            P["_cls_out_w"] = torch.randn(H, 2)
            P["_cls_out_b"] = torch.randn(2) * 0.1
        save_ckpt(os.path.join(d, "step_7"), P, dtype)
        S = {k: stored(v, dtype) for k, v in P.items()}
        vf, cf = ("zh_vocab.txt", "zh_config.json") if for_cn else ("en_vocab.txt", "en_config.json")
        write_vocab(os.path.join(d, vf), vocab.tokens, for_cn, rng)
        with open(os.path.join(d, cf), "w") as f:
            json.dump(cfg, f, indent=1)
        rc = {"model_type": "cross_encoder", "max_seq_len": maxlen, "model_conf_path": cf, "model_vocab_path": vf,
              "model_checkpoint_path": "step_7", "for_cn": for_cn}
        if v2:
            rc["joint_training"] = 1
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(rc, f, indent=1)
        Q, T, Pa = (ZH_Q, ZH_T, ZH_P) if for_cn else (EN_Q, EN_T, EN_P)
        out = {"queries": Q, "titles": T, "paras": Pa, "ids": [], "scores": [], "scores_notitle": []}
        for key, titles in (("scores", T), ("scores_notitle", [""] * len(Q))):
            for q, t, p in zip(Q, titles, Pa):
                ids, ty = ce_pair(vocab, q, t, p, maxlen, for_cn)
                if key == "scores":
                    out["ids"].append(ids)
                cls = ernie_forward(S, pre, cfg, torch.tensor(ids), torch.tensor(ty))[0]
                if v2:
                    s = (cls @ S["qtp__cls_out_w"] + S["qtp__cls_out_b"])[0]
                else:
                    pooled = torch.tanh(cls @ S["pooled_fc.w_0"] + S["pooled_fc.b_0"])
                    s = torch.softmax(pooled @ S["_cls_out_w"] + S["_cls_out_b"], -1)[1]
                out[key].append(float(s))
        with open(os.path.join(d, "expected.json"), "w") as f:
            json.dump(out, f)

    # zh_dureader_de-like: ERNIE 1.0 (relu, 2 types), token\tid vocabulary, separate towers
    dual("zh_de", zh, ernie_config(len(zh.tokens), "relu", 2), True, False, "float32", True)
    # pair_marco_de-like: shared towers (titlepara_ only), ERNIE 2.0 en (gelu, 4 types, task embedding), fp16
    dual("pair_en_de", en, ernie_config(len(en.tokens) + 3, "gelu", 4, use_task_id=True), False, True, "float16", False)
    # ernie_base_1.0_twin_CN-like starting point: ernie_config.json + vocab.txt + params/, no RocketQA config
    dual("twin_init", zh, ernie_config(len(zh.tokens), "relu", 2), True, False, "float32", True,
         qmax=16, pmax=24, rq_cfg=False, extra_unused=False)
    # v1 cross-encoder (zh_dureader_ce-like): no prefix, pooled_fc + _cls_out_w/b [H, 2]
    cross("zh_ce_v1", zh, ernie_config(len(zh.tokens), "relu", 2), True, False, "float32")
    # v2 cross-encoder (v2_marco_ce-like): qtp_ prefix, raw [CLS] -> qtp__cls_out_w [H, 1]; bfloat16 storage
    cross("en_ce_v2", en, ernie_config(len(en.tokens), "gelu", 4), False, True, "bfloat16")


if __name__ == "__main__":
    os.makedirs(PADDLE_TD, exist_ok=True)
    gen_dtypes()
    gen_models()
    print("ok")
