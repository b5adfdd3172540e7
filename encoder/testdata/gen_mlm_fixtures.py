#!/usr/bin/python3
"""Regenerate the masked-LM fixture (run with Debian's /usr/bin/python3, torch 1.13):

  /usr/bin/python3 encoder/testdata/gen_mlm_fixtures.py

Writes tiny_mlm/: config.json and vocab.txt of tiny_bert (gelu, 97 tokens, hidden 32, 2 layers), dropout set to 0,
model.safetensors of a RefBertForMaskedLM (ref_mlm.py) with std-0.2 random weights (LayerNorm weights 1 +- 0.2,
random biases, MLM bias included) under HF BertForMaskedLM's names, and expected.safetensors with fixed inputs
input_ids / token_type_ids / attention_mask [3,7] (rows of 7, 5, 3 tokens), labels [3,7] (-100 except at 6
masked positions, some holding [MASK], one a random token, one the original token), the flat positions [6]
(row*7 + column) and their labels label_ids [6], masked_logits [6,97] (eval mode), loss (scalar, HF's MLM loss) and
grad.<param> = d loss / d param for every tensor in model.safetensors (the word embeddings get the gradient of
both their uses: input embedding and tied decoder).
"""
import json
import os
import shutil
import sys

sys.dont_write_bytecode = True

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "safetensors", "testdata"))

import pysafetensors as st  # noqa: E402
from ref_mlm import RefBertForMaskedLM  # noqa: E402
from ref_bert import Config  # noqa: E402


def main():
    torch.manual_seed(20261201)
    src = os.path.join(HERE, "tiny_bert")
    out = os.path.join(HERE, "tiny_mlm")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    cfg["architectures"] = ["BertForMaskedLM"]
    cfg["hidden_dropout_prob"] = 0.0
    cfg["attention_probs_dropout_prob"] = 0.0
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    shutil.copy(os.path.join(src, "vocab.txt"), os.path.join(out, "vocab.txt"))

    m = RefBertForMaskedLM(Config(cfg))
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.endswith("LayerNorm.weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.2 * torch.randn_like(p))
    m.eval()
    sd = {k: v.detach().clone() for k, v in m.state_dict().items()}
    st.save_file(sd, os.path.join(out, "model.safetensors"), {"format": "pt"})

    ids = torch.tensor([[2, 10, 4, 12, 4, 30, 3], [2, 4, 21, 3, 60, 0, 0], [2, 4, 3, 0, 0, 0, 0]])
    types = torch.tensor([[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0, 0]])
    mask = (torch.arange(7)[None, :] < torch.tensor([7, 5, 3])[:, None]).long()
    labels = torch.full((3, 7), -100, dtype=torch.long)
    # [MASK] (id 4) at (0,2) (0,4) (1,1) (2,1); a random replacement at (0,5); an unchanged token at (1,4)
    for (r, c), y in {(0, 2): 17, (0, 4): 40, (0, 5): 55, (1, 1): 9, (1, 4): 60, (2, 1): 13}.items():
        labels[r, c] = y
    flat = (labels.view(-1) != -100).nonzero().view(-1)
    loss = m.loss(ids, types, mask, labels)
    loss.backward()
    with torch.no_grad():
        logits = m(ids, types, mask).view(-1, cfg["vocab_size"])[flat]
    exp = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask, "labels": labels, "positions": flat,
           "label_ids": labels.view(-1)[flat], "masked_logits": logits, "loss": loss.detach()}
    for n, p in m.named_parameters():
        exp["grad." + n] = p.grad.detach().clone()
    st.save_file(exp, os.path.join(out, "expected.safetensors"))
    print("loss", loss.item(), "tensors", len(sd))


if __name__ == "__main__":
    main()
