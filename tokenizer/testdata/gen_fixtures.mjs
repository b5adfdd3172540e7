// Writes the tokenizer parity fixtures (fixtures.jsonl.gz) with HuggingFace tokenizers (npm tokenizers@0.23.2):
//   WordPiece.fromFile + bertNormalizer + bertPreTokenizer + bertProcessing + setTruncation (+ setPadding for
//   batches: Encoding.pad to the longest of the batch), no added tokens.
//
// Usage: NODE_PATH=<dir holding node_modules> node gen_fixtures.mjs <testdata dir>
//
// Inputs (in the testdata dir): corpus_zh.jsonl.gz, corpus_en.jsonl.gz (gen_corpus.py), vocab_zh.txt,
// vocab_en.txt. Output: fixtures.jsonl.gz; its first line is {"configs": {...}}, then one record per line:
//   k: "tok" (text -> tokens, no specials), "q" (query), "p" (title+para passage), "x" (cross-encoder pair:
//      [CLS] q [SEP] title+para [SEP]), "b" (padded batch of passages)
//   c: config name; m: maxLen given to setTruncation (0: none)
//   texts: s (tok), q, t, p, or r: [corpus, index] for a corpus (title, para); b records: items [[t, p] | r...]
//   expected: ids, ty (type ids), tk (tokens, tok records), am (attention masks, b records)
//   pair records where HF's LongestFirst and the official RocketQA rule keep different lengths carry
//   tie: {la, lb, a}: the untruncated lengths of both sides and the tokens of the first side that the official
//   rule keeps beyond HF's output (a[hfA:oa]).
import { createRequire } from 'module';
import fs from 'fs';
import zlib from 'zlib';
import path from 'path';

const require = createRequire(path.join(process.env.NODE_PATH || process.cwd(), 'x.js'));
const tk = require('tokenizers');

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node gen_fixtures.mjs <testdata dir>');
  process.exit(2);
}

// ---------- deterministic randomness
let seed = 20240607;
function rand() {
  // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const randInt = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

function readJsonlGz(name) {
  return zlib
    .gunzipSync(fs.readFileSync(path.join(dir, name)))
    .toString('utf8')
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l));
}
const corpus = { zh: readJsonlGz('corpus_zh.jsonl.gz'), en: readJsonlGz('corpus_en.jsonl.gz') };

// ---------- configurations
const configs = {
  zh: { vocab: 'vocab_zh.txt' },
  zh_cn: { vocab: 'vocab_zh.txt', removeSpaces: true },
  zh_nocjk: { vocab: 'vocab_zh.txt', handleChineseChars: false },
  zh_words5: { vocab: 'vocab_zh.txt', maxChars: 5 },
  en: { vocab: 'vocab_en.txt' },
  en_cased: { vocab: 'vocab_en.txt', lowercase: false },
  en_strip_only: { vocab: 'vocab_en.txt', lowercase: false, stripAccents: true },
  en_keep_accents: { vocab: 'vocab_en.txt', lowercase: true, stripAccents: false },
  en_noclean: { vocab: 'vocab_en.txt', cleanText: false },
  en_bare: { vocab: 'vocab_en.txt', lowercase: false, cleanText: false, handleChineseChars: false },
};
for (const c of Object.values(configs)) {
  c.lowercase ??= true;
  c.cleanText ??= true;
  c.handleChineseChars ??= true;
  c.removeSpaces ??= false;
  c.maxChars ??= 100;
}

const toks = {};
for (const [name, c] of Object.entries(configs)) {
  const model = await tk.WordPiece.fromFile(path.join(dir, c.vocab), {
    unkToken: '[UNK]',
    continuingSubwordPrefix: '##',
    maxInputCharsPerWord: c.maxChars,
  });
  const t = new tk.Tokenizer(model);
  const no = { cleanText: c.cleanText, handleChineseChars: c.handleChineseChars, lowercase: c.lowercase };
  if (c.stripAccents !== undefined) no.stripAccents = c.stripAccents;
  t.setNormalizer(tk.bertNormalizer(no));
  t.setPreTokenizer(tk.bertPreTokenizer());
  t.setPostProcessor(tk.bertProcessing(['[SEP]', t.tokenToId('[SEP]')], ['[CLS]', t.tokenToId('[CLS]')]));
  toks[name] = t;
}

