package main

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

// TestPipelineSmall runs the four steps end to end on the Debian demo corpus (scripts/test.sh builds it and sets
// ROCKETQA_DEMO_DATA; it takes several minutes on 2 cores).
func TestPipelineSmall(t *testing.T) {
	data := os.Getenv("ROCKETQA_DEMO_DATA")
	if data == "" {
		t.Skip("set ROCKETQA_DEMO_DATA to a demo corpus directory (scripts/test.sh does)")
	}
	r := &runner{p: presets["small"], data: data, out: t.TempDir(), dev: torch.CPU}
	require.NoError(t, r.run(context.Background()))
	require.Len(t, r.rows, 3)
	for _, row := range r.rows {
		t.Logf("%-34s MRR@10 %.4f R@1 %.4f R@50 %.4f", row.Name, row.M.MRR10, row.M.Recall1, row.M.Recall50)
		// a random ranking of ~1,000 passages gives MRR@10 about 0.003 and R@50 about 0.05
		require.Greater(t, row.M.MRR10, 0.05, row.Name)
		require.Greater(t, row.M.Recall50, 0.25, row.Name)
	}
	// every stage left its files, so a second run only re-evaluates
	r2 := &runner{p: presets["small"], data: data, out: r.out, dev: torch.CPU}
	require.NoError(t, r2.run(context.Background()))
	for i := range r.rows {
		require.InDelta(t, r.rows[i].M.MRR10, r2.rows[i].M.MRR10, 1e-9, "rerun reuses the trained models")
	}
}

// TestPresetsAreTheOfficialValues: the dureader and marco presets are the library's official values (those the
// rocketqa CLI's flags default to), the dureader one with the official schedule (it fell back to linear before).
func TestPresetsAreTheOfficialValues(t *testing.T) {
	for name, want := range map[string][2]rocketqa.Preset{
		"dureader": {rocketqa.DuReaderDE, rocketqa.DuReaderCE},
		"marco":    {rocketqa.MSMarcoDE, rocketqa.MSMarcoCE},
	} {
		p, de, ce := presets[name], want[0], want[1]
		require.Equal(t, []any{de.Epochs, de.LaterEpochs, de.Batch * de.Processes, de.LR, de.Warmup, de.Schedule, de.QLen, de.PLen, de.ForCN},
			[]any{p.deEpochs, p.deEpochsLater, p.deBatch, p.deLR, p.deWarmup, p.deSchedule, p.qLen, p.pLen, p.forCN}, name)
		require.Equal(t, []any{ce.Epochs, ce.Batch * ce.Processes, ce.LR, ce.WeightDecay, ce.PairLen, ce.Perturb},
			[]any{p.ceEpochs, p.ceBatch, p.ceLR, p.ceWD, p.pairLen, p.perturb}, name)
	}
	require.Equal(t, train.Paddle, presets["dureader"].deSchedule)
}
