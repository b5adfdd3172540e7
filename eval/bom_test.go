package eval

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A BOM at the start of a run TSV became part of the first qid, so eval reported MRR 0.0 where it is 1.0.
func TestRunFilesWithBOMScoreAsWithout(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
		return p
	}
	ref, err := LoadQrels(write("qrels.tsv", "\ufeffq1\tp1\n"))
	require.NoError(t, err)
	assert.Contains(t, ref, "q1")

	run, err := LoadRunTSV(write("run.tsv", "\ufeffq1\tp1\t1\t0.9\n"))
	require.NoError(t, err)
	m, err := DuReader(run, ref)
	require.NoError(t, err)
	assert.Equal(t, 1.0, m.MRR10)

	run, err = LoadDuReaderRun(write("run.json", "\ufeff{\"q1\": [\"p1\"]}"))
	require.NoError(t, err)
	m, err = DuReader(run, ref)
	require.NoError(t, err)
	assert.Equal(t, 1.0, m.MRR10)

	dev, err := LoadDuReaderReference(write("dev.json", "\ufeff{\"question_id\": \"q1\", \"question\": \"x\", \"answer_paragraphs\": [{\"paragraph_id\": \"p1\"}]}\n"))
	require.NoError(t, err)
	assert.Equal(t, ref, dev)
}

// dev.json given as one JSON array said "unexpected end of JSON input".
func TestDevJSONArraySaysWhatToDo(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dev.json")
	require.NoError(t, os.WriteFile(p, []byte("[\n  {\"question_id\": \"q1\", \"answer_paragraphs\": []}\n]\n"), 0o644))
	_, err := LoadDuReaderReference(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), p+":1:")
	assert.Contains(t, err.Error(), "JSON array")
	assert.Contains(t, err.Error(), "JSON lines")
	assert.NotContains(t, err.Error(), "unexpected end of JSON input")
}
