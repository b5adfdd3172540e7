// Package dataset reads and writes the data files of RocketQA, PAIR, RocketQA v2,
// DuReader-retrieval and MS MARCO, as the official releases lay them out.
//
// Every reader streams: it holds one line (or one JSON value) at a time, so an
// 8M-line passage collection is read in bounded memory. Lines may be several
// megabytes long (Options.MaxLineBytes, default 64 MiB). A malformed line is an
// error of type *LineError that names the file and the 1-based line number;
// with Options{SkipBad: true} such lines are skipped instead and counted
// (Skipped). Readers follow one pattern:
//
//	r, err := dataset.OpenDualTrain(path)
//	if err != nil { ... }
//	defer r.Close()
//	for r.Next() {
//		ex := r.Example()
//		...
//	}
//	if err := r.Err(); err != nil { ... }
//
// Files whose name ends in ".gz" are decompressed on the fly. A UTF-8 BOM at the
// start of a file is not data: every reader drops it (SkipBOM, StripBOM: the one
// rule that the readers of packages eval and retrieval follow too).
//
// A line longer than MaxLineBytes stops the reader at once (a file without
// newlines, such as /dev/zero, is refused after MaxLineBytes bytes). Reading is
// cancelled by a context given as Options.Context: Next returns false soon
// after it is cancelled, with Err wrapping the context's error and naming
// file:line, also while the open or a read of a FIFO blocks:
//
//	r, err := dataset.OpenDualTrain(path, dataset.Options{Context: ctx})
//

// Writers write to a temporary file in the target directory and rename it over
// the target on Close, so a failed run never leaves a partial file behind; the
// file gets FileMode (0644). CreateTemp and CommitTemp are that one atomic
// writer, shared with package retrieval.
// Abort discards what was written. A Write that refuses its record (a field
// holding a TAB or newline, a missing id, ...) is sticky: later writes fail
// and Close discards the file and returns that error.
//
// Formats (columns are separated by one TAB; spec sections in brackets):
//
//   - dual.train.tsv [3.3, 6.1]: query, title_pos, para_pos, title_neg, para_neg, label (6 columns).
//   - cross.train.tsv [3.2, 6.1]: query, title, para, label (0 or 1).
//   - passage collection parts, DuReader passage-collection/part-0N and RocketQA
//     para_8part/part-0N [1.4, 3.3]: "-", title, para, "0"; the passage is identified by
//     its row, the line index over all parts in order.
//   - passage2id.map.json [1.4]: one JSON object {"<row>": "<pid>"}.
//   - q2qid.dev.json [6.1]: one JSON object {"<query text>": "<qid>"}.
//   - dev.json [1.5, 6.1]: JSON lines {question_id, question, answer_paragraphs: [{paragraph_id, paragraph_text}]}.
//   - MS MARCO / RocketQA corpus files para.txt, para.title.txt, collection.tsv,
//     queries.*.tsv, *.query.txt [3.3]: id, text (2 columns).
//   - qrels.*.tsv [3.3, 7]: qid, pid (2 columns) or TREC "qid 0 pid rel" (4 columns).
//   - query input files *.q.format / *.query.txt.format [3.3]: query, "-", "-", "0".
//   - RocketQA v2 joint-training lists [5.3]: query, title, para, label; each block of
//     m consecutive lines is one list whose first line is the positive.
//   - run files (search results) [3.3, 6.3]: "qid \t pid \t rank [\t score]" or TREC's
//     "qid Q0 pid rank score tag" (OpenRun, ReadRun; RunWriter writes them), and the
//     DuReader prediction file {qid: [pid, ...]} (ReadRunJSON; RunWriter writes it too).
//
// ReadQueries, ReadPositives and LoadPassages read the inputs of the retrieval
// stages whatever their format (q2qid.dev.json, dev.json or a qid/query TSV;
// qrels or dev.json; a DuReader collection directory or MS MARCO corpus files).
package dataset
