package dataset

import (
	"cmp"
	"hash/maphash"
	"slices"
)

// FirstDuplicate finds a value that occurs more than once in ids and returns the indexes of two of its
// occurrences, i < j, choosing the repeat that comes first in ids (smallest j). ok is false when all values are
// distinct. Memory is 16 bytes per id (no map of strings), so it serves maps of
// millions of passages.
func FirstDuplicate(ids []string) (i, j int, ok bool) {
	type entry struct {
		h   uint64
		row int
	}
	seed := maphash.MakeSeed()
	es := make([]entry, len(ids))
	for r, id := range ids {
		es[r] = entry{maphash.String(seed, id), r}
	}
	slices.SortFunc(es, func(a, b entry) int {
		if c := cmp.Compare(a.h, b.h); c != 0 {
			return c
		}
		return cmp.Compare(a.row, b.row)
	})
	best := -1
	for k := 0; k < len(es); {
		m := k + 1
		for m < len(es) && es[m].h == es[k].h {
			m++
		}
		// es[k:m] share a hash: compare the strings (almost always a single pair)
		for a := k; a < m; a++ {
			for b := a + 1; b < m; b++ {
				if ids[es[a].row] == ids[es[b].row] && (best < 0 || es[b].row < j) {
					i, j, best = es[a].row, es[b].row, 1
				}
			}
		}
		k = m
	}
	return i, j, best >= 0
}
