package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/rocketqa-go/rocketqa/rocketqa"
)

func runConvert(_ context.Context, args []string) error {
	c := helpCmd("convert")
	c.posArgs = "DIR"
	out := c.fs.String("out", "", "model directory to write")
	qlen := c.fs.Int("q-max-len", 0, "query length (q_max_seq_len) to record")
	plen := c.fs.Int("p-max-len", 0, "passage length (p_max_seq_len) to record")
	mlen := c.fs.Int("max-len", 0, "cross-encoder pair length (max_seq_len) to record")
	forCN := c.fs.String("for-cn", "", "true or false: remove spaces before tokenizing (Chinese models)")
	c.req("out")
	// DIR may come first, as in `rocketqa convert DIR --out OUT`
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		args = append(append([]string{}, args[1:]...), args[0])
	}
	if err := c.parse(args); err != nil {
		return err
	}
	if c.fs.NArg() != 1 {
		return usagef("convert takes one DIR (the official model folder or its config.json), got %d arguments", c.fs.NArg())
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"q-max-len", *qlen}, {"p-max-len", *plen}, {"max-len", *mlen}} {
		if f.v < 0 {
			return usagef("--%s %d: want a positive length", f.name, f.v)
		}
	}
	o := rocketqa.ConvertOptions{QMaxSeqLen: *qlen, PMaxSeqLen: *plen, MaxSeqLen: *mlen}
	if *forCN != "" {
		b, err := strconv.ParseBool(*forCN)
		if err != nil {
			return usagef("--for-cn %q: want true or false", *forCN)
		}
		o.ForCN = &b
	}
	dir := c.fs.Arg(0)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("DIR %s: %v", dir, pathErr(err))
	}
	rep, err := rocketqa.ConvertPaddle(dir, *out, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "converted %s (%s) -> %s\n", dir, rep.Layout, *out)
	fmt.Fprintf(stdout, "  %d variables mapped, %d unused\n", rep.Mapped, len(rep.Unused))
	for _, u := range rep.Unused {
		fmt.Fprintf(stdout, "  unused: %s\n", u)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(stdout, "  note: %s\n", n)
	}
	return nil
}
