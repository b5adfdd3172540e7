package jointtrain

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/tinytest"
)

// TestEncodeCrossPairAsOfficialV2: the cross-encoder pairs of a joint-training batch are built as the official v2
// reader (task_reader_shuffle.py) builds them: q cut to q_max_seq_len-2, title and para cut together to
// p_max_seq_len-3 by the longest-first loop, then [CLS] q [SEP] title para [SEP] with types 0 / 1. Joint
// truncation of (q, title+para) to the pair length instead gave the passage the tokens a short query leaves.
func TestEncodeCrossPairAsOfficialV2(t *testing.T) {
	tok := tinytest.Tokenizer(t)
	exs := tinytest.DualExamples(t, 4, 11)
	const qMax, pMax = 8, 16
	for _, ex := range exs {
		for _, q := range []string{"a b", ex.Query + " " + ex.Query + " " + ex.Query} {
			for _, title := range []string{"", "x", ex.PosPara} {
				task := &Task{Tok: tok, M: 1, Lists: []dataset.JointList{{Query: q, Items: []dataset.CrossExample{{Query: q, Title: title, Para: ex.PosPara}}}},
					DEInfo: encoder.ModelInfo{QMaxSeqLen: qMax, PMaxSeqLen: pMax}, CEInfo: encoder.ModelInfo{MaxSeqLen: 160}}
				bt, err := task.Encode([]int{0})
				require.NoError(t, err)
				qs, ts, ps := tok.IDs(q), tok.IDs(title), tok.IDs(ex.PosPara)
				if len(qs) > qMax-2 {
					qs = qs[:qMax-2]
				}
				for len(ts)+len(ps) > pMax-3 { // the official _truncate_seq_pair loop
					if len(ts) > len(ps) {
						ts = ts[:len(ts)-1]
					} else {
						ps = ps[:len(ps)-1]
					}
				}
				ids := append(append(append(append([]int32{tok.CLS()}, qs...), tok.SEP()), ts...), ps...)
				ids = append(ids, tok.SEP())
				types := make([]int32, len(ids))
				for i := len(qs) + 2; i < len(ids); i++ {
					types[i] = 1
				}
				require.Equal(t, ids, bt.C[0].IDs, "q %q title %q", q, title)
				require.Equal(t, types, bt.C[0].TypeIDs)
			}
		}
	}
}
