#!/usr/bin/python3
"""Regenerate the tiny encoder fixtures (run with Debian's /usr/bin/python3, torch 1.13):

  /usr/bin/python3 encoder/testdata/gen_encoder_fixtures.py [OUT]

(OUT: the folder to write into, default encoder/testdata. When /usr/bin/python3 has torch, TestEncoderParityWithPyTorch
runs this script into a temporary folder and compares against the reference computed on the machine under test;
ROCKETQA_FIXTURES=committed makes it use the committed files.)

For two tiny random models, an ERNIE-like one (relu, eps 1e-5, type_vocab 4, model_type "ernie") and a BERT-like one
(gelu, eps 1e-12, type_vocab 2, model_type "bert"), both vocab 97, hidden 32, 2 layers, 4 heads, intermediate 64,
max_pos 40, writes a directory (tiny_ernie/, tiny_bert/) with

  config.json          HF-style config
  vocab.txt            97 tokens; ERNIE order [PAD]=0 [CLS]=1 [SEP]=2 [MASK]=3 [UNK]=4,
                       BERT order [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4
  model.safetensors    all parameters (std-0.2 random weights, LayerNorm weights 1 +- 0.2), pooler included, and a
                       CE v1 head classifier.{weight [2,H], bias [2]}
  expected.safetensors inputs input_ids / token_type_ids / attention_mask [3,7] int64 (rows of length 7, 5, 3,
                       padded with pad id 0); eval-mode outputs sequence_output [3,7,H], cls [3,H], pooled [3,H],
                       ce_v1_logits [3,2]; R [3,7,H], R2 [3,H]; loss (scalar) =
                       (sequence_output * R).sum() + (pooled * R2).sum(); and grad.<param> = d loss / d param for
                       EVERY parameter in model.safetensors (classifier grads are zero: the loss does not use it;
                       the pad row of word_embeddings has zero gradient: padding_idx as in HF)

and tiny_ernie_legacy/ holding the ERNIE weights as a zip-format torch.save(OrderedDict) pytorch_model.bin with legacy
names (ernie. prefix, LayerNorm.gamma/beta), an embeddings.position_ids buffer, an MLM head (cls.predictions.*), the
classifier and one weight stored as a non-contiguous (transposed) view; plus the same config.json and vocab.txt.

The script checks the reference encoder layers against torch.nn.TransformerEncoderLayer before writing anything.
"""
import collections
import json
import os
import shutil
import sys

sys.dont_write_bytecode = True  # keep testdata free of __pycache__

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "safetensors", "testdata"))

import pysafetensors as st  # noqa: E402
from ref_bert import Config, RefBert  # noqa: E402

CJK = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行"
    "学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然"
)
WORDS = (
    "the of and to in is was for on that with as by at from his it an were are which this be or has had first one "
    "their its new after who they two her she been other when time during there into school more years over only "
    "city some world would where later up such used many can state about national out known university united then "
    "made ##s ##ing ##ed ##ly ##er ##es ##al ##ion . , ' - ( ) : ; \" ! ? a b c d e f g"
).split()

SIZES = dict(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
             max_position_embeddings=40)


def configs():
    ernie = dict(SIZES, model_type="ernie", architectures=["ErnieModel"], hidden_act="relu", layer_norm_eps=1e-5,
                 type_vocab_size=4, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, pad_token_id=0,
                 initializer_range=0.02, use_task_id=False, task_type_vocab_size=3, torch_dtype="float32")
    bert = dict(SIZES, model_type="bert", architectures=["BertModel"], hidden_act="gelu", layer_norm_eps=1e-12,
                type_vocab_size=2, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, pad_token_id=0,
                initializer_range=0.02, position_embedding_type="absolute", torch_dtype="float32")
    ernie_vocab = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"] + list(CJK[:92])
    bert_vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS[:92]
    assert len(ernie_vocab) == 97 and len(set(ernie_vocab)) == 97, len(ernie_vocab)
    assert len(bert_vocab) == 97 and len(set(bert_vocab)) == 97, len(bert_vocab)
    return [("tiny_ernie", ernie, ernie_vocab, 101), ("tiny_bert", bert, bert_vocab, 202)]


def make_inputs(vocab, g):
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
    lengths = [7, 5, 3]
    ids = torch.zeros(3, 7, dtype=torch.int64)
    types = torch.zeros(3, 7, dtype=torch.int64)
    mask = torch.zeros(3, 7, dtype=torch.int64)
    for b, n in enumerate(lengths):
        body = [int(x) for x in torch.randint(5, len(vocab), (n - 2,), generator=g)]
        if n >= 5:  # [CLS] q.. [SEP] p.. [SEP]: query part type 0, passage part and last [SEP] type 1
            q = (n - 3) // 2
            row = [cls] + body[:q] + [sep] + body[q + 1:] + [sep]
            types[b, q + 2:n] = 1
        else:  # [CLS] q.. [SEP]
            row = [cls] + body + [sep]
        ids[b, :n] = torch.tensor(row)
        mask[b, :n] = 1
    return ids, types, mask


