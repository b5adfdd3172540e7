// Package denoise builds the training files of steps 3 and 4 of the RocketQA v1 pipeline (Qu et al., NAACL 2021):
// denoised hard negatives mined from a dual-encoder run with a cross-encoder's scores, and pseudo-labelled lines for
// unlabelled queries. It follows the official scripts construct_marco_train_de.py and
// construct_unlabel_train_de.py (research/RocketQA_NAACL2021/data_process); see docs/method.md §3.3 (file
// formats) and §3.4 (the 4-step pipeline, its thresholds and counts). The package is plain Go and depends only
// on dataset.
//
// # Inputs
//
// LoadCandidates reads the dual-encoder run of the training queries (res.top1000: "qid \t pid \t rank \t score",
// the format dataset.RunWriter writes) and the cross-encoder scores of its top ranks (the same four columns,
// the score being the CE's probability of relevance, softmax p[1] in the official train_ce.py). The official
// scripts keep the CE scores in a separate one-score-per-line file aligned with the top 50 of each query; here the
// CE rows name their (qid, pid), which removes the alignment hazard. A top-K candidate without a CE score is never
// taken by the CE filter. A CE score outside [0, 1] is an error naming its line: the thresholds are probabilities,
// and a logit (what 'rocketqa score' writes for a v2-head cross-encoder) would pass them silently.
//
// LoadCandidates holds the whole run in memory, about 40 bytes per candidate (measured by BenchmarkLoadCandidates):
// the full MS MARCO train run (about 500,000 queries x 1,000) needs about 20 GB; cutting the run to fewer ranks
// (FillTo) cuts that in proportion.
//
// # Step 3: denoised hard negatives (Mine, MineQuery)
//
// For a query with n positives (qrels), with the defaults of MineOptions:
//
//  1. walk the candidates of ranks 1..50 in rank order; skip a positive, an "additional positive"
//     (qrels.train.addition.tsv: literal-match positives that are not in the qrels) and a pid already chosen;
//     keep a candidate whose CE score is < 0.1 (strictly: 0.1 itself is not a confident negative); stop at 4n;
//  2. if fewer than 4n were found, fill up with uniformly random picks without replacement from ranks 51..1000
//     (no CE filter; positives, additional positives and chosen pids excluded);
//  3. write 4 rounds, each pairing every positive in order with the negative popped from the end of the list:
//     4n lines (query, positive, negative, 0).
//
// The paper describes denoising as removing retrieved passages the cross-encoder predicts as positives with high
// confidence; the official code is stricter and keeps only confident negatives (CE < 0.1), which is what this
// package does. Its ce_threshold_pos = 0.9 is unused in step 3.
//
// Departures from the official script (on a well-formed run they change only the random draws and the query order):
//   - the fill uses Go's PCG generator seeded with (MineOptions.Seed, FNV-1a of the qid) instead of Python's
//     random.Random(111) shared by all queries, so a query's negatives depend only on its own inputs and the seed;
//   - queries are written in the order of MineInput.QIDs (the official script follows the qrels file);
//   - ranks are the rank column of the run (the official script uses the line position, the same thing for a run
//     written in rank order);
//   - when the candidates run out the query gets fewer lines instead of an endless loop, a query without
//     candidates is skipped instead of a KeyError, and a repeated positive counts once.
//
// # Step 4: data augmentation (Augment, AugmentQuery)
//
// For an unlabelled query (MS MARCO: ORCAS + Yahoo! Answers + NQ questions; NQ: MRQA questions), with the
// defaults of AugmentOptions: the pseudo-positive is the single highest-CE-scoring candidate of the top 50 if its
// score is > 0.9 (strictly); the negatives are the top-50 candidates with CE < 0.1, in rank order, up to 4 (1 on
// NQ), excluding the pseudo-positive; one line (query, pseudo-positive, negative, 0) per negative. Queries without
// a pseudo-positive or without a negative give no line. The official script tests `_pid in pos_qp[qid]` on the
// pseudo-positive's pid string, a substring test that also drops candidates whose pid is a substring of it; this
// package compares pids exactly.
//
// Merge then concatenates the step-3 and step-4 files into the training file of M_D(2) (the official
// `cat de1 unlabel > merge_de2`).
//
// All outputs are dual.train.tsv files (dataset.DualExample), written atomically; the same inputs and seed give
// byte-identical files.
package denoise
