#!/usr/bin/python3
"""Extract real Chinese and English (title, paragraph) pairs for the tokenizer parity fixtures.

Sources (all Debian packages, read locally):
  * Chinese: manpages-zh (zh_CN and zh_TW roff man pages) and debian-reference-zh-cn (plain-text edition);
  * English: the man pages in /usr/share/man/man1 of the machine that runs this script.

Roff markup is stripped roughly (macros dropped, font/escape sequences removed); the result only needs to be
real text, not a faithful rendering. Selection is deterministic (sorted file lists, fixed seed), so a rerun on
the same package versions reproduces the same corpus.

Usage: gen_corpus.py <manpages-zh root> <debian-reference root> <out dir>
Writes <out dir>/corpus_zh.jsonl.gz, corpus_en.jsonl.gz (lines {"t": title, "p": paragraph}) and the two
test vocabularies vocab_zh.txt (ERNIE-like special ids) and vocab_en.txt (BERT special ids).
"""

import collections
import glob
import gzip
import json
import os
import random
import re
import sys

MAX_PARA_CHARS = 320

ESCAPES = [
    (re.compile(r"\\f(\(..|\[[^\]]*\]|.)"), ""),  # font changes
    (re.compile(r"\\s[+-]?\d"), ""),  # size changes
    (re.compile(r"\\\*(\(..|\[[^\]]*\]|.)"), ""),  # strings
    (re.compile(r"\\\((em|en)"), "—"),
    (re.compile(r"\\\(co"), "©"),
    (re.compile(r"\\\((lq|rq|dq)"), '"'),
    (re.compile(r"\\\((oq|cq|aq)"), "'"),
    (re.compile(r"\\\(bu"), "•"),
    (re.compile(r"\\\(..|\\\[[^\]]*\]"), ""),  # other special characters
    (re.compile(r"\\[-]"), "-"),
    (re.compile(r"\\[e\\]"), "\\\\"),
    (re.compile(r"\\[&|^,/%:)]"), ""),
    (re.compile(r"\\[ ~0]"), " "),
    (re.compile(r"\\[nk]\(?.."), ""),
    (re.compile(r'\\".*'), ""),  # comments
    (re.compile(r"\\(.)"), r"\1"),
]


def unescape(s):
    for pat, rep in ESCAPES:
        s = pat.sub(rep, s)
    return re.sub(r"\s+", " ", s).strip()


def macro_args(line):
    parts = line.split(None, 1)
    if len(parts) < 2:
        return ""
    args = parts[1]
    return " ".join(a.strip('"') for a in re.findall(r'"[^"]*"|\S+', args))


def parse_man(text):
    """Returns (name description, [paragraphs]) from roff text (man or mdoc)."""
    name = ""
    paras = []
    cur = []
    section = ""
    skip_block = False

    def flush():
        if cur:
            p = unescape(" ".join(cur))
            cur.clear()
            if section.upper() not in ("NAME", "名称", "名稱", "SYNOPSIS", "概述", "总览", "總覽", "摘要"):
                if len(p) >= 8:
                    paras.append(p)
            return p
        return ""

    for raw in text.split("\n"):
        line = raw.rstrip()
        if line.startswith(".de ") or line.startswith(".ig"):
            skip_block = True
            continue
        if skip_block:
            if line.startswith(".."):
                skip_block = False
            continue
        if line.startswith(".\\\"") or line.startswith("'\\\"") or line.startswith('.\\"'):
            continue
        if line.startswith(".") or line.startswith("'"):
            m = line[1:].split(None, 1)
            mac = m[0] if m else ""
            if mac in ("SH", "Sh", "SS", "Ss"):
                if section.upper() in ("NAME", "名称", "名稱") and cur and not name:
                    desc = unescape(" ".join(cur))
                    name = re.split(r"\s+[-—–]+\s+|\\-", desc, maxsplit=1)[-1].strip()
                    cur.clear()
                flush()
                section = macro_args(line)
            elif mac == "Nd":
                name = unescape(macro_args(line))
            elif mac in ("PP", "LP", "P", "TP", "IP", "HP", "Pp", "Bl", "El", "It", "sp", "br", "RS", "RE", "TH", "Dd", "Dt", "Os", "nf", "fi"):
                if mac == "IP" or mac == "It":
                    flush()
                    arg = macro_args(line)
                    if arg:
                        cur.append(arg)
                else:
                    flush()
            elif mac in ("B", "I", "BR", "RB", "IR", "RI", "BI", "IB", "SM", "SB", "Nm", "Ar", "Fl", "Cm", "Pa", "Xr", "Em", "Sy", "Ql", "Dq", "Sq", "Li", "Ev", "Va", "Fn", "Ic"):
                arg = macro_args(line)
                if arg:
                    cur.append(arg)
            else:
                continue
        else:
            if line.strip():
                cur.append(line)
            else:
                flush()
    if section.upper() in ("NAME", "名称", "名稱") and cur and not name:
        desc = unescape(" ".join(cur))
        name = re.split(r"\s+[-—–]+\s+", desc, maxsplit=1)[-1].strip()
        cur.clear()
    flush()
    return name, paras


