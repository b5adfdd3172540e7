package dataset

import (
	"hash/maphash"
	"slices"
)

// FirstDuplicate finds a value that occurs more than once in ids and returns the indexes of two of its
// occurrences, i < j, choosing the repeat that comes first in ids (smallest j). ok is false when all values are
// distinct. It sorts 64-bit hashes (8 bytes per id, no map of strings), then compares the strings of the few
// colliding hashes, so it serves maps of millions of passages.
func FirstDuplicate(ids []string) (i, j int, ok bool) {
	seed := maphash.MakeSeed()
	hs := make([]uint64, len(ids))
	for r, id := range ids {
		hs[r] = maphash.String(seed, id)
	}
	slices.Sort(hs)
	var coll map[uint64]bool
	for k := 1; k < len(hs); k++ {
		if hs[k] == hs[k-1] {
			if coll == nil {
				coll = map[uint64]bool{}
			}
			coll[hs[k]] = true
		}
	}
	if coll == nil {
		return 0, 0, false
	}
	// second pass over the rows whose hash collides: the first row whose string was seen before
	first := map[string]int{}
	for r, id := range ids {
		if !coll[maphash.String(seed, id)] {
			continue
		}
		if p, seen := first[id]; seen {
			return p, r, true
		}
		first[id] = r
	}
	return 0, 0, false // hash collisions of distinct strings only
}
