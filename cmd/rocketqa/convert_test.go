package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/rocketqa"
)

// TestConvertCommand: `rocketqa convert DIR --out OUT` writes a model directory Load reads; usage and input
// errors get exit status 2 and 1.
func TestConvertCommand(t *testing.T) {
	src := filepath.Join("..", "..", "rocketqa", "testdata", "paddle", "zh_ce_v1")
	out := filepath.Join(t.TempDir(), "ce")
	r := inproc(t, "convert", src, "--out", out)
	require.Equal(t, 0, r.code, "%s", r)
	require.Contains(t, r.stdout, "v1 cross-encoder")
	require.Contains(t, r.stdout, "41 variables mapped, 0 unused")
	m, err := rocketqa.Load(out, rocketqa.LoadOptions{})
	require.NoError(t, err)
	require.NotNil(t, m.Cross)
	m.Close()

	// flags first, DIR last, and a rerun into the same OUT (an earlier conversion) are fine
	r = inproc(t, "convert", "--out", out, "--max-len", "16", src)
	require.Equal(t, 0, r.code, "%s", r)

	r = inproc(t, "convert", "--out", out)
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "one DIR")
	r = inproc(t, "convert", t.TempDir(), "--out", filepath.Join(t.TempDir(), "x"))
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "not an official Paddle model folder")
	r = inproc(t, "convert", src, "--out", out, "--for-cn", "maybe")
	require.Equal(t, 2, r.code)
}
