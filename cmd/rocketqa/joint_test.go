package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestJointCommands: memory prints the official table and one setting; train-joint trains from train-de and
// train-ce outputs on a list file and writes final/de and final/ce; rerank accepts the joint output; usage errors
// name the flag; a list size that is not the file's names the file and line.
func TestJointCommands(t *testing.T) {
	r := inproc(t, "memory", "--table")
	require.Equal(t, 0, r.code, r.String())
	require.Contains(t, r.stdout, "MS MARCO B=3 m=128 chunk 32")
	require.Contains(t, r.stdout, "seed 24GB")
	r = inproc(t, "memory", "--b", "1", "--m", "128", "--chunk", "16", "--cached")
	require.Equal(t, 0, r.code, r.String())
	require.Contains(t, r.stdout, "B=1 m=128 chunk 16")
	r = inproc(t, "memory", "--dtype", "int8")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "--dtype")

	dir := t.TempDir()
	f := writeFixture(t, dir)
	de, ce := filepath.Join(dir, "de"), filepath.Join(dir, "ce")
	ok(t, "train-de", "--train", f.dualTrain, "--config", f.config, "--vocab", f.vocab, "--out", de, "--max-steps", "1", "--batch", "2", "--threads", "1", "--q-len", "16", "--p-len", "32")
	ok(t, "train-ce", "--train", f.crossTrain, "--config", f.config, "--vocab", f.vocab, "--out", ce, "--max-steps", "1", "--batch", "2", "--threads", "1", "--max-len", "48")
	var lists strings.Builder
	for i, x := range fixtureTrain {
		fmt.Fprintf(&lists, "%s\t\t%s\t1\n", x.query, fixturePassages[x.pos])
		for _, n := range []int{x.neg, (x.neg + i + 1) % len(fixturePassages)} {
			fmt.Fprintf(&lists, "%s\t\t%s\t0\n", x.query, fixturePassages[n])
		}
	}
	lf := filepath.Join(dir, "lists.tsv")
	require.NoError(t, os.WriteFile(lf, []byte(lists.String()), 0o644))
	out := filepath.Join(dir, "joint")
	args := []string{"train-joint", "--de", filepath.Join(de, "final"), "--ce", filepath.Join(ce, "final"), "--train", lf,
		"--list-size", "3", "--batch", "2", "--max-steps", "2", "--chunk", "2", "--q-len", "16", "--p-len", "32", "--ce-len", "48",
		"--threads", "1", "--out", out}
	r = ok(t, args...)
	require.Contains(t, r.stdout, "final\t"+filepath.Join(out, "final"))
	for _, sub := range []string{"de", "ce"} {
		_, err := os.Stat(filepath.Join(out, "final", sub, "rocketqa.json"))
		require.NoError(t, err)
	}
	bad := append(append([]string(nil), args[:len(args)-1]...), filepath.Join(dir, "joint2"))
	bad[8] = "2" // --list-size 2
	r = inproc(t, bad...)
	require.Equal(t, 1, r.code, r.String())
	require.Contains(t, r.stderr, "lists.tsv:")
	require.Contains(t, r.stderr, "is 2 the file's list size?")
	r = inproc(t, "train-joint", "--de", de, "--ce", ce, "--train", lf, "--out", out, "--variant", "kl")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "--variant")

	// rerank a hand-made run of the dev queries with the joint cross-encoder
	var run strings.Builder
	for _, d := range fixtureDev {
		for k, p := range []int{0, 1, 8, 6} {
			fmt.Fprintf(&run, "%s\t%s\t%d\n", d.qid, fixturePID(p), k+1)
		}
	}
	rf := filepath.Join(dir, "dev.run.tsv")
	require.NoError(t, os.WriteFile(rf, []byte(run.String()), 0o644))
	scored := filepath.Join(dir, "dev.rerank.tsv")
	ok(t, "rerank", "--model", filepath.Join(out, "final"), "--run", rf, "--queries", f.q2qid, "--collection", f.coll, "--out", scored, "--threads", "1")
	b, err := os.ReadFile(scored)
	require.NoError(t, err)
	require.Len(t, strings.Split(strings.TrimSpace(string(b)), "\n"), 16)
}
