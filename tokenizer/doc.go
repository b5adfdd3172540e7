// Package tokenizer is a pure-Go BERT WordPiece tokenizer (BERT's BasicTokenizer + WordpieceTokenizer, as
// used by ERNIE and RocketQA) and the RocketQA input construction built on it.
//
// # Parity with HuggingFace tokenizers
//
// Tokens, IDs and the Encode* functions give exactly what HuggingFace tokenizers (the Rust library; checked
// against npm tokenizers@0.23.2) gives for
//
//	WordPiece.fromFile(vocab, {unkToken: "[UNK]", continuingSubwordPrefix: "##", maxInputCharsPerWord: 100})
//	+ bertNormalizer({cleanText, handleChineseChars, stripAccents, lowercase})
//	+ bertPreTokenizer() + bertProcessing(["[SEP]", sep], ["[CLS]", cls]) + setTruncation(maxLen)
//
// with no added tokens, so "[SEP]" written in a text is split like any text, as the official RocketQA
// FullTokenizer does. HF's normalizer and pre-tokenizer use Unicode data of several ages (see unicode.go);
// this package carries tables generated from HF itself and a test checks all 1,112,064 code points.
// testdata/ holds the generators (gen.sh) and about 28,000 fixture records on real Chinese and English text
// (queries, passages, cross-encoder pairs, with and without truncation, padded batches) that the tests
// require to match with 0 mismatches.
//
// The official RocketQA FullTokenizer (Python, rocketqa/utils/tokenization.py) differs from HF in two rules besides
// Unicode data versions: its clean_text also drops unassigned code points (Cn), and its CJK ranges include
// U+2B820..U+2B91F. This package follows HF in both.
//
// # Input construction (official RocketQA readers)
//
//   - EncodeQuery: [CLS] q [SEP], q truncated to maxLen-2, type ids 0.
//   - EncodePassage: [CLS] title [SEP] para [SEP], title and para truncated together to maxLen-3 by the
//     longest-first rule, type ids 0 for [CLS] title [SEP] and 1 for para [SEP].
//   - EncodePair (cross-encoder): [CLS] q [SEP] title para [SEP] with title and para tokens concatenated, then
//     q and title+para truncated together to maxLen-3 (_truncate_seq_pair).
//   - EncodePairCut (v2 joint training, task_reader_shuffle.py): the same layout, q first cut to qMaxLen-2 and
//     title+para to pMaxLen-3 as for the dual encoder.
//   - Options.RemoveSpaces is the official for_cn: text.replace(" ", "") before tokenizing.
//   - Pad pads to the longest sequence of the batch with [PAD]; type ids 0 and mask 0 on padding.
//
// The official longest-first rule (TruncatePair) pops from the longer sequence and, on a tie, from the second.
// HF's LongestFirst strategy disagrees in one case (both sequences cut, odd budget, first not longer than the
// second after HF has cut each to maxLen: HF keeps one more token of the second sequence, the official rule one
// more of the first); the official rule wins here. The parity tests check those cases (about 2,500 of the
// fixtures) against a Go re-statement of the official Python loop and everything else against HF.
//
// Special token ids ([CLS], [SEP], [PAD], [UNK], [MASK]) are read from the vocabulary by name, so BERT
// ([CLS] 101, [SEP] 102) and ERNIE 1.0 ([CLS] 1, [SEP] 2) vocabularies both work.
//
// # Input that is not valid UTF-8
//
// Each byte of an invalid UTF-8 sequence is read as U+FFFD, which CleanText removes (as HF removes U+FFFD);
// without CleanText it stays in its word, which then most likely becomes [UNK].
package tokenizer
