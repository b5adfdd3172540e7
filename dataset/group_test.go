package dataset

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGroups(t *testing.T) {
	v1 := DualExample{Query: "q", PosTitle: "pt", PosPara: "pp", NegTitle: "nt", NegPara: "np"}
	require.Equal(t, Group{Query: "q", Passages: []Passage{{Title: "pt", Text: "pp"}, {Title: "nt", Text: "np"}}}, v1.Group())
	l := JointList{Query: "q", Items: []CrossExample{{Query: "q", Title: "a", Para: "A", Label: 1}, {Query: "q", Para: "B"}, {Query: "q", Para: "C"}}}
	g := l.Group()
	require.Len(t, g.Passages, 3)
	require.Equal(t, Passage{Title: "a", Text: "A"}, g.Passages[0])
	n, err := GroupSize([]Group{g, g})
	require.NoError(t, err)
	require.Equal(t, 3, n)
	_, err = GroupSize(append(DualGroups([]DualExample{v1}), g))
	require.ErrorContains(t, err, "group 1 has 3 passages, group 0 has 2")
	_, err = GroupSize([]Group{{Query: "q"}})
	require.ErrorContains(t, err, "group 0 has 0 passages")
}
