package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/rocketqa-go/rocketqa/eval"
)

func runEval(_ context.Context, args []string) error {
	c := newCmd("eval",
		"rocketqa eval --run RUN.tsv|RUN.json --ref dev.json|qrels.tsv [--convention dureader|msmarco|seed] [--out metrics.json]",
		`Scores a run against the reference with the official semantics and prints the metrics as JSON on stdout
(and a one-line summary on stderr).

--run: a TSV run ("qid\tpid\trank[\tscore]", from 'search' or 'score'; TREC 6-column runs too) or a DuReader
prediction file {qid: [pid, ...]} (a .json file). --ref: DuReader dev.json (JSON lines with question_id and
answer_paragraphs) or a qrels file ("qid\tpid" or TREC "qid 0 pid rel").

Conventions: dureader (DuReader-retrieval evaluation.py: first 50 candidates, MRR@10, Recall@1, Recall@50, divided
by the number of reference queries); msmarco (RocketQA msmarco_eval.py: the same over 1000 ranks, plus recall@all);
seed (DuReader metrics divided by the number of queries in the run). Default: dureader for a .json --ref,
msmarco for a qrels file.`,
		`rocketqa eval --run dev.run.json --ref dureader/dev/dev.json --out metrics.json`)
	run := c.fs.String("run", "", "run file: TSV or DuReader JSON")
	ref := c.fs.String("ref", "", "reference: dev.json or qrels TSV")
	conv := c.fs.String("convention", "", "dureader, msmarco or seed (default: by the --ref format)")
	out := c.fs.String("out", "", "write the metrics JSON to this file too")
	c.req("run", "ref")
	if err := c.parse(args); err != nil {
		return err
	}
	var opt eval.Options
	switch *conv {
	case "":
		opt = eval.MSMarcoOfficial
		if isJSON(*ref) {
			opt = eval.DuReaderOfficial
		}
	case "dureader":
		opt = eval.DuReaderOfficial
	case "msmarco":
		opt = eval.MSMarcoOfficial
	case "seed":
		opt = eval.SeedCandidateDenominator
	default:
		return usagef("--convention %q: want dureader, msmarco or seed", *conv)
	}
	if err := mustFile("--run", *run); err != nil {
		return err
	}
	if err := mustFile("--ref", *ref); err != nil {
		return err
	}
	var r eval.Run
	var err error
	if isJSON(*run) {
		r, err = eval.LoadDuReaderRun(*run)
	} else {
		r, err = eval.LoadRunTSV(*run)
	}
	if err != nil {
		return err
	}
	var q eval.Qrels
	if isJSON(*ref) {
		q, err = eval.LoadDuReaderReference(*ref)
	} else {
		q, err = eval.LoadQrels(*ref)
	}
	if err != nil {
		return err
	}
	m, err := eval.Compute(r, q, opt)
	if err != nil {
		return fmt.Errorf("%s against %s: %w", *run, *ref, err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return err
	}
	stdout.Write(b.Bytes())
	logf("eval", "%s", m)
	if *out != "" {
		if err := m.WriteJSON(*out); err != nil {
			return err
		}
	}
	return nil
}
