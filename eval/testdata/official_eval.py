#!/usr/bin/python3
"""Reference for the Go eval package: a re-statement, in our own code, of the
logic of the official evaluation scripts as described in docs/method.md §6.3 and §7:

  * DuReader-retrieval  research/DuReader-Retrieval-Baseline/metric/evaluation.py
    (docs/method.md §6.3): reference = dev.json JSON lines, question_id -> list of
    answer_paragraphs[*].paragraph_id (repeated ids append); candidate = one JSON
    object {qid: [pid, ...]}, the first 50 pids copied into 50 slots padded with
    the int 0; a pid ranked twice (0 excepted) is flagged, not fatal; metrics over
    candidate qids that are in the reference; every metric divided by the number
    of reference queries; QueriesRanked = number of candidate queries.
  * MS MARCO  research/*/metric/msmarco_eval.py (docs/method.md §7): reference "qid\\tpid"
    lines (ints); candidate "qid\\tpid\\trank" lines stored at slot rank-1 of 1000
    int-0 slots; same metrics plus recall@all over the 1000 slots.
  * the seed's evaluation.py (docs/method.md §1.5): DuReader metrics divided by the number
    of candidate queries (a candidate query missing from the reference, on which
    the seed would crash, counts as a miss).

Usage (run from anywhere; writes next to this file):
  /usr/bin/python3 official_eval.py make-cases   # (re)writes cases/*
  /usr/bin/python3 official_eval.py expected     # writes expected.json
  /usr/bin/python3 official_eval.py time DEV_JSON CANDIDATE_JSON REPEATS
      # DuReader metrics of one run, and the median seconds of REPEATS
      # load+compute passes, as JSON (for the Go benchmark)
"""
import json
import os
import random
import sys
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
MRR_RANK = 10


# ----------------------------------------------------------------------------
# loading, as the official scripts do

def dureader_reference(path):
    ref = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            sample = json.loads(line.strip())  # a blank line raises, as upstream
            qid = sample["question_id"]
            ref.setdefault(qid, [])
            for para in sample["answer_paragraphs"]:
                ref[qid].append(para["paragraph_id"])
    return ref


def dureader_candidate(path):
    with open(path, encoding="utf-8") as f:
        preds = json.load(f)
    cand = {}
    for qid, pids in preds.items():
        slots = [0] * 50
        for rank, pid in enumerate(pids[:50]):
            slots[rank] = pid
        cand[qid] = slots
    return cand


def msmarco_reference(path):
    ref = {}
    with open(path) as f:
        for line in f:
            cols = line.strip().split("\t")
            ref.setdefault(int(cols[0]), []).append(int(cols[1]))
    return ref


def msmarco_candidate(path):
    cand = {}
    with open(path) as f:
        for line in f:
            cols = line.strip().split("\t")
            qid, pid, rank = int(cols[0]), int(cols[1]), int(cols[2])
            if qid not in cand:
                cand[qid] = [0] * 1000
            cand[qid][rank - 1] = pid
    return cand


# ----------------------------------------------------------------------------
# metrics

def duplicates(cand):
    out = []
    for qid, slots in cand.items():
        for pid, n in Counter(slots).items():
            if n > 1 and pid != 0:
                out.append([str(qid), str(pid), n])
    return sorted(out)


def metrics(ref, cand, denominator):
    mrr = 0.0
    top1, top50, anywhere = set(), set(), set()
    matched = 0
    for qid, slots in cand.items():
        if qid not in ref:
            continue
        matched += 1
        relevant = ref[qid]
        for i in range(MRR_RANK):
            if slots[i] in relevant:
                mrr += 1.0 / (i + 1)
                break
        for i, pid in enumerate(slots):
            if pid in relevant:
                anywhere.add(qid)
                if i < 50:
                    top50.add(qid)
                if i == 0:
                    top1.add(qid)
                break
    if matched == 0:
        raise IOError("No matching QIDs found")
    n = len(ref) if denominator == "reference" else len(cand)
    return {
        "MRR@10": mrr / n,
        "recall@1": len(top1) / n,
        "recall@50": len(top50) / n,
        "recall@all": len(anywhere) / n,
        "Queries": n,
        "QueriesRanked": len(cand),
        "duplicates": duplicates(cand),
    }


def evaluate_case(d):
    if os.path.exists(os.path.join(d, "dev.json")):
        ref = dureader_reference(os.path.join(d, "dev.json"))
        cand = dureader_candidate(os.path.join(d, "candidate.json"))
        return {"dureader": metrics(ref, cand, "reference"),
                "seed": metrics(ref, cand, "candidate")}
    ref = msmarco_reference(os.path.join(d, "qrels.tsv"))
    cand = msmarco_candidate(os.path.join(d, "run.tsv"))
    return {"msmarco": metrics(ref, cand, "reference")}


