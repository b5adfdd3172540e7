#!/usr/bin/python3
"""Generates the fixtures of rocketqa/denoise's tests: a tiny MS MARCO-like corpus, labelled and unlabelled
queries, dual-encoder runs, cross-encoder scores of their top 50, and the outputs expected from the rules of the
official RocketQA scripts construct_marco_train_de.py (step 3) and construct_unlabel_train_de.py (step 4), as
docs/method.md §3.3-3.4 states them. This is an independent re-statement of those rules in Python,
used as the reference the Go code is compared with.

The random fill of step 3 cannot be matched draw for draw (Python's Mersenne Twister against Go's PCG), so for
step 3 the script writes the exact output with the fill disabled, and for the default settings the CE-selected
negatives, the number of fill picks and the pool they must come from (expected.mine.json).

Run from anywhere: /usr/bin/python3 rocketqa/denoise/testdata/gen_fixtures.py
"""
import json
import os
import random

OUT = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20210601)

NEG_CNT = 4  # negatives per positive (step 3) / per query (step 4, MS MARCO)
TOPK = 50  # ranks scored by the cross-encoder
FILL_FROM, FILL_TO = 51, 1000
DEPTH = 80  # depth of the labelled dual-encoder run (ranks 51..80 are the fill range here)
NEG_T, POS_T = 0.1, 0.9

WORDS = ("alpha beta gamma delta river stone cloud light paper glass music field train winter summer "
         "market garden silver copper ocean island bridge castle forest valley desert").split()


