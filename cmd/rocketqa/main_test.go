package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bin is the rocketqa binary built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rocketqa-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "rocketqa")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	// commands run in this process (inproc) must never replace it with a re-exec
	os.Setenv("ROCKETQA_NO_REEXEC", "1")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %s\n--- stdout:\n%s--- stderr:\n%s", r.code, r.elapsed.Round(time.Millisecond), r.stdout, r.stderr)
}

// testEnv is the environment of the runs: OPENBLAS_CORETYPE is preset (as the binary would set it) so that each
// run skips the restart, except where a test removes it; one libtorch thread per process keeps 2 cores sane.
func testEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "ROCKETQA_NO_REEXEC=") {
			env = append(env, e)
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if ct := coretypeFor(string(b)); ct != "" {
			env = append(env, coretypeEnv+"="+ct)
		}
	}
	return env
}

// rq runs the binary with args and the given environment (nil: testEnv()).
func rq(t testing.TB, env []string, args ...string) result {
	t.Helper()
	if env == nil {
		env = testEnv()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	t0 := time.Now()
	err := cmd.Run()
	r := result{stdout: o.String(), stderr: e.String(), elapsed: time.Since(t0)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	require.NoError(t, ctx.Err(), "rocketqa %v timed out", args)
	return r
}

// ok runs the binary and requires exit status 0.
func ok(t testing.TB, args ...string) result {
	t.Helper()
	r := rq(t, nil, args...)
	require.Equal(t, 0, r.code, "rocketqa %s\n%s", strings.Join(args, " "), r)
	return r
}

// inproc runs the command line in this process through realMain (what main does before os.Exit), capturing its
// output: the argument matrices run this way, a few cases through the binary check the process exit status.
func inproc(t testing.TB, args ...string) result {
	t.Helper()
	var o, e bytes.Buffer
	so, se := stdout, stderr
	stdout, stderr = &o, &e
	defer func() { stdout, stderr = so, se }()
	t0 := time.Now()
	code := realMain(args)
	return result{code: code, stdout: o.String(), stderr: e.String(), elapsed: time.Since(t0)}
}

func TestHelp(t *testing.T) {
	want := map[string][]string{
		"train-de": {"--train", "--init", "--config", "--vocab", "--out", "--dev", "--batch", "--epochs", "--max-steps",
			"--lr", "--warmup", "--schedule", "--wd", "--q-len", "--p-len", "--shared", "--chunk", "--grad-cache",
			"--device", "--autocast", "--seed", "--save-every", "--eval-every", "--threads", "--lang", "--dist-timeout",
			"--optimizer", "--clip", "--no-resume"},
		"train-pair": {"--stage", "--alpha", "--lamb", "--train", "--init", "--out", "--batch", "--chunk", "--grad-cache", "--no-cross-batch"},
		"pretrain": {"--collection", "--init", "--config", "--vocab", "--out", "--max-len", "--masking", "--mask-prob",
			"--batch", "--max-steps", "--lr", "--seed", "--lang"},
		"ict": {"--collection", "--out", "--per-passage", "--min-chars", "--max-chars", "--keep", "--seed"},
		"train-ce": {"--train", "--init", "--config", "--vocab", "--out", "--max-len", "--v2-head", "--perturb", "--lr",
			"--batch", "--epochs", "--wd", "--warmup", "--schedule", "--lang", "--optimizer"},
		"encode":  {"--model", "--collection", "--out", "--batch", "--device"},
		"index":   {"--emb", "--out", "--factory"},
		"search":  {"--model", "--index", "--queries", "--top-k", "--out", "--json"},
		"score":   {"--model", "--run", "--queries", "--collection", "--top-k", "--out"},
		"eval":    {"--run", "--ref", "--convention", "--out"},
		"mine":    {"--de-run", "--ce-run", "--queries", "--qrels", "--collection", "--out", "--threshold", "--neg-per-pos"},
		"augment": {"--de-run", "--ce-run", "--queries", "--collection", "--out", "--pos-threshold", "--neg-threshold"},
		"merge":   {"--out"},
		"queries": {"--train", "--collection", "--out-queries", "--out-qrels"},
		"convert": {"--out", "--q-max-len", "--p-max-len", "--max-len", "--for-cn"},
		"launch":  {"--nproc", "--master-port"},
		"train-joint": {"--de", "--ce", "--train", "--out", "--preset", "--list-size", "--variant", "--ce-head",
			"--query-once", "--chunk", "--cached", "--q-len", "--p-len", "--ce-len", "--batch", "--lr", "--device"},
		"lists":   {"--de-run", "--ce-run", "--queries", "--qrels", "--collection", "--out", "--list-size", "--top-n"},
		"rerank":  {"--model", "--run", "--queries", "--collection", "--top-k", "--out"},
		"memory":  {"--table", "--b", "--m", "--chunk", "--cached", "--dtype", "--optimizer"},
		"version": {},
	}
	require.Len(t, want, len(commands), "every subcommand is checked")
	top := ok(t, "--help") // through the binary
	for _, c := range commands {
		assert.Contains(t, top.stdout, "\n  "+c.Name+" ", "top-level help lists %s", c.Name)
	}
	bin := ok(t, "train-de", "-h")
	for _, c := range commands {
		t.Run(c.Name, func(t *testing.T) {
			r := inproc(t, c.Name, "--help")
			require.Equal(t, 0, r.code)
			if c.Name == "train-de" {
				assert.Equal(t, r.stdout, bin.stdout, "the binary prints the same help")
			}
			assert.Contains(t, r.stdout, "Usage:\n  rocketqa "+c.Name)
			assert.Contains(t, r.stdout, "Example:\n  rocketqa ")
			for _, f := range want[c.Name] {
				documented := strings.Contains(r.stdout, "\n  "+f+" ") || strings.Contains(r.stdout, "\n  "+f+"\n")
				assert.True(t, documented, "%s --help documents %s", c.Name, f)
			}
			assert.Empty(t, r.stderr)
		})
	}
	// "help <command>" is the same as "<command> --help"
	r := inproc(t, "help", "eval")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "Usage:\n  rocketqa eval")
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		msg  string
	}{
		{nil, "Commands:"},
		{[]string{"frobnicate"}, `rocketqa: unknown command "frobnicate"`},
		{[]string{"train-de", "--bogus"}, "rocketqa train-de: unknown flag --bogus"},
		{[]string{"encode", "--batch", "many"}, `rocketqa encode: invalid value "many" for flag --batch`},
		{[]string{"search", "--model", "m"}, "rocketqa search: --index, --out, --queries are required"},
		{[]string{"train-de", "--train", "x.tsv", "--out", "o"}, "rocketqa train-de: give --init DIR (pretrained model) or --config config.json with --vocab vocab.txt"},
		{[]string{"train-de", "--train", "x.tsv", "--out", "o", "--config", "c.json"}, "rocketqa train-de: --config needs --vocab"},
		{[]string{"train-ce", "--train", "x.tsv", "--out", "o", "--init", "m", "--lang", "fr"}, `rocketqa train-ce: --lang "fr": want zh or en`},
		{[]string{"train-de", "--train", "x.tsv", "--out", "o", "--init", "m", "--clip", "NaN"}, "rocketqa train-de: --clip NaN: must be a number"},
		{[]string{"train-ce", "--train", "x.tsv", "--out", "o", "--init", "m", "--clip", "-Inf"}, "rocketqa train-ce: --clip -Inf: must be a number"},
		{[]string{"train-de", "--train", "x.tsv", "--out", "o", "--init", "m", "--lr", "Inf"}, "rocketqa train-de: --lr +Inf: must be a positive number"},
		{[]string{"train-de", "--train", "x.tsv", "--out", "o", "--init", "m", "--warmup", "NaN"}, "rocketqa train-de: --warmup NaN: must be in [0, 1)"},
		{[]string{"train-de", "--train", "x.tsv", "--out", "o", "--init", "m", "--wd", "NaN"}, "rocketqa train-de: --wd NaN: must be a number"},
		{[]string{"train-ce", "--train", "x.tsv", "--out", "o", "--init", "m", "--optimizer", "sgd"}, `rocketqa train-ce: --optimizer "sgd": want adamw or lamb`},
		{[]string{"eval", "--run", "r.tsv", "--ref", "q.tsv", "--convention", "trec"}, `rocketqa eval: --convention "trec"`},
		{[]string{"index", "--emb", "e", "--out", "o", "stray"}, `rocketqa index: unexpected argument "stray"`},
		{[]string{"merge", "--out", "m.tsv"}, "rocketqa merge: no input files"},
		{[]string{"launch", "--nproc", "2"}, "rocketqa launch: no command to launch"},
		{[]string{"launch", "--nproc", "2", "--", "frob"}, `rocketqa launch: unknown command "frob" to launch`},
	}
	for _, c := range cases {
		t.Run(strings.Join(append([]string{"args"}, c.args...), "_"), func(t *testing.T) {
			r := inproc(t, c.args...)
			assert.Equal(t, 2, r.code, "%s", r)
			assert.Contains(t, r.stderr, c.msg)
			assert.Empty(t, r.stdout)
		})
	}
	// the exit status of the process itself, and no stack trace
	for _, args := range [][]string{{"frobnicate"}, {"train-de", "--bogus"}} {
		r := rq(t, nil, args...)
		assert.Equal(t, 2, r.code, "%s", r)
		assert.Equal(t, inproc(t, args...).stderr, r.stderr)
		assert.NotContains(t, r.stderr, "goroutine ")
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	bad := filepath.Join(dir, "bad.tsv")
	require.NoError(t, os.WriteFile(bad, []byte("只有\t三\t列\n"), 0o644))
	badRun := filepath.Join(dir, "bad.run.tsv")
	require.NoError(t, os.WriteFile(badRun, []byte("d0\tp00\t1\t0.5\nd0\tp01\tsecond\t0.4\n"), 0o644))
	missing := filepath.Join(dir, "missing.tsv")
	cases := []struct {
		name string
		args []string
		msg  []string
	}{
		{"train-de missing train", []string{"train-de", "--train", missing, "--config", f.config, "--vocab", f.vocab, "--out", filepath.Join(dir, "o")},
			[]string{"rocketqa train-de: --train " + missing + ": no such file or directory"}},
		{"train-de malformed train", []string{"train-de", "--train", bad, "--config", f.config, "--vocab", f.vocab, "--out", filepath.Join(dir, "o"), "--q-len", "16", "--p-len", "48"},
			[]string{"rocketqa train-de: ", bad + ":1:"}},
		{"train-ce missing vocab", []string{"train-ce", "--train", f.crossTrain, "--config", f.config, "--vocab", missing, "--out", filepath.Join(dir, "o")},
			[]string{"rocketqa train-ce: --vocab " + missing}},
		{"eval malformed run", []string{"eval", "--run", badRun, "--ref", f.devJSON},
			[]string{"rocketqa eval: ", badRun + ":2"}},
		{"eval missing ref", []string{"eval", "--run", badRun, "--ref", missing},
			[]string{"rocketqa eval: --ref " + missing}},
		{"search missing queries", []string{"search", "--model", dir, "--index", dir, "--queries", missing, "--out", filepath.Join(dir, "r.tsv")},
			[]string{"rocketqa search: --queries " + missing}},
		{"encode not a model", []string{"encode", "--model", dir, "--collection", f.coll, "--out", filepath.Join(dir, "emb")},
			[]string{"rocketqa encode: ", filepath.Join(dir, "rocketqa.json")}},
		{"merge malformed input", []string{"merge", "--out", filepath.Join(dir, "m.tsv"), f.dualTrain, bad},
			[]string{"rocketqa merge: ", bad + ":1"}},
		{"mine missing ce run", []string{"mine", "--de-run", badRun, "--ce-run", missing, "--queries", f.q2qid, "--qrels", f.devJSON, "--collection", f.coll, "--out", filepath.Join(dir, "m.tsv")},
			[]string{"rocketqa mine: --ce-run " + missing}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r result
			if i < 2 {
				r = rq(t, nil, c.args...) // through the binary: exit status 1, no stack trace
				assert.NotContains(t, r.stderr, "goroutine ")
			} else {
				r = inproc(t, c.args...)
			}
			assert.Equal(t, 1, r.code, "%s", r)
			for _, m := range c.msg {
				assert.Contains(t, r.stderr, m)
			}
		})
	}
	_, err := os.Stat(filepath.Join(dir, "m.tsv"))
	assert.True(t, os.IsNotExist(err), "a failed merge leaves no output")
}

// readJSONLines reads metrics.jsonl.
func readJSONLines(t testing.TB, path string) []map[string]any {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), "%s: %q", path, l)
		out = append(out, m)
	}
	return out
}

// stepStats returns the loss and the gradient norm (before clipping) of each training step in metrics.jsonl.
func stepStats(t testing.TB, path string) map[int][2]float64 {
	out := map[int][2]float64{}
	for _, m := range readJSONLines(t, path) {
		if l, ok := m["loss"].(float64); ok {
			out[int(m["step"].(float64))] = [2]float64{l, m["grad_norm"].(float64)}
		}
	}
	return out
}