# ----------------------------------------------------------------------------
# hand-designed cases

def filler(prefix, n):
    return ["%s%d" % (prefix, i) for i in range(n)]


def with_hit(rank, pid, length, prefix):
    """A list of `length` non-relevant pids with `pid` at 1-based `rank`."""
    lst = filler(prefix, length)
    if rank is not None:
        lst[rank - 1] = pid
    return lst


def write_dureader(name, dev, cand):
    d = os.path.join(CASES, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "dev.json"), "w", encoding="utf-8") as f:
        for qid, question, pids in dev:
            f.write(json.dumps({"question_id": qid, "question": question,
                                "answer_paragraphs": [{"paragraph_id": p, "paragraph_text": "文本" + p} for p in pids]},
                               ensure_ascii=False) + "\n")
    with open(os.path.join(d, "candidate.json"), "w", encoding="utf-8") as f:
        # one query per line, as the Go writer lays it out
        f.write("{\n" + ",\n".join("  %s: %s" % (json.dumps(q, ensure_ascii=False), json.dumps(p, ensure_ascii=False))
                                   for q, p in cand.items()) + "\n}\n")


def write_msmarco(name, qrels, lines):
    d = os.path.join(CASES, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "qrels.tsv"), "w") as f:
        for qid, pid in qrels:
            f.write("%d\t%d\n" % (qid, pid))
    with open(os.path.join(d, "run.tsv"), "w") as f:
        for qid, pid, rank in lines:
            f.write("%d\t%d\t%d\t%.4f\n" % (qid, pid, rank, 100.0 - rank * 0.01))


