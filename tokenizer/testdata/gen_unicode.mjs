// Probes HuggingFace tokenizers (npm tokenizers@0.23.2, the Rust library) one code point at a time and writes
// what its BertNormalizer / BertPreTokenizer / NFD do to each, as hf_unicode.txt.gz.
//
// Why: HF's Rust crates carry their own, older Unicode data (unicode_categories for Cc/Cf/Co/Mn/P*,
// unicode-normalization-alignments for NFD and canonical combining classes) while lowercasing uses Rust's
// std (newer). Go's unicode package is Unicode 15 and has no NFD at all, so the Go tokenizer takes its
// per-rune tables from this file (gen_tables.go) and a test re-checks every code point against it.
//
// Usage: NODE_PATH=<dir with node_modules> node gen_unicode.mjs <out.txt.gz>
//
// Output: one line per code point, or per range of consecutive code points with the same flags and no mappings:
//   <lo>[-<hi>] <flags> [N=<nfd>] [D=<strip>] [L=<lower>]
// code points in hex; mappings as dot-separated hex code points (empty after '=' means "removed").
// flags (a '-' when none):
//   R  clean_text removes it              S  clean_text turns it into ' '
//   C  handle_chinese_chars pads it        W  BertPreTokenizer splits on it (whitespace)
//   P  BertPreTokenizer isolates it        M  strip_accents removes it (Mn, no decomposition)
//   K  non-zero canonical combining class (non-decomposing code points only)
// N  = nfd(c) when it differs from c;  D = strip_accents-only output;  L = lowercase-only output.
// Lines "O <cp> <rank>" give, for the non-Mn code points with a non-zero combining class, a rank that sorts
// them as HF's canonical ordering does (only their order among themselves survives accent stripping).
import { createRequire } from 'module';
import fs from 'fs';
import zlib from 'zlib';
import path from 'path';

const require = createRequire(path.join(process.env.NODE_PATH || process.cwd(), 'x.js'));
const tk = require('tokenizers');

const out = process.argv[2];
if (!out) {
  console.error('usage: node gen_unicode.mjs <out.txt.gz>');
  process.exit(2);
}

const clean = tk.bertNormalizer({ cleanText: true, handleChineseChars: false, stripAccents: false, lowercase: false });
const cjk = tk.bertNormalizer({ cleanText: false, handleChineseChars: true, stripAccents: false, lowercase: false });
const strip = tk.bertNormalizer({ cleanText: false, handleChineseChars: false, stripAccents: true, lowercase: false });
const lower = tk.bertNormalizer({ cleanText: false, handleChineseChars: false, stripAccents: false, lowercase: true });
const nfd = tk.nfdNormalizer();
const pre = tk.bertPreTokenizer();

const hex = (s) => [...s].map((x) => x.codePointAt(0).toString(16)).join('.');

const lines = [];
let pend = null; // pending range [lo, hi, flags]
const flushPend = () => {
  if (pend) {
    lines.push((pend[0] === pend[1] ? pend[0].toString(16) : pend[0].toString(16) + '-' + pend[1].toString(16)) + ' ' + pend[2]);
    pend = null;
  }
};
const survivors = [];

for (let cp = 0; cp <= 0x10ffff; cp++) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;
  const c = String.fromCodePoint(cp);
  let flags = '';
  const a = clean.normalizeString(c);
  if (a === '') flags += 'R';
  else if (a === ' ' && c !== ' ') flags += 'S';
  else if (a !== c) throw new Error('unexpected clean_text output for ' + cp.toString(16));
  const b = cjk.normalizeString(c);
  if (b === ' ' + c + ' ') flags += 'C';
  else if (b !== c) throw new Error('unexpected chinese-chars output for ' + cp.toString(16));
  const p = pre.preTokenizeString('a' + c + 'a');
  if (p.length === 2) flags += 'W';
  else if (p.length === 3) flags += 'P';
  else if (p.length !== 1) throw new Error('unexpected pre-tokenization for ' + cp.toString(16));
  const n = nfd.normalizeString(c);
  const s = strip.normalizeString(c);
  const l = lower.normalizeString(c);
  if (n === c) {
    if (s === '') flags += 'M';
    const r = nfd.normalizeString('a\u0345' + c);
    if (cp === 0x345 || r === 'a' + c + '\u0345') {
      flags += 'K';
      if (s !== '') survivors.push(cp);
    }
  }
  const maps = [];
  if (n !== c) maps.push('N=' + hex(n));
  if (s !== c) maps.push('D=' + hex(s));
  if (l !== c) maps.push('L=' + hex(l));
  if (flags === '') flags = '-';
  if (maps.length === 0) {
    if (pend && pend[1] === cp - 1 && pend[2] === flags) {
      pend[1] = cp;
      continue;
    }
    // surrogates are skipped: a range may not jump over them
    flushPend();
    pend = [cp, cp, flags];
    continue;
  }
  flushPend();
  lines.push(cp.toString(16) + ' ' + flags + ' ' + maps.join(' '));
}
flushPend();

// Canonical-order ranks of the survivors: rank = how many survivors sort strictly before it.
for (const x of survivors) {
  let rank = 0;
  for (const y of survivors) {
    if (x === y) continue;
    const r = nfd.normalizeString('a' + String.fromCodePoint(x) + String.fromCodePoint(y));
    if (r === 'a' + String.fromCodePoint(y) + String.fromCodePoint(x)) rank++; // y moved before x
  }
  lines.push('O ' + x.toString(16) + ' ' + (rank + 1));
}

const tmp = out + '.tmp';
fs.writeFileSync(tmp, zlib.gzipSync(lines.join('\n') + '\n', { level: 9 }));
fs.renameSync(tmp, out);
console.error(`wrote ${lines.length} lines to ${out} (${survivors.length} ordered survivors)`);
