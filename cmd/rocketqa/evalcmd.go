package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/rocketqa-go/rocketqa/eval"
)

func runEval(_ context.Context, args []string) error {
	c := helpCmd("eval")
	run := c.fs.String("run", "", "run file: TSV or DuReader JSON")
	ref := c.fs.String("ref", "", "reference: dev.json or qrels TSV")
	conv := c.fs.String("convention", "", "dureader, msmarco or seed (default: by the --ref format)")
	out := c.fs.String("out", "", "write the metrics JSON to this file too")
	c.req("run", "ref")
	if err := c.parse(args); err != nil {
		return err
	}
	opt, err := eval.Convention(*conv, *ref)
	if err != nil {
		return usagef("--convention %q: want dureader, msmarco or seed", *conv)
	}
	if err := mustFile("--run", *run); err != nil {
		return err
	}
	if err := mustFile("--ref", *ref); err != nil {
		return err
	}
	r, err := eval.LoadRun(*run)
	if err != nil {
		return err
	}
	q, err := eval.LoadReference(*ref)
	if err != nil {
		return err
	}
	m, err := eval.Compute(r, q, opt)
	if err != nil {
		return fmt.Errorf("%s against %s: %w", *run, *ref, err)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", b)
	logf("eval", "%s", m)
	if *out != "" {
		return m.WriteJSON(*out)
	}
	return nil
}