const prep = (cfg, s) => (configs[cfg].removeSpaces ? s.replaceAll(' ', '') : s);
function truncate(t, m) {
  if (m > 0) t.setTruncation(m);
  else t.disableTruncation();
}
async function raw(cfg, s) {
  const t = toks[cfg];
  t.disableTruncation();
  return t.encode(prep(cfg, s), null, { addSpecialTokens: false });
}

// the official RocketQA / BERT _truncate_seq_pair, on lengths
function official(la, lb, max) {
  while (la + lb > max) {
    if (la > lb) la--;
    else lb--;
  }
  return [la, lb];
}

const records = [];
let ties = 0;
let agree = 0;

async function tokRec(cfg, s, withTokens = true) {
  const e = await raw(cfg, s);
  const rec = { k: 'tok', c: cfg, s, ids: e.getIds() };
  if (withTokens) rec.tk = e.getTokens();
  records.push(rec);
}

async function queryRec(cfg, q, m) {
  const t = toks[cfg];
  truncate(t, m);
  const e = await t.encode(prep(cfg, q));
  records.push({ k: 'q', c: cfg, q, m, ids: e.getIds(), ty: e.getTypeIds() });
}

// pairRec checks HF's kept lengths against the official rule and records the tie data when they differ.
function tieData(rec, ea, eb, hfA, hfB, m) {
  if (m <= 0) return;
  const la = ea.getIds().length;
  const lb = eb.getIds().length;
  const [oa, ob] = official(la, lb, m - 3);
  if (oa === hfA && ob === hfB) {
    if (la + lb > m - 3) agree++;
    return;
  }
  ties++;
  // HF kept a[:hfA], b[:hfB] (both in its output); the official rule keeps a[:oa], b[:ob] with ob < hfB, so
  // the only token missing from HF's output is a[hfA..oa).
  rec.tie = { la, lb, a: ea.getIds().slice(hfA, oa) };
}

function keptLengths(e) {
  // type ids: 0 for [CLS] a [SEP], 1 for b [SEP]
  const ty = e.getTypeIds();
  const n1 = ty.filter((x) => x === 1).length;
  return [ty.length - n1 - 2, n1 - 1];
}

async function passageRec(cfg, item, m, ref) {
  const t = toks[cfg];
  truncate(t, m);
  const e = await t.encode(prep(cfg, item.t), prep(cfg, item.p));
  const rec = { k: 'p', c: cfg, m, ids: e.getIds(), ty: e.getTypeIds() };
  if (ref) rec.r = ref;
  else Object.assign(rec, { t: item.t, p: item.p });
  const [hfA, hfB] = keptLengths(e);
  tieData(rec, await raw(cfg, item.t), await raw(cfg, item.p), hfA, hfB, m);
  records.push(rec);
}

async function pairRec(cfg, q, item, m, ref) {
  const t = toks[cfg];
  const eq = await raw(cfg, q);
  const et = await raw(cfg, item.t);
  const ep = await raw(cfg, item.p);
  const eb = tk.mergeEncodings([et, ep], false);
  truncate(t, m);
  const e = t.postProcess(eq, eb, true);
  const rec = { k: 'x', c: cfg, q, m, ids: e.getIds(), ty: e.getTypeIds() };
  if (ref) rec.r = ref;
  else Object.assign(rec, { t: item.t, p: item.p });
  const [hfA, hfB] = keptLengths(e);
  tieData(rec, eq, tk.mergeEncodings([et, ep], false), hfA, hfB, m);
  records.push(rec);
}

