# PyTorch reference for docs/method.md §3.6: does a tiny BERT cross-encoder (hidden 128, 2 layers, 4 heads, post-LN,
# init std 0.1) from random weights learn on the demo corpus's train/cross.train.tsv when its token types mark exact
# matches (a query character present in the passage: 2, a passage character present in the query: 3), against the
# plain segment types 0/1? It prints the dev MRR@10 of a dual encoder's top 50 re-ranked after every epoch.
# Characters are looked up in vocab.txt one by one (the demo's text is Chinese; ASCII words become [UNK] or letters,
# close to but not exactly the Go tokenizer).
#
#   /usr/bin/python3 match_types_ref.py plain|match THREADS SEED EPOCHS VOCAB DATA DEV_RUN_JSON
#   e.g. ... match 1 1 4 out/demo/vocab.txt data/demo out/demo/retrieval-final/dev.run.json
# Measured (seed 1, the demo's fp32 model from ICT, M_D(0) 21.69): plain 3.83 / 3.52 / 2.98 / 3.58 after epochs 1-4,
# match 53.17 / 53.80 / 54.22 / 54.08.
import json, sys, math, random, glob, time
import torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
MODE = sys.argv[1]  # plain | match
SEED = int(sys.argv[3]) if len(sys.argv) > 3 else 1
torch.manual_seed(SEED); random.seed(SEED)
VOCAB, D, RUN = sys.argv[5], sys.argv[6], sys.argv[7]
vocab = [l.rstrip('\n') for l in open(VOCAB, encoding='utf-8')]
vid = {w: i for i, w in enumerate(vocab)}
UNK, CLS, SEP, PAD = vid['[UNK]'], vid['[CLS]'], vid['[SEP]'], vid['[PAD]']
def toks(s):
    out = []
    for ch in s.lower():
        if ch.isspace(): continue
        out.append(vid.get(ch, UNK))
    return out
def encode(q, p, L=160):
    qt = toks(q)[:30]; pt = toks(p)[:L - len(qt) - 3]
    ids = [CLS] + qt + [SEP] + pt + [SEP]
    types = [0] * (len(qt) + 2) + [1] * (len(pt) + 1)
    if MODE == 'match':
        qs, ps = set(qt), set(pt)
        for i, t in enumerate(qt): types[1 + i] = 2 if t in ps and t != UNK else 0
        for i, t in enumerate(pt): types[len(qt) + 2 + i] = 3 if t in qs and t != UNK else 1
    return ids, types
train = []
for l in open(f'{D}/train/cross.train.tsv', encoding='utf-8'):
    q, t, p, y = l.rstrip('\n').split('\t'); train.append((q, p, int(y)))
paras = []
for f in sorted(glob.glob(f'{D}/passage-collection/part-*')):
    for l in open(f, encoding='utf-8'): paras.append(l.rstrip('\n').split('\t')[2])
p2id = json.load(open(f'{D}/passage-collection/passage2id.map.json'))
id2p = {v: paras[int(k)] for k, v in p2id.items()}
dev = [json.loads(l) for l in open(f'{D}/dev/dev.json', encoding='utf-8')]
run = json.load(open(RUN))
H, NL, NH, FF, TV = 128, 2, 4, 512, 4
class Bert(nn.Module):
    def __init__(s):
        super().__init__()
        s.we, s.pe, s.te = nn.Embedding(len(vocab), H), nn.Embedding(160, H), nn.Embedding(TV, H)
        s.ln = nn.LayerNorm(H, eps=1e-12)
        s.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(H, NH, FF, 0.0, activation='gelu', batch_first=True), NL)
        s.pool, s.cls = nn.Linear(H, H), nn.Linear(H, 2)
        for m in s.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)): nn.init.normal_(m.weight, std=0.1)
            if isinstance(m, nn.Linear) and m.bias is not None: nn.init.zeros_(m.bias)
    def forward(s, ids, types, mask):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        x = s.ln(s.we(ids) + s.pe(pos) + s.te(types))
        x = s.enc(x, src_key_padding_mask=~mask)
        return s.cls(torch.tanh(s.pool(x[:, 0])))
def batch(items):
    enc = [encode(q, p) for q, p in items]
    L = max(len(e[0]) for e in enc)
    ids = torch.tensor([e[0] + [PAD] * (L - len(e[0])) for e in enc])
    ty = torch.tensor([e[1] + [0] * (L - len(e[1])) for e in enc])
    mask = torch.tensor([[True] * len(e[0]) + [False] * (L - len(e[0])) for e in enc])
    return ids, ty, mask
m = Bert()
EPOCHS, B, LR = int(sys.argv[4]) if len(sys.argv) > 4 else 4, 32, 5e-4
steps = EPOCHS * (len(train) // B)
opt = torch.optim.AdamW(m.parameters(), lr=LR, weight_decay=0.01)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / (0.1 * steps), max(0.0, (steps - s) / (0.9 * steps))))
def rerank():
    m.eval(); tot = 0.0; n = 0
    with torch.no_grad():
        for d in dev:
            qid = d['question_id']; gold = {a['paragraph_id'] for a in d['answer_paragraphs']}
            cands = run.get(qid, [])[:50]
            if not cands: n += 1; continue
            sc = []
            for i in range(0, len(cands), 64):
                ids, ty, mk = batch([(d['question'], id2p[c]) for c in cands[i:i + 64]])
                sc += F.softmax(m(ids, ty, mk), -1)[:, 1].tolist()
            order = sorted(range(len(cands)), key=lambda i: -sc[i])
            for r, i in enumerate(order[:10]):
                if cands[i] in gold: tot += 1 / (r + 1); break
            n += 1
    m.train(); return 100 * tot / n
def base():
    tot = 0.0
    for d in dev:
        gold = {a['paragraph_id'] for a in d['answer_paragraphs']}
        for r, c in enumerate(run.get(d['question_id'], [])[:10]):
            if c in gold: tot += 1 / (r + 1); break
    return 100 * tot / len(dev)
print(MODE, 'seed', SEED, 'M_D(0) MRR@10 %.2f' % base(), flush=True)
t0 = time.time(); step = 0
for ep in range(EPOCHS):
    random.shuffle(train); losses = []
    for i in range(0, len(train) - B + 1, B):
        bt = train[i:i + B]
        ids, ty, mk = batch([(q, p) for q, p, _ in bt])
        y = torch.tensor([yy for _, _, yy in bt])
        loss = F.cross_entropy(m(ids, ty, mk), y)
        opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step(); sched.step(); step += 1
        losses.append(loss.item())
    print('epoch %d loss %.4f rerank MRR@10 %.2f (%.0fs)' % (ep + 1, sum(losses) / len(losses), rerank(), time.time() - t0), flush=True)