def cut(p):
    if len(p) <= MAX_PARA_CHARS:
        return p
    # cut at the last sentence end before the limit when there is one
    head = p[:MAX_PARA_CHARS]
    for sep in ("。", ". ", "；", "; "):
        i = head.rfind(sep)
        if i > MAX_PARA_CHARS // 2:
            return head[: i + len(sep)].strip()
    return head


def read_gz(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


def man_pairs(files, rng, keep):
    """One pair per chunk of consecutive paragraphs of a page (chunks of a random 40-MAX_PARA_CHARS characters)."""
    out = []
    for path in files:
        try:
            name, paras = parse_man(read_gz(path))
        except (OSError, EOFError):
            continue
        if not name or not paras:
            continue
        cur = ""
        target = rng.randint(40, MAX_PARA_CHARS)
        for p in paras:
            if not keep(p):
                continue
            cur = (cur + " " + p).strip()
            if len(cur) >= target:
                out.append({"t": name, "p": cut(cur)})
                cur = ""
                target = rng.randint(40, MAX_PARA_CHARS)
        if cur:
            out.append({"t": name, "p": cut(cur)})
    return out


def ref_pairs(path):
    """debian-reference plain text: numbered headings ("4.7.1. sudo") followed by body paragraphs."""
    text = read_gz(path)
    out = []
    title = ""
    cur = []
    head = re.compile(r"^\s*(\d+\.)+\d*\.?\s+(\S.*)$")

    def flush():
        if cur and title:
            p = re.sub(r"\s+", " ", " ".join(cur)).strip()
            if len(p) >= 8:
                out.append({"t": title, "p": cut(p)})
        cur.clear()

    seen_titles = set()
    for line in text.split("\n"):
        m = head.match(line)
        if m and len(line.strip()) < 60:
            flush()
            t = m.group(2).strip()
            # the table of contents repeats every heading once before the body
            title = t if t in seen_titles else ""
            seen_titles.add(t)
            continue
        if not line.strip():
            flush()
        elif not re.match(r"^\s*[|+─┌└├-]", line):
            cur.append(line.strip())
    flush()
    return out


def has_cjk(s):
    return any("\u4e00" <= c <= "\u9fff" for c in s)


def build_vocabs(zh, en, out_dir):
    # --- Chinese vocab: ERNIE 1.0-like special positions, frequent characters, a few hundred English pieces.
    chars = collections.Counter()
    for it in zh:
        for c in it["t"] + it["p"]:
            if not c.isspace():
                chars[c.lower()] += 1
    words = collections.Counter()
    for it in en:
        for w in re.findall(r"[A-Za-z]+", it["t"] + " " + it["p"]):
            words[w.lower()] += 1
    zh_vocab = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"]
    seen = set(zh_vocab)

    def add(v, tok):
        if tok not in seen and tok.strip() == tok and tok:
            seen.add(tok)
            v.append(tok)

    # the corpus has about 2,600 distinct characters: keep the 1,800 most frequent so rarer ones become [UNK]
    for c, _ in sorted(chars.items(), key=lambda kv: (-kv[1], kv[0]))[:1800]:
        add(zh_vocab, c)
    # ASCII pieces: letters but not all of them (so some words become [UNK]), ## letters, common words/suffixes.
    for c in "abcdefghijklmnoprstuvwy0123456789":
        add(zh_vocab, c)
    for c in "abcdefghiklmnoprstuvy0123456789":
        add(zh_vocab, "##" + c)
    for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:250]:
        add(zh_vocab, w)
    for suf in ["ing", "ed", "er", "s", "es", "ly", "tion", "ment", "able", "ize", "fig", "ux", "ix", "nu"]:
        add(zh_vocab, "##" + suf)
    add(zh_vocab, "é")
    add(zh_vocab, "##é")

    # --- English vocab: BERT special positions, the 3000 most frequent words, ## pieces, some CJK characters.
    en_vocab = ["[PAD]"] + ["[unused%d]" % i for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    seen = set(en_vocab)
    for c in "!\"#$%&'()*+,-./0123456789:;<=>?@[\\]^_`{|}~":
        add(en_vocab, c)
    for c in "abcdefghijklmnopqrstuvwxyz":
        add(en_vocab, c)
    for c in "abcdefghijklmnopqrstuvw":  # no ##x, ##y, ##z: some words end as [UNK]
        add(en_vocab, "##" + c)
    for c in "0123456789":
        add(en_vocab, "##" + c)
    top = sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))
    for w, _ in top[:3000]:
        add(en_vocab, w)
    # frequent suffixes as ## pieces, taken from the corpus itself
    suf = collections.Counter()
    for w, n in top[:20000]:
        for k in (2, 3, 4, 5):
            if len(w) > k + 2:
                suf[w[-k:]] += n
    for s, _ in sorted(suf.items(), key=lambda kv: (-kv[1], kv[0]))[:400]:
        add(en_vocab, "##" + s)
    for c in "·—–“”‘’…©•é":
        add(en_vocab, c)
    for c, _ in sorted(chars.items(), key=lambda kv: (-kv[1], kv[0]))[:300]:
        if has_cjk(c):
            add(en_vocab, c)
    for name, v in (("vocab_zh.txt", zh_vocab), ("vocab_en.txt", en_vocab)):
        with open(os.path.join(out_dir, name + ".tmp"), "w", encoding="utf-8") as f:
            f.write("\n".join(v) + "\n")
        os.replace(os.path.join(out_dir, name + ".tmp"), os.path.join(out_dir, name))