def words(n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


# --- corpus: pids 1..399 (1 to 3 digits, so some pids are substrings of others, as in the real corpora) --------
PIDS = [str(i) for i in range(1, 400)]
para = {p: "passage %s %s" % (p, words(8)) for p in PIDS}
title = {p: ("-" if int(p) % 5 == 0 else "title %s %s" % (p, words(2))) for p in PIDS}


def write(name, lines):
    with open(os.path.join(OUT, name), "w") as f:
        for line in lines:
            f.write(line + "\n")


write("para.txt", ["%s\t%s" % (p, para[p]) for p in PIDS])
write("para.title.txt", ["%s\t%s" % (p, title[p]) for p in PIDS])


def score_low():  # a confident negative
    return round(rng.uniform(0.0, 0.0999), 4)


def score_high():  # not a confident negative
    return round(rng.uniform(0.1001, 0.89), 4)


def fmt(s):
    return ("%.4f" % s).rstrip("0").rstrip(".") if s not in (0.1, 0.9) else str(s)


# --- labelled queries --------------------------------------------------------------------------------------------
# Each entry: qid -> dict(pos=[...], add=[...], ranked=[(pid, score or None)] for ranks 1..DEPTH (score only for
# the top TOPK; None = not scored by the CE)).
def ranked_list(fixed=None, p_low=0.4, unscored=(), depth=DEPTH):
    """A depth-long ranking of distinct pids; fixed maps rank -> (pid, score) placed by hand; ranks past TOPK and
    those in unscored are not scored by the CE (score None), the others get a low score with probability p_low."""
    fixed = fixed or {}
    taken = {pid for pid, _ in fixed.values()}
    pool = [p for p in PIDS if p not in taken]
    rng.shuffle(pool)
    out = []
    for r in range(1, depth + 1):
        if r in fixed:
            out.append(fixed[r])
            continue
        pid = pool.pop()
        if r > TOPK or r in unscored:
            out.append((pid, None))
        else:
            out.append((pid, score_low() if rng.random() < p_low else score_high()))
    return out


def pick_pids(n, avoid=()):
    pool = [p for p in PIDS if p not in avoid]
    return rng.sample(pool, n)


labelled = {}
# q1: one positive at rank 3; ranks 1-2 are a CE score of exactly 0.1 (not a negative) and a high one.
p = pick_pids(1)
labelled["q1"] = dict(pos=p, add=[], ranked=ranked_list({1: (pick_pids(1, p)[0], 0.1), 3: (p[0], 0.97)}, p_low=0.5))
# q2: two positives, an additional positive with a low CE score at rank 2, few confident negatives -> fill.
p = pick_pids(3)
pos, add = p[:2], p[2:]
labelled["q2"] = dict(pos=pos, add=add, ranked=ranked_list({1: (pos[0], 0.99), 2: (add[0], 0.01), 7: (pos[1], 0.05)},
                                                          p_low=0.1))
# q3: three positives (one not retrieved), several unscored candidates in the top 50.
p = pick_pids(3)
labelled["q3"] = dict(pos=p, add=[], ranked=ranked_list({4: (p[0], 0.6), 9: (p[1], 0.02)}, p_low=0.5,
                                                         unscored=(2, 5, 6, 11, 12, 13)))
# q4: retrieved but without positives -> skipped.
labelled["q4"] = dict(pos=[], add=[], ranked=ranked_list(p_low=0.5))
# q5: positives but not retrieved -> skipped.
labelled["q5"] = dict(pos=pick_pids(1), add=[], ranked=None)
# q6: no confident negative in the top 50 -> everything from the fill.
labelled["q6"] = dict(pos=pick_pids(1), add=[], ranked=ranked_list(p_low=0.0))
# q7: a positive and an additional positive inside the fill range; nothing confident in the top 50.
p = pick_pids(3)
labelled["q7"] = dict(pos=p[:2], add=p[2:], ranked=ranked_list({55: (p[1], None), 60: (p[2], None)}, p_low=0.0))
# q8..q12: random.
for i in range(8, 13):
    labelled["q%d" % i] = dict(pos=pick_pids(rng.randint(1, 2)), add=[], ranked=ranked_list(p_low=rng.uniform(0.1, 0.6)))

qids = list(labelled)
queries = {q: "query %s %s" % (q, words(4)) for q in qids}
write("train.query.txt", ["%s\t%s" % (q, queries[q]) for q in qids])
write("qrels.train.tsv", ["%s\t%s" % (q, p) for q in qids for p in labelled[q]["pos"]])
write("qrels.train.addition.tsv", ["%s\t%s" % (q, p) for q in qids for p in labelled[q]["add"]])
de_lines, ce_lines = [], []
for q in qids:
    ranked = labelled[q]["ranked"]
    if ranked is None:
        continue
    for r, (pid, s) in enumerate(ranked, 1):
        de_lines.append("%s\t%s\t%d\t%.4f" % (q, pid, r, 100.0 - r * 0.5))
        if s is not None:
            ce_lines.append("%s\t%s\t%d\t%s" % (q, pid, r, fmt(s)))
write("de.run.tsv", de_lines)
# The CE run is written sorted by CE score (as a re-ranker would): its rank column is the CE rank, not the DE one.
ce_by_q = {}
for line in ce_lines:
    ce_by_q.setdefault(line.split("\t")[0], []).append(line.split("\t"))
ce_sorted = []
for q in ce_by_q:
    rows = sorted(ce_by_q[q], key=lambda c: -float(c[3]))
    ce_sorted += ["%s\t%s\t%d\t%s" % (c[0], c[1], i, c[3]) for i, c in enumerate(rows, 1)]
write("ce.run.tsv", ce_sorted)


def line(q, pos, neg):
    return "%s\t%s\t%s\t%s\t%s\t0" % (queries_all[q], title[pos], para[pos], title[neg], para[neg])


def mine_ce(q):
    """Step 3, CE filter part: negatives from the top TOPK, in rank order."""
    d = labelled[q]
    want = NEG_CNT * len(d["pos"])
    sel = []
    for r, (pid, s) in enumerate(d["ranked"][:TOPK], 1):
        if len(sel) == want:
            break
        if pid in d["pos"] or pid in d["add"] or pid in sel:
            continue
        if s is not None and s < NEG_T:
            sel.append(pid)
    pool = [pid for pid, _ in d["ranked"][FILL_FROM - 1:FILL_TO]
            if pid not in d["pos"] and pid not in d["add"] and pid not in sel]
    return sel, min(want - len(sel), len(pool)), pool


queries_all = dict(queries)
nofill = []
expected = {}
for q in qids:
    d = labelled[q]
    if not d["pos"] or d["ranked"] is None:
        continue
    sel, fill, pool = mine_ce(q)
    expected[q] = dict(positives=d["pos"], ce_negatives=sel, fill=fill, fill_pool=pool)
    negs = list(sel)
    for _ in range(NEG_CNT):
        for p in d["pos"]:
            if negs:
                nofill.append(line(q, p, negs.pop()))
write("expected.mine.nofill.tsv", nofill)
with open(os.path.join(OUT, "expected.mine.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write("\n")

# --- unlabelled queries (step 4) -----------------------------------------------------------------------------------
def ranked50(fixed=None, p_low=0.4, unscored=()):
    """A TOPK-long ranking, all of it in the CE's reach (see ranked_list)."""
    return ranked_list(fixed, p_low, unscored, depth=TOPK)


unl = {}
unl["u1"] = ranked50({4: ("17", 0.95)}, p_low=0.5)  # a clear pseudo-positive, many negatives
unl["u2"] = ranked50({3: ("18", 0.9)}, p_low=0.5)  # best score exactly 0.9 -> no pseudo-positive
unl["u3"] = ranked50({2: ("19", 0.99)}, p_low=0.0)  # pseudo-positive but no negative
unl["u4"] = ranked50({2: ("21", 0.97), 5: ("22", 0.97), 9: ("23", 0.93)}, p_low=0.5)  # tie: rank 2 wins
# The substring case: the pseudo-positive is "123"; "12" and "3" are confident negatives that the official
# `_pid in pos_qp[qid]` test would drop.
unl["u5"] = ranked50({1: ("12", 0.03), 2: ("123", 0.96), 3: ("3", 0.05), 4: ("45", 0.5)}, p_low=0.2)
unl["u6"] = ranked50({1: ("31", 0.92), 10: ("32", 0.04), 20: ("33", 0.06)}, p_low=0.0)  # only two negatives
unl["u7"] = ranked50({1: ("41", 0.91), 2: ("42", 0.1), 3: ("43", 0.0999)}, p_low=0.0)  # 0.1 itself is not a neg
unl["u8"] = None  # no candidates
unl["u9"] = ranked50({6: ("51", 0.98)}, p_low=0.6, unscored=(1, 2, 3))  # unscored candidates are not negatives
for i in range(10, 14):
    unl["u%d" % i] = ranked50(p_low=0.4)
    if rng.random() < 0.75:  # most get a pseudo-positive
        r = rng.randint(1, TOPK)
        unl["u%d" % i][r - 1] = (unl["u%d" % i][r - 1][0], round(rng.uniform(0.91, 0.999), 4))

uqids = list(unl)
uqueries = {q: "unlabelled %s %s" % (q, words(4)) for q in uqids}
queries_all.update(uqueries)
write("unlabel.query.txt", ["%s\t%s" % (q, uqueries[q]) for q in uqids])
de_lines, ce_lines = [], []
for q in uqids:
    if unl[q] is None:
        continue
    for r, (pid, s) in enumerate(unl[q], 1):
        de_lines.append("%s\t%s\t%d\t%.4f" % (q, pid, r, 50.0 - r * 0.25))
        if s is not None:
            ce_lines.append("%s\t%s\t%d\t%s" % (q, pid, r, fmt(s)))
write("unlabel.de.run.tsv", de_lines)
write("unlabel.ce.run.tsv", ce_lines)


def augment(ranked, substring_bug=False):
    best, pos = POS_T, None
    for pid, s in ranked:
        if s is not None and s > best:
            best, pos = s, pid
    if pos is None:
        return None, []
    negs = []
    for pid, s in ranked:
        if len(negs) == NEG_CNT:
            break
        excluded = (pid in pos) if substring_bug else (pid == pos)
        if excluded or pid in negs:
            continue
        if s is not None and s < NEG_T:
            negs.append(pid)
    return pos, negs


aug, bug_diff = [], []
for q in uqids:
    if unl[q] is None:
        continue
    pos, negs = augment(unl[q])
    _, negs_bug = augment(unl[q], substring_bug=True)
    bug_diff += [[q, n] for n in negs if n not in negs_bug]
    for n in negs:
        aug.append(line(q, pos, n))
write("expected.augment.tsv", aug)
with open(os.path.join(OUT, "expected.augment.json"), "w") as f:
    json.dump({"kept_despite_official_substring_test": bug_diff}, f, indent=1)
    f.write("\n")
