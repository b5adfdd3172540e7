package dataset

import "fmt"

// Group is one training example of the grouped layout the dual-encoder losses share (Tevatron's
// train_group_size): a query and G passages, the first of which is the positive. A RocketQA v1 / PAIR line is a
// group of 2 (positive, hard negative); a RocketQA v2 list is a group of m.
type Group struct {
	Query string
	// Passages[0] is the positive; the rest are negatives. Only Title and Text are used.
	Passages []Passage
}

// Group returns the line as a group of 2: its positive, then its hard negative.
func (e DualExample) Group() Group {
	return Group{Query: e.Query, Passages: []Passage{{Title: e.PosTitle, Text: e.PosPara}, {Title: e.NegTitle, Text: e.NegPara}}}
}

// Group returns the list as a group of m: its items' passages in file order (the positive first).
func (l JointList) Group() Group {
	g := Group{Query: l.Query, Passages: make([]Passage, len(l.Items))}
	for i, it := range l.Items {
		g.Passages[i] = Passage{Title: it.Title, Text: it.Para}
	}
	return g
}

// DualGroups turns v1 lines into groups of 2.
func DualGroups(exs []DualExample) []Group {
	out := make([]Group, len(exs))
	for i, e := range exs {
		out[i] = e.Group()
	}
	return out
}

// GroupSize returns the common number of passages of gs, or an error naming the first group whose size differs
// (or that has no passage). The losses need one size per batch: passages are laid out [B*G, H].
func GroupSize(gs []Group) (int, error) {
	if len(gs) == 0 {
		return 0, nil
	}
	g := len(gs[0].Passages)
	for i := range gs {
		if n := len(gs[i].Passages); n == 0 || n != g {
			return 0, fmt.Errorf("dataset: group %d has %d passages, group 0 has %d (one group size per training set)", i, n, g)
		}
	}
	return g, nil
}
