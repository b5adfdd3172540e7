package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/rocketqa-go/rocketqa/eval"
	"github.com/rocketqa-go/rocketqa/internal/cli"
)

func runEval(_ context.Context, args []string) error {
	c := helpCmd("eval")
	f := struct{ Run, Ref, Convention, Out string }{}
	c.Bind(&f, cli.Flag{"run", "Run", "run file: TSV or DuReader JSON"}, cli.Flag{"ref", "Ref", "reference: dev.json or qrels TSV"},
		cli.Flag{"convention", "Convention", "dureader, msmarco or seed (default: by the --ref format)"},
		cli.Flag{"out", "Out", "write the metrics JSON to this file too"})
	c.Require("run", "ref")
	if err := c.parse(args); err != nil {
		return err
	}
	opt, err := eval.Convention(f.Convention, f.Ref)
	if err != nil {
		return usagef("--convention %q: want dureader, msmarco or seed", f.Convention)
	}
	if err := cli.FirstErr(cli.MustFile("--run", f.Run), cli.MustFile("--ref", f.Ref)); err != nil {
		return err
	}
	r, err := eval.LoadRun(f.Run)
	if err != nil {
		return err
	}
	q, err := eval.LoadReference(f.Ref)
	if err != nil {
		return err
	}
	m, err := eval.Compute(r, q, opt)
	if err != nil {
		return fmt.Errorf("%s against %s: %w", f.Run, f.Ref, err)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", b)
	logf("eval", "%s", m)
	if f.Out != "" {
		return m.WriteJSON(f.Out)
	}
	return nil
}
