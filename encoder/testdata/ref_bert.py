"""Plain-PyTorch reference BERT/ERNIE encoder with HuggingFace parameter names (no `transformers`).

This is the numerical reference for the Go encoder (spec sections 2.1, 2.3 and 9.2):

  embeddings:  x = LayerNorm(word[ids] + position[0..L-1] + token_type[types]) -> dropout
  each layer (post-LN):
               a = softmax(Q K^T / sqrt(d_head) + mask_bias) V          (per head; dropout on the probabilities)
               x = LayerNorm(x + dropout(W_o a + b_o))
               x = LayerNorm(x + dropout(W_2 act(W_1 x + b_1) + b_2))  act = relu or exact (erf) gelu
  pooler:      tanh(W_p x[:, 0] + b_p)
  heads:       CE v1: pooled -> dropout(0.1) -> Linear(H, 2)  named classifier.{weight,bias}
               CE v2: x[:, 0] (raw CLS) -> dropout(0.1) -> Linear(H, 1)  named classifier.{weight,bias}

Attention mask: an additive key bias (1 - mask) * -10000.0, broadcast over heads and query positions, as in the
Paddle ERNIE code and HF BERT before it switched to torch.finfo(dtype).min. With either constant exp(bias) underflows
to exactly 0 in float32, so results agree to the last bit in practice (and at the 1e-7 level in any case).

word_embeddings is created with padding_idx=pad_token_id like HF's BertEmbeddings: the forward pass uses the
stored row of the pad id as is, but its gradient is always zero.

Parameter names equal HF BertModel's state_dict without a prefix (embeddings.*, encoder.layer.{i}.*, pooler.*),
plus classifier.* when a head is attached. There are no buffers (no position_ids), so
load_state_dict(strict=True) accepts exactly the tensors a Go SaveDir writes.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

MASK_BIAS = -10000.0


class Config:
    """The config.json fields the encoder uses, with HF BertConfig defaults."""

    def __init__(self, d):
        self.model_type = d.get("model_type", "bert")
        self.vocab_size = d["vocab_size"]
        self.hidden_size = d["hidden_size"]
        self.num_hidden_layers = d["num_hidden_layers"]
        self.num_attention_heads = d["num_attention_heads"]
        self.intermediate_size = d["intermediate_size"]
        self.hidden_act = d.get("hidden_act", "gelu")
        self.hidden_dropout_prob = d.get("hidden_dropout_prob", 0.1)
        self.attention_probs_dropout_prob = d.get("attention_probs_dropout_prob", 0.1)
        self.max_position_embeddings = d["max_position_embeddings"]
        self.type_vocab_size = d.get("type_vocab_size", 2)
        self.layer_norm_eps = d.get("layer_norm_eps", 1e-12)
        self.pad_token_id = d.get("pad_token_id", 0)
        if self.hidden_act not in ("relu", "gelu"):
            raise ValueError("hidden_act %r not supported" % self.hidden_act)
        if d.get("use_task_id"):
            raise ValueError("use_task_id not supported")


class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids):
        L = input_ids.shape[1]
        pos = torch.arange(L, device=input_ids.device).unsqueeze(0)
        x = self.word_embeddings(input_ids) + self.position_embeddings(pos) + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


class SelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.num_heads = c.num_attention_heads
        self.head_dim = c.hidden_size // c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout = nn.Dropout(c.attention_probs_dropout_prob)

    def forward(self, x, bias):
        B, L, H = x.shape

        def heads(t):
            return t.view(B, L, self.num_heads, self.head_dim).transpose(1, 2)  # [B, nh, L, dh]

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + bias  # bias [B, 1, 1, L]
        probs = self.dropout(torch.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(B, L, H)
        return ctx


class AddNorm(nn.Module):
    """dense, dropout, residual add and LayerNorm: HF's BertSelfOutput (d_in = hidden) and BertOutput (d_in =
    intermediate), which differ only in the width of their input."""

    def __init__(self, c, d_in):
        super().__init__()
        self.dense = nn.Linear(d_in, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, h, x):
        return self.LayerNorm(x + self.dropout(self.dense(h)))


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = SelfAttention(c)
        self.output = AddNorm(c, c.hidden_size)

    def forward(self, x, bias):
        return self.output(self.self(x, bias), x)


class Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.act = F.relu if c.hidden_act == "relu" else F.gelu  # F.gelu default = exact erf GELU

    def forward(self, x):
        return self.act(self.dense(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = AddNorm(c, c.intermediate_size)

    def forward(self, x, bias):
        x = self.attention(x, bias)
        return self.output(self.intermediate(x), x)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c) for _ in range(c.num_hidden_layers)])

    def forward(self, x, bias):
        for layer in self.layer:
            x = layer(x, bias)
        return x


class Pooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


class RefBert(nn.Module):
    """BERT/ERNIE encoder with optional pooler and cross-encoder head.

    head: None, "v1" (pooler -> dropout -> Linear(H, 2)) or "v2" (raw CLS -> dropout -> Linear(H, 1)).
    forward returns (sequence_output [B, L, H], pooled [B, H] or None, logits or None).
    """

    def __init__(self, c, with_pooler=True, head=None):
        super().__init__()
        if head == "v1" and not with_pooler:
            raise ValueError("the v1 head needs the pooler")
        self.config = c
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)
        self.pooler = Pooler(c) if with_pooler else None
        self.head = head
        if head is not None:
            self.cls_dropout = nn.Dropout(0.1)
            self.classifier = nn.Linear(c.hidden_size, 2 if head == "v1" else 1)

    def forward(self, input_ids, token_type_ids, attention_mask):
        bias = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * MASK_BIAS
        x = self.encoder(self.embeddings(input_ids, token_type_ids), bias)
        pooled = self.pooler(x) if self.pooler is not None else None
        logits = None
        if self.head == "v1":
            logits = self.classifier(self.cls_dropout(pooled))
        elif self.head == "v2":
            logits = self.classifier(self.cls_dropout(x[:, 0]))
        return x, pooled, logits


def from_state_dict(cfg_dict, sd, strict=True):
    """Build a RefBert whose pooler/head match the tensors present in sd and load them (strict by default)."""
    c = Config(cfg_dict)
    head = None
    if "classifier.weight" in sd:
        head = "v1" if sd["classifier.weight"].shape[0] == 2 else "v2"
    m = RefBert(c, with_pooler="pooler.dense.weight" in sd, head=head)
    m.load_state_dict(sd, strict=strict)
    return m
