package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/rocketqa-go/rocketqa/torch"
)

// rankRun is what every process of a group must agree on before the first step: the run identity, the parameter
// shapes and the output directory (rank 0 writes the checkpoints the others add their RNG state to).
type rankRun struct {
	ID     map[string]string `json:"id"`
	Params []string          `json:"params"`
	Out    string            `json:"out"`
}

// sameRun gathers every rank's run and fails on every rank, naming the ranks and the settings, when one differs
// from rank 0's: processes started with another batch, seed, training file or model would otherwise train
// silently wrong (each its own data order or initialisation) or wait in a collective until the timeout.
func sameRun(pg *torch.ProcessGroup, o Options, rc runCtx) error {
	if pg == nil {
		return nil
	}
	out, _ := filepath.Abs(o.OutDir)
	b, err := json.Marshal(rankRun{ID: rc.id, Params: rc.params, Out: out})
	if err != nil {
		return err
	}
	runs, err := gatherBytes(pg, b)
	if err != nil {
		return fmt.Errorf("train: compare the settings of the processes: %w", err)
	}
	var ref rankRun
	if err := json.Unmarshal(runs[0], &ref); err != nil {
		return fmt.Errorf("train: compare the settings of the processes: rank 0: %w", err)
	}
	var msgs []string
	for r := 1; r < len(runs); r++ {
		var got rankRun
		if err := json.Unmarshal(runs[r], &got); err != nil {
			return fmt.Errorf("train: compare the settings of the processes: rank %d: %w", r, err)
		}
		var diffs []string
		if !equalStrings(ref.Params, got.Params) {
			diffs = append(diffs, fmt.Sprintf("model parameters %q on rank 0, %q on rank %d", ref.Params, got.Params, r))
		}
		if ref.Out != got.Out {
			diffs = append(diffs, fmt.Sprintf("output directory %q on rank 0, %q on rank %d", ref.Out, got.Out, r))
		}
		diffs = append(diffs, identityDiffs(ref.ID, got.ID, "on rank 0", fmt.Sprintf("on rank %d", r))...)
		if len(diffs) > 0 {
			msgs = append(msgs, fmt.Sprintf("rank %d differs from rank 0 (%s)", r, strings.Join(diffs, "; ")))
		}
	}
	if len(msgs) > 0 {
		return fmt.Errorf("train: the processes were started with different settings: %s: start every process with the same command, files and flags",
			strings.Join(msgs, "; "))
	}
	return nil
}

// gatherBytes returns every rank's b, by rank (an all-gather of the lengths, then of the bytes padded to the
// longest, each byte a float32).
func gatherBytes(pg *torch.ProcessGroup, b []byte) ([][]byte, error) {
	s := torch.NewScope()
	defer s.Close()
	lens, err := pg.AllGatherNoGrad(s.FromFloat32([]float32{float32(len(b))}, 1)).Float32s()
	if err != nil {
		return nil, err
	}
	longest := 0
	for _, l := range lens {
		longest = max(longest, int(l))
	}
	if longest == 0 {
		return nil, errors.New("no settings")
	}
	buf := make([]float32, longest)
	for i, c := range b {
		buf[i] = float32(c)
	}
	all, err := pg.AllGatherNoGrad(s.FromFloat32(buf, int64(longest))).Float32s()
	if err != nil {
		return nil, err
	}
	res := make([][]byte, len(lens))
	for r, l := range lens {
		res[r] = make([]byte, int(l))
		for i := range res[r] {
			res[r][i] = byte(all[r*longest+i])
		}
	}
	return res, nil
}
