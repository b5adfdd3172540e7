package demo

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/eval"
)

// TestPrintTableAligns: a model name longer than the default column (the demo's "trained from pre-trained (500
// steps)") no longer pushes its figures out of their columns: every line's MRR@10 ends at the same column.
func TestPrintTableAligns(t *testing.T) {
	var b strings.Builder
	PrintTable(&b, []Row{{Name: "untrained (random init)", M: eval.Metrics{MRR10: 0.0057}},
		{Name: "trained from pre-trained (500 steps)", M: eval.Metrics{MRR10: 0.2169}, Note: "(retrieval 1s)"}})
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	require.Len(t, lines, 3)
	end := func(line, field string) int {
		i := strings.Index(line, field)
		require.GreaterOrEqual(t, i, 0, "%q in %q", field, line)
		return i + len(field)
	}
	want := end(lines[0], "MRR@10")
	require.Equal(t, want, end(lines[1], "0.57"), "\n%s", b.String())
	require.Equal(t, want, end(lines[2], "21.69"), "\n%s", b.String())
}