def make_cases():
    # 1. First relevant at ranks 1, 2, 3 (of two relevant), 10, 11, 49, 50, 51, none;
    #    short list; list longer than 50.
    dev = [("q%d" % i, "问题%d" % i, ["r%d" % i]) for i in range(1, 11)]
    dev[2] = ("q3", "问题3", ["r3", "r3b"])
    cand = {
        "q1": with_hit(1, "r1", 50, "n1_"),
        "q2": with_hit(2, "r2", 5, "n2_"),             # short list
        "q3": with_hit(7, "r3", 50, "n3_"),
        "q4": with_hit(10, "r4", 50, "n4_"),
        "q5": with_hit(11, "r5", 50, "n5_"),
        "q6": with_hit(49, "r6", 60, "n6_"),
        "q7": with_hit(50, "r7", 60, "n7_"),
        "q8": with_hit(51, "r8", 60, "n8_"),            # beyond the 50 read
        "q9": with_hit(None, None, 50, "n9_"),          # no relevant at all
        "q10": [],                                      # empty list
    }
    cand["q3"][2] = "r3b"                               # the second relevant at rank 3 comes first
    write_dureader("dureader_ranks", dev, cand)

    # 2. Denominators: 10 reference queries, 4 of them ranked, 2 ranked queries
    #    not in the reference (one of which ranks another query's positive first).
    dev = [("d%d" % i, "问%d" % i, ["pos%d" % i]) for i in range(1, 11)]
    cand = {
        "d1": with_hit(1, "pos1", 50, "a"),
        "d2": with_hit(2, "pos2", 50, "b"),
        "d3": with_hit(3, "pos3", 50, "c"),
        "d4": with_hit(None, None, 50, "d"),
        "x1": with_hit(1, "pos5", 50, "e"),
        "x2": with_hit(None, None, 50, "f"),
    }
    write_dureader("dureader_denominators", dev, cand)

    # 3. Duplicates: a non-relevant pid twice before the hit, a relevant pid twice,
    #    a pid three times, a duplicate only beyond rank 50 (not read), and a
    #    duplicate in a query outside the reference (still flagged).
    dev = [("u%d" % i, "重复%d" % i, ["ok%d" % i]) for i in range(1, 5)]
    cand = {
        "u1": ["a", "x", "b", "x", "ok1"] + filler("u1_", 45),
        "u2": ["ok2", "c", "ok2"],
        "u3": filler("u3_", 50) + ["u3_0"],
        "u4": ["y", "y", "y", "ok4"],
        "zz": ["w", "w"],
    }
    write_dureader("dureader_duplicates", dev, cand)

    # 4. Reference quirks: a question_id on two lines (paragraphs collected from
    #    both), a question with no answer paragraph (counted, never found).
    dev = [("k1", "甲", ["k1a"]), ("k2", "乙", []), ("k1", "甲", ["k1b"]), ("k3", "丙", ["k3a"])]
    cand = {"k1": ["z", "k1b"], "k2": ["k1a"], "k3": ["k3a"]}
    write_dureader("dureader_reference_quirks", dev, cand)

    # 5. Random, seeded: 300 reference queries with 1-3 positives; 270 of them
    #    ranked plus 20 unknown queries; lists of 0-70 pids drawn from a small
    #    pool (so duplicates occur), with a positive put at a random rank in
    #    about half of them.
    rng = random.Random(20240611)
    dev = []
    for i in range(300):
        dev.append(("rq%03d" % i, "随机%d" % i, ["p%d" % rng.randrange(400) for _ in range(rng.randint(1, 3))]))
    cand = {}
    for i in rng.sample(range(300), 270):
        lst = ["p%d" % rng.randrange(400) for _ in range(rng.randint(0, 70))]
        if lst and rng.random() < 0.5:
            lst[rng.randrange(len(lst))] = rng.choice(dev[i][2])
        cand["rq%03d" % i] = lst
    for i in range(20):
        cand["xq%02d" % i] = ["p%d" % rng.randrange(400) for _ in range(rng.randint(1, 60))]
    write_dureader("dureader_random", dev, cand)

    # 6. MS MARCO ranks: hits at 1, 10, 11, 50, 51, 1000, none; two relevant;
    #    lines out of order; a gap in the ranks (ranks 1-5 then 20); a rank given
    #    twice (the later line wins).
    qrels = [(1, 101), (2, 201), (3, 301), (4, 401), (5, 501), (6, 601), (7, 701), (8, 801), (8, 802), (9, 901), (10, 1001)]
    lines = []
    def ranked(qid, hit_pid, hit_rank, depth):
        for r in range(1, depth + 1):
            pid = hit_pid if r == hit_rank else qid * 100000 + r
            lines.append((qid, pid, r))
    ranked(1, 101, 1, 60)
    ranked(2, 201, 10, 60)
    ranked(3, 301, 11, 60)
    ranked(4, 401, 50, 60)
    ranked(5, 501, 51, 60)
    ranked(6, 601, 1000, 1000)
    ranked(7, None, None, 60)
    ranked(8, 802, 4, 60)
    for r in (1, 2, 3, 4, 5, 20):      # gap: ranks 6..19 empty
        lines.append((9, 901 if r == 20 else 900000 + r, r))
    random.Random(7).shuffle(lines)    # line order does not matter
    lines.append((8, 801, 9))          # overrides rank 9; 802 at rank 4 still comes first
    lines.append((10, 1001, 1))
    lines.append((10, 1002, 1))        # rank 1 given twice: the later line (non-relevant) wins
    write_msmarco("msmarco_ranks", qrels, lines)

    # 7. MS MARCO denominators: 6 judged queries, 3 ranked, 2 unjudged ranked.
    qrels = [(q, q * 10) for q in range(1, 7)]
    lines = []
    for q, hit in ((1, 1), (2, 5), (3, None), (50, 1), (51, 2)):
        for r in range(1, 31):
            lines.append((q, q * 10 if r == hit else q * 1000 + r, r))
    write_msmarco("msmarco_denominators", qrels, lines)

    # 8. MS MARCO random, seeded: 120 judged queries, 100 ranked at 40 random
    #    distinct ranks in 1..1000 plus ranks 1..10 again (the later line wins),
    #    a positive at a random one of those ranks in about 60% of the queries.
    rng = random.Random(99)
    qrels, lines = [], []
    pos = {}
    for q in range(1, 121):
        pos[q] = [rng.randrange(1, 3000) for _ in range(rng.randint(1, 2))]
        qrels.extend((q, p) for p in pos[q])
    for q in rng.sample(range(1, 121), 100):
        ranks = sorted(rng.sample(range(1, 1001), 40)) + list(range(1, 11))
        pids = [rng.randrange(1, 3000) for _ in ranks]
        if rng.random() < 0.6:
            pids[rng.randrange(len(pids))] = rng.choice(pos[q])
        lines.extend((q, p, r) for p, r in zip(pids, ranks))
    write_msmarco("msmarco_random", qrels, lines)


def write_expected():
    out = {}
    for name in sorted(os.listdir(CASES)):
        out[name] = evaluate_case(os.path.join(CASES, name))
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")


def time_dureader(ref_path, cand_path, repeats):
    import time
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        m = metrics(dureader_reference(ref_path), dureader_candidate(cand_path), "reference")
        times.append(time.perf_counter() - start)
    times.sort()
    del m["duplicates"]
    m["seconds"] = times[len(times) // 2]
    print(json.dumps(m))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "time":
        time_dureader(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        sys.exit(0)
    if len(sys.argv) != 2 or sys.argv[1] not in ("make-cases", "expected"):
        sys.exit(__doc__)
    if sys.argv[1] == "make-cases":
        make_cases()
    else:
        write_expected()