async function batchRec(cfg, items, m) {
  // encodeBatch of this binding takes single strings only: encode the pairs one by one, then pad each to the
  // longest with HF's Encoding.pad (what batch padding does).
  const t = toks[cfg];
  truncate(t, m);
  const es = [];
  for (const [, it] of items) es.push(await t.encode(prep(cfg, it.t), prep(cfg, it.p)));
  const cols = Math.max(...es.map((e) => e.getLength()));
  for (const e of es) e.pad(cols, { padId: t.tokenToId('[PAD]'), padToken: '[PAD]', padTypeId: 0, direction: 'right' });
  records.push({
    k: 'b',
    c: cfg,
    m,
    items: items.map(([ref]) => ref),
    ids: es.map((e) => e.getIds()),
    ty: es.map((e) => e.getTypeIds()),
    am: es.map((e) => e.getAttentionMask()),
  });
}

// ---------- queries derived from the corpus: titles and first clauses
function firstClause(p) {
  const m = p.match(/^[^。，；！？,;!?.]{4,48}/u);
  return m ? m[0] : p.slice(0, 32);
}

// ---------- tricky hand-written cases
const tricky = [
  '', ' ', '   ', '\t\n', 'a', 'A', '中', '[CLS] [SEP] [UNK] [MASK] [PAD]',
  'café', 'Café CAFÉ', 'Ångström', 'naïve naive NAÏVE', 'Crème Brûlée', 'façade résumé', 'ÀÉÎÕÜ àéîõü',
  'İstanbul İ ı I', 'ǅungla Ǆ ǆ', 'ß STRASSE ẞ', 'ﬁle ﬃ ﬀ', 'Σίσυφος ΣΊΣΥΦΟΣ ς', 'Привет, мир!',
  'Ελληνικά', '한국어 텍스트 안녕하세요', '日本語のテキスト、カタカナ', 'ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ！ １２３',
  '，。！？；：“”‘’（）【】《》、…—', '中文English混合text测试ok', 'Linux内核2.6版本，支持SMP。',
  'emoji 😀👍🏽🇨🇳 👨‍👩‍👧 ❤️', '🥰 🫠 🦀 newer emoji', 'a\u0000b\u0001c\u007fd\u200be\u200df\ufeffg',
  'tab\tnew\nline\r\nvt\u000bff\u000cend', 'nbsp\u00a0x\u2003y\u3000z\u2028w\u0085v', 'zero\u200bwidth',
  'a'.repeat(100), 'a'.repeat(101), 'abc'.repeat(40), '中'.repeat(120), 'supercalifragilisticexpialidocious',
  'unaffable unbelievable', "don't can't O'Reilly", 'U.S.A. e.g. i.e.', 'e-mail co-operate', 'C++ & C# && ||',
  'path/to/file.txt ~/.bashrc', 'http://example.com/a?b=c&d=e#frag', 'x²+y³=z⁴ ½ ¼ Ⅻ ①②③ ㈱ ℃ №',
  '3.14159 1,000,000 2024-01-01 ５０％ 0x1F', '   lots   of    spaces   ', '\u3000\u3000全角空格\u3000',
  '豈更車 \uF900\uFA6D', '\u{20000}\u{20001}\u{2A6D6} ext-B', '\u{2B820}\u{2B8FF}\u{2B920}\u{2CEAF} ext-E',
  'a\u0301 e\u0301\u0327 o\u0308\u0304', 'a\u{1D16D}\u{1D165}b \u{1D15E}\u{1D160}', 'x\u302F\u1B44y \u0F73\u0F75',
  'مرحبا بالعالم', 'שָׁלוֹם', 'ภาษาไทย', 'हिन्दी नमस्ते', 'Tiếng Việt có dấu', 'Ｐｙｔｈｏｎ３', 'ＡＢＣ ａｂｃ',
  '\u0890\u0891\u08e2 \u{13430}\u{13439} \u{110CD}', 'a\ufffdb \ufffd', 'unassigned \u0378\u0379 pua \ue000\uf8ff',
  '\u{F0000}\u{10FFFD} plane 15', 'ﾊﾝｶｸ ｶﾀｶﾅ', '㍿ ㎏ ㎡', 'Ⓐⓑ ⒜', 'Ǳ ǲ ǳ', 'ΐ ΰ ᾈ ᾼ', 'Å Å Å',
  '\u1100\u1161\u11a8 조합형', 'ᄀ각', '$100 €20 £5 ¥1000 ₩', '#hashtag @mention', '<html><body>x</body></html>',
  '{"json": [1, 2, 3]}', 'a\\b\\c', '`code` ~tilde~ ^caret^ _under_', '¡Hola! ¿Qué tal?', '«guillemets» „quotes“',
  '\u00ad soft\u00adhyphen', '\u2060word\u2061joiner', '\u{E0001}\u{E0041} tags', '\u180e mongolian',
  'Ⅰ Ⅱ Ⅲ ⅰ ⅱ', 'ǍǎǏǐ', 'Ḁḁ Ḿḿ', 'Ｇｏｏｇｌｅ搜索', 'ＷｉＦｉ热点', '【公告】关于2024年春节放假的通知！',
  '問：什麼是Linux？答：一種作業系統。', '\u{1F600}'.repeat(3) + '中文', 'x'.repeat(99) + '中' + 'y'.repeat(101),
];

