package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/fielderr"
)

type kind string

type inner struct {
	LR    float64
	Steps int
	Kind  kind
}

type outer struct {
	inner // promoted fields
	Name  string
	Seed  uint64
	Wait  time.Duration
	Train inner
	On    bool
}

func newTestCommand() (*Command, *outer) {
	c := NewCommand("x", "rocketqa x", "Does x.", "rocketqa x --name a")
	o := &outer{inner: inner{LR: 0.5, Kind: "a"}, Seed: 7, Wait: time.Second, Train: inner{Steps: 3}}
	c.Bind(o, Flag{"lr", "LR", "rate"}, Flag{"steps", "Train.Steps", "steps"}, Flag{"kind", "Kind", "kind"},
		Flag{"name", "Name", "name"}, Flag{"seed", "Seed", "seed"}, Flag{"wait", "Wait", "wait"}, Flag{"on", "On", "switch"})
	return c, o
}

// TestBind: flags set the fields their paths name (promoted, nested, named types, durations), the defaults are
// the fields' values, and FlagFor maps a path back to its flag.
func TestBind(t *testing.T) {
	c, o := newTestCommand()
	require.NoError(t, c.Parse([]string{"--lr", "0.25", "--steps", "9", "--kind", "b", "--name", "n", "--seed", "8", "--wait", "2m", "--on"}, nil))
	assert.Equal(t, outer{inner: inner{LR: 0.25, Kind: "b"}, Name: "n", Seed: 8, Wait: 2 * time.Minute, Train: inner{Steps: 9}, On: true}, *o)
	assert.Equal(t, "--steps", c.FlagFor("Train.Steps"))
	assert.Equal(t, "", c.FlagFor("Train.LR"))
	var help bytes.Buffer
	c.PrintHelp(&help)
	for _, want := range []string{"--lr float\n        rate (default 0.5)", "--steps int\n        steps (default 3)", "--seed uint\n        seed (default 7)",
		"--wait duration\n        wait (default 1s)", "--kind string\n        kind (default a)"} {
		assert.Contains(t, help.String(), want)
	}
	assert.Panics(t, func() { c.Bind(o, Flag{"bad", "Train.Nope", ""}) })
}

// TestFlagRules: Positive and NonNegative apply to values given on the command line (a default of 0 is the
// command's own choice), OneOf to every value, SetDefaults only to flags not given.
func TestFlagRules(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"--steps", "0"}, "--steps 0: must be positive"},
		{[]string{"--lr", "NaN"}, "--lr NaN: must be positive"},
		{[]string{"--wait", "0s"}, "--wait 0s: must be positive"},
		{[]string{"--seed", "1"}, ""},
		{[]string{"--kind", "c"}, `--kind "c": want a or b`},
		{[]string{"--name", "z"}, `--name "z": want x`},
	}
	for _, cs := range cases {
		c, _ := newTestCommand()
		c.Positive("steps", "lr", "wait")
		c.NonNegative("seed")
		c.OneOf("kind", "a", "b")
		c.OneOf("name", "", "x")
		err := c.Parse(cs.args, nil)
		if cs.want == "" {
			assert.NoError(t, err, "%v", cs.args)
			continue
		}
		var ue *UsageError
		require.ErrorAs(t, err, &ue, "%v", cs.args)
		assert.Equal(t, cs.want, ue.Msg)
	}
	c, o := newTestCommand()
	require.NoError(t, c.Parse([]string{"--lr", "0.1"}, nil))
	c.SetDefaults(map[string]any{"lr": 0.9, "steps": 128})
	assert.Equal(t, 0.1, o.LR, "given on the command line")
	assert.Equal(t, 128, o.Train.Steps)
}

// TestAppReport: exit statuses and messages, a library's field error in the flags' names.
func TestAppReport(t *testing.T) {
	fe := fielderr.New("lib", "{Train.Steps} %d: must be positive", -1)
	file := &fielderr.Error{Pkg: "lib", Msg: "{Name} x: no such file or directory", File: true}
	cases := []struct {
		err  error
		code int
		msg  string
	}{
		{nil, 0, ""},
		{ErrHelp, 0, ""},
		{Usagef("bad"), 2, "app x: bad\nRun 'app x --help' for usage.\n"},
		{fe, 2, "app x: --steps -1: must be positive\nRun 'app x --help' for usage.\n"},
		{file, 1, "app x: --name x: no such file or directory\n"},
		{fmt.Errorf("loading: %w", fe), 1, "app x: loading: --steps -1: must be positive\n"},
		{&ExitError{Code: 7, Err: errors.New("rank 1 failed")}, 7, "app x: rank 1 failed\n"},
		{errors.New("app: boom"), 1, "app x: boom\n"},
	}
	for _, cs := range cases {
		var out, errb bytes.Buffer
		a := &App{Name: "app", Stdout: &out, Stderr: &errb, Usage: func(io.Writer) {},
			FlagFor: names{"Train.Steps": "--steps", "Name": "--name"}.get,
			Subs:    []*Sub{{Name: "x", Run: func(context.Context, []string) error { return cs.err }}}}
		assert.Equal(t, cs.code, a.Main([]string{"x"}), "%v", cs.err)
		assert.Equal(t, cs.msg, errb.String())
	}
	var errb bytes.Buffer
	a := &App{Name: "app", Stderr: &errb, Usage: func(w io.Writer) { fmt.Fprint(w, "usage") }}
	assert.Equal(t, 2, a.Main([]string{"nope"}))
	assert.True(t, strings.HasPrefix(errb.String(), `app: unknown command "nope"`))
	assert.Equal(t, 2, a.Main(nil))
}

type names map[string]string

func (n names) get(path string) string { return n[path] }
