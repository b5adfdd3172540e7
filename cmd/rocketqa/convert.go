package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/rocketqa-go/rocketqa/internal/cli"
	"github.com/rocketqa-go/rocketqa/rocketqa"
)

func runConvert(_ context.Context, args []string) error {
	c := helpCmd("convert")
	c.PosArgs = "DIR"
	f := struct{ Out, ForCN string }{}
	o := rocketqa.ConvertOptions{}
	c.Bind(&f, cli.Flag{"out", "Out", "model directory to write"}, cli.Flag{"for-cn", "ForCN", "true or false: remove spaces before tokenizing (Chinese models)"})
	c.Bind(&o, cli.Flag{"q-max-len", "QMaxSeqLen", "query length (q_max_seq_len) to record"},
		cli.Flag{"p-max-len", "PMaxSeqLen", "passage length (p_max_seq_len) to record"},
		cli.Flag{"max-len", "MaxSeqLen", "cross-encoder pair length (max_seq_len) to record"})
	c.Require("out")
	c.NonNegative("q-max-len", "p-max-len", "max-len")
	// DIR may come first, as in `rocketqa convert DIR --out OUT`
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		args = append(append([]string{}, args[1:]...), args[0])
	}
	if err := c.parse(args); err != nil {
		return err
	}
	if c.FS.NArg() != 1 {
		return usagef("convert takes one DIR (the official model folder or its config.json), got %d arguments", c.FS.NArg())
	}
	if f.ForCN != "" {
		b, err := strconv.ParseBool(f.ForCN)
		if err != nil {
			return usagef("--for-cn %q: want true or false", f.ForCN)
		}
		o.ForCN = &b
	}
	dir := c.FS.Arg(0)
	if _, err := statErr("DIR", dir); err != nil {
		return err
	}
	rep, err := rocketqa.ConvertPaddle(dir, f.Out, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "converted %s (%s) -> %s\n  %d variables mapped, %d unused\n", dir, rep.Layout, f.Out, rep.Mapped, len(rep.Unused))
	for _, u := range rep.Unused {
		fmt.Fprintf(stdout, "  unused: %s\n", u)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(stdout, "  note: %s\n", n)
	}
	return nil
}