def cross_check(m, ids, types, mask):
    """Check the reference layers against torch.nn.TransformerEncoderLayer (post-LN, same weights)."""
    c = m.config
    x = m.embeddings(ids, types)
    ref = x
    for layer in m.encoder.layer:
        t = torch.nn.TransformerEncoderLayer(c.hidden_size, c.num_attention_heads, c.intermediate_size, dropout=0.0,
                                             activation=c.hidden_act, layer_norm_eps=c.layer_norm_eps,
                                             batch_first=True, norm_first=False)
        a = layer.attention
        with torch.no_grad():
            t.self_attn.in_proj_weight.copy_(torch.cat([a.self.query.weight, a.self.key.weight, a.self.value.weight]))
            t.self_attn.in_proj_bias.copy_(torch.cat([a.self.query.bias, a.self.key.bias, a.self.value.bias]))
            t.self_attn.out_proj.weight.copy_(a.output.dense.weight)
            t.self_attn.out_proj.bias.copy_(a.output.dense.bias)
            t.norm1.weight.copy_(a.output.LayerNorm.weight)
            t.norm1.bias.copy_(a.output.LayerNorm.bias)
            t.linear1.weight.copy_(layer.intermediate.dense.weight)
            t.linear1.bias.copy_(layer.intermediate.dense.bias)
            t.linear2.weight.copy_(layer.output.dense.weight)
            t.linear2.bias.copy_(layer.output.dense.bias)
            t.norm2.weight.copy_(layer.output.LayerNorm.weight)
            t.norm2.bias.copy_(layer.output.LayerNorm.bias)
        t.train(False)
        ref = t(ref, src_key_padding_mask=(mask == 0))  # grad enabled: the slow (reference) path
    ours, _, _ = m(ids, types, mask)
    err = (ours - ref).abs().max().item()
    assert err < 1e-5, "reference BERT disagrees with nn.TransformerEncoderLayer: %g" % err
    return err


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else HERE
    torch.set_num_threads(1)
    for dirname, cfgd, vocab, seed in configs():
        g = torch.Generator().manual_seed(seed)
        c = Config(cfgd)
        m = RefBert(c, with_pooler=True, head="v1")
        with torch.no_grad():
            for name, p in m.named_parameters():
                r = torch.randn(p.shape, generator=g)
                p.copy_(1.0 + 0.2 * r if name.endswith("LayerNorm.weight") else 0.2 * r)
        m.eval()
        ids, types, mask = make_inputs(vocab, g)
        err = cross_check(m, ids, types, mask)

        seq, pooled, logits = m(ids, types, mask)
        R = torch.randn(seq.shape, generator=g)
        R2 = torch.randn(pooled.shape, generator=g)
        loss = (seq * R).sum() + (pooled * R2).sum()
        names = [n for n, _ in m.named_parameters()]
        params = [p for _, p in m.named_parameters()]
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        assert float(seq[:, 0].std()) > 0.3 and float(pooled.abs().mean()) > 0.1, "activations too small"

        out = os.path.join(base, dirname)
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(cfgd, f, indent=2, sort_keys=True)
            f.write("\n")
        with open(os.path.join(out, "vocab.txt"), "w") as f:
            f.write("\n".join(vocab) + "\n")
        sd = {n: p.detach().clone() for n, p in m.named_parameters()}
        st.save_file(sd, os.path.join(out, "model.safetensors"), {"format": "pt"})
        exp = {
            "input_ids": ids, "token_type_ids": types, "attention_mask": mask,
            "sequence_output": seq.detach(), "cls": seq[:, 0].detach(), "pooled": pooled.detach(),
            "ce_v1_logits": logits.detach(), "R": R, "R2": R2, "loss": loss.detach(),
        }
        for n, p, gr in zip(names, params, grads):
            exp["grad." + n] = gr.detach() if gr is not None else torch.zeros_like(p)
        assert torch.count_nonzero(exp["grad.embeddings.word_embeddings.weight"][cfgd["pad_token_id"]]) == 0
        st.save_file(exp, os.path.join(out, "expected.safetensors"), {
            "mask_bias": str(-10000.0), "mode": "eval (no dropout)", "torch": torch.__version__,
            "loss": "(sequence_output*R).sum() + (pooled*R2).sum()",
        })
        print("%s: loss %.6f, |seq-TransformerEncoderLayer| %.2e" % (dirname, loss.item(), err))

        if dirname == "tiny_ernie":
            write_legacy(sd, cfgd, vocab, g, base)


def write_legacy(sd, cfgd, vocab, g, base):
    out = os.path.join(base, "tiny_ernie_legacy")
    os.makedirs(out, exist_ok=True)
    od = collections.OrderedDict()
    for n, t in sd.items():
        if n.startswith("classifier."):
            continue
        name = "ernie." + n
        if name.endswith("LayerNorm.weight"):
            name = name[: -len("weight")] + "gamma"
        elif name.endswith("LayerNorm.bias"):
            name = name[: -len("bias")] + "beta"
        if n == "encoder.layer.0.attention.self.query.weight":
            t = t.t().contiguous().t()  # same values, column-major strides
            assert not t.is_contiguous()
        od[name] = t
        if name == "ernie.embeddings.LayerNorm.beta":
            od["ernie.embeddings.position_ids"] = torch.arange(cfgd["max_position_embeddings"]).expand((1, -1))
    H, V = cfgd["hidden_size"], cfgd["vocab_size"]
    od["cls.predictions.bias"] = torch.randn(V, generator=g)
    od["cls.predictions.transform.dense.weight"] = torch.randn(H, H, generator=g)
    od["cls.predictions.transform.dense.bias"] = torch.randn(H, generator=g)
    od["classifier.weight"] = sd["classifier.weight"]
    od["classifier.bias"] = sd["classifier.bias"]
    torch.save(od, os.path.join(out, "pytorch_model.bin"))
    shutil.copy(os.path.join(base, "tiny_ernie", "config.json"), os.path.join(out, "config.json"))
    shutil.copy(os.path.join(base, "tiny_ernie", "vocab.txt"), os.path.join(out, "vocab.txt"))


if __name__ == "__main__":
    main()
