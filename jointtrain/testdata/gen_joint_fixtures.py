#!/usr/bin/python3
"""Regenerate the joint-training loss fixtures (Debian's /usr/bin/python3, torch 1.13):

  /usr/bin/python3 jointtrain/testdata/gen_joint_fixtures.py

A plain-PyTorch re-statement of a RocketQA v2 training step on tiny models, with no dropout (eval mode):

  query tower   encoder/testdata/tiny_ernie (no pooler), passage tower encoder/testdata/tiny_bert (no pooler)
  ce_v2/        a cross-encoder with the v2 head (raw [CLS] -> dropout -> Linear(H, 1)) on random tiny_bert-sized
                weights (written here, with rocketqa.json joint_training true)
  ce_v1/        tiny_ernie's weights with its pooler and 2-class head (written here, rocketqa.json v1)

B = 2 lists of m = 3 rows of random token ids (queries, passages, pairs; lengths vary, padded with 0). For each case

  de[b, j] = <q_bj, p_bj> (q_bj the query of list b, encoded once per row, or once per list in "once" cases)
  ce[b, j] = the v2 logit, or z1 - z0 of the v1 head
  sup      = F.cross_entropy(ce, 0)
  official: kl = F.kl_div(log_softmax(de), softmax(ce).detach(), reduction="mean")
  seed:     kl = F.kl_div(log_softmax(de), softmax(ce), reduction="batchmean")
  paper:    kl = F.kl_div(log_softmax(ce), softmax(de), reduction="batchmean")      (KL(DE||CE))
  static:   the official loss with the cross-encoder under no_grad (no CE gradients)
  loss = sup + kl

writes joint.safetensors with the inputs and, per case, <case>.loss/.sup/.kl and <case>.grad.{q,p,ce}.<param> for
every parameter (cross-encoder gradients absent in the static case), plus sup_only.grad.ce.* (the gradients of
L_sup alone, which the official variant's cross-encoder gradients must equal).
"""
import json
import os
import shutil
import sys

sys.dont_write_bytecode = True

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "encoder", "testdata"))
sys.path.insert(0, os.path.join(ROOT, "safetensors", "testdata"))

import pysafetensors as st  # noqa: E402
from ref_bert import Config, RefBert  # noqa: E402

B, M = 2, 3


def load_tower(name):
    d = os.path.join(ROOT, "encoder", "testdata", name)
    cfg = json.load(open(os.path.join(d, "config.json")))
    sd = {k: v for k, v in st.load_file(os.path.join(d, "model.safetensors"))[0].items()
          if not k.startswith("pooler.") and not k.startswith("classifier.")}
    m = RefBert(Config(cfg), with_pooler=False)
    m.load_state_dict(sd, strict=True)
    return m, cfg, d


def write_ce(dirname, cfg, sd, vocab, v2):
    d = os.path.join(HERE, dirname)
    os.makedirs(d, exist_ok=True)
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)
    st.save_file({k: v.contiguous() for k, v in sd.items()}, os.path.join(d, "model.safetensors"))
    shutil.copy(vocab, os.path.join(d, "vocab.txt"))
    info = {"model_type": "cross_encoder", "max_seq_len": 16, "for_cn": True, "do_lower_case": True}
    if v2:
        info["joint_training"] = True
    json.dump(info, open(os.path.join(d, "rocketqa.json"), "w"), indent=2)


