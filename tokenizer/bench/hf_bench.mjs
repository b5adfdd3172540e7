// HF tokenizers (npm tokenizers@0.23.2) side of the tokenizer benchmark; run by bench/main.go.
//
// Usage: NODE_PATH=<dir holding node_modules> TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1 \
//          node hf_bench.mjs <corpus_zh.jsonl.gz> <vocab.txt> <maxLen> <reps>
//
// Same pipeline as the parity fixtures (WordPiece.fromFile + bertNormalizer + bertPreTokenizer +
// bertProcessing + setTruncation(maxLen)). Two measurements, each repeated <reps> times:
//   pairs:  encode(title, para) awaited one at a time in a loop (this binding's encodeBatch takes no pairs);
//   single: one encodeBatch(paras) call, single-threaded (TOKENIZERS_PARALLELISM=false).
// Prints one JSON line: {"pairs": [seconds...], "single": [seconds...], "pairsSum": n, "singleSum": n}
// (the sums of all ids, to check that both sides did the same work).
import { createRequire } from 'module';
import fs from 'fs';
import zlib from 'zlib';
import path from 'path';

const require = createRequire(path.join(process.env.NODE_PATH || process.cwd(), 'x.js'));
const tk = require('tokenizers');

const [corpusPath, vocabPath, maxLenS, repsS] = process.argv.slice(2);
const maxLen = Number(maxLenS);
const reps = Number(repsS);
const items = zlib
  .gunzipSync(fs.readFileSync(corpusPath))
  .toString('utf8')
  .split('\n')
  .filter((l) => l)
  .map((l) => JSON.parse(l));

const model = await tk.WordPiece.fromFile(vocabPath, { unkToken: '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 });
const t = new tk.Tokenizer(model);
t.setNormalizer(tk.bertNormalizer({ cleanText: true, handleChineseChars: true, lowercase: true }));
t.setPreTokenizer(tk.bertPreTokenizer());
t.setPostProcessor(tk.bertProcessing(['[SEP]', t.tokenToId('[SEP]')], ['[CLS]', t.tokenToId('[CLS]')]));
t.setTruncation(maxLen);

const sum = (ids) => ids.reduce((a, b) => a + b, 0);
const out = { pairs: [], single: [], pairsSum: 0, singleSum: 0 };
const paras = items.map((it) => it.p);
for (let r = 0; r < reps; r++) {
  const encs = new Array(items.length);
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < items.length; i++) encs[i] = await t.encode(items[i].t, items[i].p);
  out.pairs.push(Number(process.hrtime.bigint() - t0) / 1e9);
  let s = 0;
  if (r === 0) for (const e of encs) s += sum(e.getIds());
  if (r === 0) out.pairsSum = s;

  s = 0;
  t0 = process.hrtime.bigint();
  const es = await t.encodeBatch(paras);
  out.single.push(Number(process.hrtime.bigint() - t0) / 1e9);
  if (r === 0) for (const e of es) s += sum(e.getIds());
  if (r === 0) out.singleSum = s;
}
console.log(JSON.stringify(out));