// random strings over interesting code points
const pools = [
  [0x20, 0x7e], [0xa0, 0x17f], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x45f], [0x590, 0x5ff], [0x600, 0x6ff],
  [0x900, 0x97f], [0xe00, 0xe7f], [0x1100, 0x11ff], [0x1d00, 0x1dff], [0x1e00, 0x1fff], [0x2000, 0x206f],
  [0x2070, 0x21ff], [0x2460, 0x24ff], [0x3000, 0x303f], [0x3040, 0x30ff], [0x3400, 0x3440], [0x4e00, 0x9fff],
  [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfe30, 0xfe4f], [0xff00, 0xffef], [0x1d100, 0x1d1ff], [0x1f300, 0x1faff],
  [0x20000, 0x20100], [0x2b800, 0x2b940], [0x0, 0x1f], [0x7f, 0x9f], [0xe0000, 0xe007f],
];
function randomString(n) {
  let s = '';
  for (let i = 0; i < n; i++) {
    const [lo, hi] = pick(pools);
    const cp = randInt(lo, hi);
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    s += String.fromCodePoint(cp);
    if (rand() < 0.15) s += ' ';
  }
  return s;
}
const randoms = [];
for (let i = 0; i < 300; i++) randoms.push(randomString(randInt(1, 40)));

// ---------- generate
const zhCfgs = ['zh', 'zh_cn'];
const pMax = () => pick([384, 384, 384, 384, 128, 128, 128, 64, 64, 32, 16, 9, 10, 12, 13, 0]);
const qMax = () => pick([32, 32, 32, 32, 16, 8, 4, 0]);
const xMax = () => pick([160, 160, 160, 64, 32, 19, 20, 11, 0]);

