package encoder

import (
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// covers checks that a plan lists every index once.
func covers(t *testing.T, plan [][]int, n int) {
	t.Helper()
	var all []int
	for _, b := range plan {
		require.NotEmpty(t, b)
		all = append(all, b...)
	}
	sort.Ints(all)
	require.Len(t, all, n)
	for i, j := range all {
		require.Equal(t, i, j)
	}
}

func TestBatchingPlanCount(t *testing.T) {
	lens := []int{3, 9, 5, 1, 7, 2, 8}
	plan := Batching{BatchSize: 3, SortWindow: 1}.Plan(lens)
	require.Equal(t, [][]int{{0, 1, 2}, {3, 4, 5}, {6}}, plan, "no sorting: input order")
	plan = Batching{BatchSize: 2, SortWindow: 4}.Plan(lens)
	// windows {3,9,5,1} and {7,2,8}, each sorted longest first
	require.Equal(t, [][]int{{1, 2}, {0, 3}, {6, 4}, {5}}, plan)
	plan = Batching{BatchSize: 2}.Plan(lens) // default window: 50 batches, all of them here
	require.Equal(t, [][]int{{1, 6}, {4, 2}, {0, 5}, {3}}, plan)
	covers(t, plan, len(lens))
	require.Empty(t, Batching{}.Plan(nil))
	// batches are capped slices: appending to one must not overwrite the next
	b0 := append(plan[0], 99)
	require.Equal(t, []int{1, 6, 99}, b0)
	require.Equal(t, []int{4, 2}, plan[1])
}

func TestBatchingPlanTokenBudget(t *testing.T) {
	lens := []int{10, 40, 20, 20, 5, 40, 5, 5, 5, 100}
	plan := Batching{TokenBudget: 80}.Plan(lens)
	covers(t, plan, len(lens))
	for _, b := range plan {
		longest := 0
		for _, j := range b {
			longest = max(longest, lens[j])
		}
		require.True(t, len(b)*longest <= 80 || len(b) == 1, "batch %v: %d rows × %d tokens", b, len(b), longest)
	}
	// sorted longest first: 100 alone (over budget, still one batch), 40+40, 20+20 (+10 makes 3×20=60 and +5 4×20=80)
	require.Equal(t, [][]int{{9}, {1, 5}, {2, 3, 0, 4}, {6, 7, 8}}, plan)
	// without sorting the running maximum counts: 10, 40 → 2×40 = 80 fits, then 20 makes 3×40 > 80
	plan = Batching{TokenBudget: 80, SortWindow: 1}.Plan(lens)
	require.Equal(t, [][]int{{0, 1}, {2, 3, 4}, {5, 6}, {7, 8}, {9}}, plan)
	covers(t, plan, len(lens))
}
