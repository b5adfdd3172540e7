package denoise

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMergeConcatenates(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "de1.tsv", dualLine("q1", "a", "b")+"\n"+dualLine("q1", "a", "c")+"\n")
	b := writeFile(t, dir, "unlabel.tsv", dualLine("u1", "x", "y")+"\r\n"+"u2\t\tpos text\t-\tneg text\t0") // CRLF, no final newline
	out := filepath.Join(dir, "merge_de2.tsv")
	require.NoError(t, Merge(context.Background(), out, a, b))
	want := dualLine("q1", "a", "b") + "\n" + dualLine("q1", "a", "c") + "\n" + dualLine("u1", "x", "y") + "\n" +
		"u2\t\tpos text\t-\tneg text\t0\n"
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, want, string(got))

	// Output may be one of the inputs.
	require.NoError(t, Merge(context.Background(), a, a, b, a))
	got, err = os.ReadFile(a)
	require.NoError(t, err)
	assert.Equal(t, dualLine("q1", "a", "b")+"\n"+dualLine("q1", "a", "c")+"\n"+dualLine("u1", "x", "y")+"\n"+
		"u2\t\tpos text\t-\tneg text\t0\n"+dualLine("q1", "a", "b")+"\n"+dualLine("q1", "a", "c")+"\n", string(got))
}

func TestMergeErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.tsv", dualLine("q1", "a", "b")+"\n")
	bad := writeFile(t, dir, "bad.tsv", dualLine("q1", "a", "b")+"\nq2\tt\tp\tt\tn\n")
	out := filepath.Join(dir, "out.tsv")

	err := Merge(context.Background(), out, good, bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad.tsv:2:")
	assert.Contains(t, err.Error(), "want 6 tab-separated columns, got 5")
	assert.NoFileExists(t, out)

	err = Merge(context.Background(), out, good, filepath.Join(dir, "none.tsv"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.NoFileExists(t, out)

	assert.ErrorContains(t, Merge(context.Background(), out), "no input files")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "no temporary file left behind")
}