def rows(g, n, lo, hi, vocab, pair):
    lens = [int(x) for x in torch.randint(lo, hi + 1, (n,), generator=g)]
    L = max(lens)
    ids = torch.zeros(n, L, dtype=torch.int64)
    types = torch.zeros(n, L, dtype=torch.int64)
    mask = torch.zeros(n, L, dtype=torch.int64)
    for i, k in enumerate(lens):
        ids[i, :k] = torch.randint(5, vocab, (k,), generator=g)
        mask[i, :k] = 1
        if pair:
            types[i, k // 2:k] = 1
    return ids, types, mask, torch.tensor(lens, dtype=torch.int64)


def main():
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(2021)
    qt, qcfg, qdir = load_tower("tiny_ernie")
    pt, pcfg, _ = load_tower("tiny_bert")

    # ce_v2: random weights of tiny_bert's shape with a fresh 1-logit head on the raw [CLS]
    c2 = RefBert(Config(pcfg), with_pooler=False, head="v2")
    with torch.no_grad():
        for name, p in c2.named_parameters():
            r = torch.randn(p.shape, generator=g)
            p.copy_(1.0 + 0.2 * r if name.endswith("LayerNorm.weight") else 0.2 * r)
    write_ce("ce_v2", pcfg, c2.state_dict(), os.path.join(ROOT, "encoder", "testdata", "tiny_bert", "vocab.txt"), True)
    # ce_v1: tiny_ernie as stored (pooler + 2-class head)
    sd1 = st.load_file(os.path.join(qdir, "model.safetensors"))[0]
    c1 = RefBert(Config(qcfg), with_pooler=True, head="v1")
    c1.load_state_dict(sd1, strict=True)
    write_ce("ce_v1", qcfg, sd1, os.path.join(qdir, "vocab.txt"), False)

    q = rows(g, B, 3, 7, 97, False)
    p = rows(g, B * M, 4, 10, 97, True)
    c = rows(g, B * M, 6, 14, 97, True)
    out = {}
    for name, (ids, types, mask, lens) in (("q", q), ("p", p), ("c", c)):
        out[name + ".ids"], out[name + ".types"], out[name + ".len"] = ids, types, lens

    def step(case, variant, head, once):
        ce_model = c2 if head == "v2" else c1
        models = {"q": qt, "p": pt, "ce": ce_model}
        for m in models.values():
            m.eval()
            m.zero_grad(set_to_none=True)
        qids, qtypes, qmask, _ = q
        if not once:  # one query row per list line
            qids, qtypes, qmask = (x.repeat_interleave(M, 0) for x in (qids, qtypes, qmask))
        qv = qt(qids, qtypes, qmask)[0][:, 0]
        pv = pt(p[0], p[1], p[2])[0][:, 0]
        if once:
            de = (qv.unsqueeze(1) * pv.view(B, M, -1)).sum(-1)
        else:
            de = (qv * pv).sum(-1).view(B, M)

        def ce_scores():
            z = ce_model(c[0], c[1], c[2])[2]
            return (z[:, 1] - z[:, 0] if head == "v1" else z[:, 0]).view(B, M)

        if variant == "static":
            with torch.no_grad():
                ce = ce_scores()
        else:
            ce = ce_scores()
        target = torch.zeros(B, dtype=torch.int64)
        sup = F.cross_entropy(ce, target)
        if variant in ("official", "static"):
            kl = F.kl_div(F.log_softmax(de, 1), F.softmax(ce, 1).detach(), reduction="mean")
        elif variant == "seed":
            kl = F.kl_div(F.log_softmax(de, 1), F.softmax(ce, 1), reduction="batchmean")
        elif variant == "paper":
            kl = F.kl_div(F.log_softmax(ce, 1), F.softmax(de, 1), reduction="batchmean")
        elif variant == "sup_only":
            kl = torch.zeros(())
        loss = sup + kl
        loss.backward()
        out[case + ".loss"], out[case + ".sup"], out[case + ".kl"] = loss.detach(), sup.detach(), kl.detach()
        for tw, m in models.items():
            if tw == "ce" and variant == "static":
                continue
            for name, prm in m.named_parameters():
                grad = prm.grad if prm.grad is not None else torch.zeros_like(prm)
                out["%s.grad.%s.%s" % (case, tw, name)] = grad.clone()

    step("official", "official", "v2", False)
    step("seed", "seed", "v2", False)
    step("paper", "paper", "v2", False)
    step("static", "static", "v2", False)
    step("official_once", "official", "v2", True)
    step("official_v1", "official", "v1", False)
    step("sup_only", "sup_only", "v2", False)
    st.save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(HERE, "joint.safetensors"))
    print("wrote %d tensors; official loss %.6f (sup %.6f, kl %.6f)" % (
        len(out), out["official.loss"].item(), out["official.sup"].item(), out["official.kl"].item()))


if __name__ == "__main__":
    main()