def write_jsonl_gz(path, items):
    tmp = path + ".tmp"
    with gzip.GzipFile(tmp, "wb", mtime=0) as f:
        for it in items:
            f.write((json.dumps(it, ensure_ascii=False) + "\n").encode("utf-8"))
    os.replace(tmp, path)


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: gen_corpus.py <manpages-zh root> <debian-reference root> <out dir>")
    zh_root, ref_root, out_dir = sys.argv[1:]
    rng = random.Random(20240601)

    zh_files = sorted(glob.glob(os.path.join(zh_root, "usr/share/man/zh_*/man*/*.gz")))
    zh = man_pairs(zh_files, rng, has_cjk)
    zh += ref_pairs(os.path.join(ref_root, "usr/share/debian-reference/debian-reference.zh-cn.txt.gz"))
    # de-duplicate, keep order, then a fixed shuffle
    seen = set()
    uniq = []
    for it in zh:
        k = (it["t"], it["p"])
        if k not in seen:
            seen.add(k)
            uniq.append(it)
    zh = uniq
    rng.shuffle(zh)
    zh = zh[:10500]

    en_files = sorted(glob.glob("/usr/share/man/man1/*.gz"))
    en_files = en_files[:: max(1, len(en_files) // 700)]
    en = man_pairs(en_files, rng, lambda p: not has_cjk(p))
    rng.shuffle(en)
    en = en[:4000]

    build_vocabs(zh, en, out_dir)
    write_jsonl_gz(os.path.join(out_dir, "corpus_zh.jsonl.gz"), zh)
    write_jsonl_gz(os.path.join(out_dir, "corpus_en.jsonl.gz"), en)
    print("zh pairs: %d, en pairs: %d" % (len(zh), len(en)), file=sys.stderr)


if __name__ == "__main__":
    main()
