package encoder

import "sort"

// Batching says how sequences are grouped into forward passes for inference (the Embedder and the Reranker).
type Batching struct {
	// BatchSize is the number of sequences per forward pass when TokenBudget is 0 (default 64).
	BatchSize int
	// TokenBudget, when > 0, replaces BatchSize: each batch holds as many sequences as fit rows × longest ≤
	// TokenBudget (the padded token count; at least one sequence), so short and long passages take the same memory.
	TokenBudget int
	// SortWindow is how many consecutive sequences are sorted by length together (longest first) to cut padding
	// (default 50 × BatchSize; 1 disables sorting). Output order is always the input order.
	SortWindow int
}

func (b Batching) withDefaults() Batching {
	if b.BatchSize <= 0 {
		b.BatchSize = 64
	}
	if b.SortWindow <= 0 {
		b.SortWindow = 50 * b.BatchSize
	}
	return b
}

// Plan groups sequences of the given lengths (in tokens) into batches: indices into lens, sorted by length within
// each window, then cut by count or by token budget. Every index appears exactly once.
func (b Batching) Plan(lens []int) [][]int {
	b = b.withDefaults()
	order := make([]int, len(lens))
	for i := range order {
		order[i] = i
	}
	if b.SortWindow > 1 {
		for s := 0; s < len(order); s += b.SortWindow {
			w := order[s:min(s+b.SortWindow, len(order))]
			sort.SliceStable(w, func(x, y int) bool { return lens[w[x]] > lens[w[y]] })
		}
	}
	var out [][]int
	if b.TokenBudget <= 0 {
		for s := 0; s < len(order); s += b.BatchSize {
			out = append(out, order[s:min(s+b.BatchSize, len(order)):min(s+b.BatchSize, len(order))])
		}
		return out
	}
	start, longest := 0, 0
	for i, j := range order {
		l := max(longest, lens[j])
		if i > start && (i-start+1)*l > b.TokenBudget {
			out = append(out, order[start:i:i])
			start, l = i, lens[j]
		}
		longest = l
	}
	if start < len(order) {
		out = append(out, order[start:])
	}
	return out
}