// every Chinese corpus item as a passage
for (let i = 0; i < corpus.zh.length; i++) await passageRec(zhCfgs[i % 2], corpus.zh[i], pMax(), ['zh', i]);
// Chinese queries: every distinct title, plus first clauses
const zhTitles = [...new Set(corpus.zh.map((x) => x.t))];
for (const q of zhTitles) await queryRec(pick(zhCfgs), q, qMax());
for (let i = 0; i < 3000; i++) await queryRec(pick(zhCfgs), firstClause(corpus.zh[(i * 7) % corpus.zh.length].p), qMax());
// Chinese cross-encoder pairs
for (let i = 0; i < 2500; i++) {
  const j = randInt(0, corpus.zh.length - 1);
  const q = rand() < 0.5 ? corpus.zh[j].t : firstClause(corpus.zh[randInt(0, corpus.zh.length - 1)].p);
  await pairRec(pick(zhCfgs), q, corpus.zh[j], xMax(), ['zh', j]);
}
// token strings for a sample, and the other Chinese configurations
for (let i = 0; i < 150; i++) await tokRec('zh', corpus.zh[i * 11].p, i < 50);
for (let i = 0; i < 100; i++) await tokRec('zh_nocjk', corpus.zh[i * 13 + 1].p, i < 50);
for (let i = 0; i < 100; i++) await tokRec('zh_words5', corpus.zh[i * 17 + 2].p, i < 50);

// English
for (let i = 0; i < corpus.en.length; i++) await passageRec('en', corpus.en[i], pMax(), ['en', i]);
const enTitles = [...new Set(corpus.en.map((x) => x.t))];
for (const q of enTitles) await queryRec('en', q, qMax());
for (let i = 0; i < corpus.en.length; i++) await queryRec('en', firstClause(corpus.en[i].p), qMax());
for (let i = 0; i < 800; i++) {
  const j = randInt(0, corpus.en.length - 1);
  await pairRec('en', pick(enTitles), corpus.en[j], xMax(), ['en', j]);
}
for (const cfg of ['en_cased', 'en_strip_only', 'en_keep_accents', 'en_noclean', 'en_bare']) {
  for (let i = 0; i < 100; i++) await tokRec(cfg, corpus.en[(i * 5 + cfg.length) % corpus.en.length].p, i < 50);
  for (let i = 0; i < 100; i++) {
    const j = (i * 3 + cfg.length) % corpus.en.length;
    await passageRec(cfg, corpus.en[j], pMax(), ['en', j]);
  }
}

// tricky and random strings under every configuration, as text, query, passage and pair
const cfgNames = Object.keys(configs);
for (let i = 0; i < randoms.length; i++) {
  for (let j = 0; j < 4; j++) await tokRec(cfgNames[(i + j * 3) % cfgNames.length], randoms[i]);
}
for (const cfg of cfgNames) {
  for (const s of tricky) await tokRec(cfg, s);
  for (let i = 0; i < tricky.length; i++) {
    const s = tricky[i];
    await queryRec(cfg, s, pick([0, 4, 8, 32]));
    const other = tricky[(i * 7 + 3) % tricky.length];
    await passageRec(cfg, { t: other, p: s }, pick([0, 9, 10, 16, 64]));
    await pairRec(cfg, other, { t: s, p: tricky[(i * 5 + 1) % tricky.length] }, pick([0, 10, 11, 20, 64]));
  }
}

// padded batches (even budgets only: batches check padding, ties are checked above)
for (let i = 0; i < 300; i++) {
  const lang = i % 3 === 2 ? 'en' : 'zh';
  const cfg = lang === 'en' ? 'en' : pick(zhCfgs);
  const n = randInt(1, 8);
  const items = [];
  for (let j = 0; j < n; j++) {
    const k = randInt(0, corpus[lang].length - 1);
    items.push([[lang, k], corpus[lang][k]]);
  }
  await batchRec(cfg, items, pick([0, 65, 129]));
}

const lines = [JSON.stringify({ configs })].concat(records.map((r) => JSON.stringify(r)));
const out = path.join(dir, 'fixtures.jsonl.gz');
fs.writeFileSync(out + '.tmp', zlib.gzipSync(lines.join('\n') + '\n', { level: 9 }));
fs.renameSync(out + '.tmp', out);
const kinds = {};
for (const r of records) kinds[r.k] = (kinds[r.k] || 0) + 1;
console.error(`wrote ${records.length} records to ${out}:`, kinds, `; truncated pairs where HF and the official rule agree: ${agree}, differ (ties): ${ties}`);
