package jointtrain

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadListsLaterLineLabelledPositive: two consecutive lists of one query (BuildLists writes them for a query
// that has an undenoised and a denoised list) read with twice their size would make the second list's positive a
// negative of the first; a line after the first that is not labelled 0 is an error naming the list.
func TestReadListsLaterLineLabelledPositive(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lists.tsv")
	require.NoError(t, os.WriteFile(p, []byte("q1\tt\tp1\t1\nq1\tt\tp2\t0\nq1\tt\tp3\t1\nq1\tt\tp4\t0\n"), 0o644))
	ls, err := ReadLists(p, 2)
	require.NoError(t, err)
	require.Len(t, ls, 2)
	_, err = ReadLists(p, 4)
	require.ErrorContains(t, err, "lists.tsv:1: line 3 of the list starting here is labelled 1, want 0")
	require.ErrorContains(t, err, "is 4 the file's list size?")
}
