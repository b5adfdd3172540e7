"""Plain-PyTorch re-statement of HuggingFace BertForMaskedLM (no `transformers`), on top of ref_bert.RefBert.

  bert:  RefBert without pooler (BertForMaskedLM builds BertModel(add_pooling_layer=False))
  cls.predictions (BertOnlyMLMHead -> BertLMPredictionHead):
         transform: h = LayerNorm(act(dense(x)))   act = config hidden_act, eps = layer_norm_eps
         decoder:   logits = h @ word_embeddings.weight^T + bias   (decoder weight TIED to the word embeddings,
                    decoder bias tied to cls.predictions.bias)

Tying is written functionally (F.linear with the embedding table), so the state dict holds exactly what HF's
save_pretrained writes to model.safetensors, which drops the shared duplicates cls.predictions.decoder.weight and
cls.predictions.decoder.bias: bert.* (no pooler), cls.predictions.transform.{dense,LayerNorm}.{weight,bias} and
cls.predictions.bias. load_state_dict(strict=True) therefore accepts exactly such a file.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ref_bert import Config, RefBert


class Transform(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.act = F.relu if c.hidden_act == "relu" else F.gelu

    def forward(self, x):
        return self.LayerNorm(self.act(self.dense(x)))


class Predictions(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transform = Transform(c)
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))


class Heads(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.predictions = Predictions(c)


class RefBertForMaskedLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bert = RefBert(c, with_pooler=False)
        self.cls = Heads(c)

    def forward(self, input_ids, token_type_ids, attention_mask):
        """Returns the vocabulary logits [B, L, V]."""
        x, _, _ = self.bert(input_ids, token_type_ids, attention_mask)
        h = self.cls.predictions.transform(x)
        return F.linear(h, self.bert.embeddings.word_embeddings.weight, self.cls.predictions.bias)

    def loss(self, input_ids, token_type_ids, attention_mask, labels):
        """HF's masked-LM loss: mean cross-entropy over the positions whose label is not -100."""
        logits = self.forward(input_ids, token_type_ids, attention_mask)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)


def from_state_dict(cfg_dict, sd, strict=True):
    m = RefBertForMaskedLM(Config(cfg_dict))
    m.load_state_dict(sd, strict=strict)
    return m
