package train

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/internal/proctest"
	"github.com/rocketqa-go/rocketqa/torch"
)

type ranksResult struct {
	Error string
	Steps int
}

// TestRunRanksAgree: processes of one group started with other settings on rank 1 (another seed or batch: each
// rank would take its own data order and train silently wrong; another output directory: rank 1's RNG state would
// miss the checkpoint) fail at the start on every rank, naming rank 1 and the setting, before the output directory is prepared; the same settings train.
func TestRunRanksAgree(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"same", ""},
		{"seed", `seed "1" on rank 0, "2" on rank 1`},
		{"batch", `batch_size "4" on rank 0, "8" on rank 1`},
		{"train", `train "tiny" on rank 0, "other" on rank 1`},
		{"out", "output directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			res := proctest.Run[ranksResult](t, "TestRunRanksWorker", 2, "TRAIN_RANKS_CASE="+c.name, "TRAIN_RANKS_OUT="+dir)
			for r, got := range res {
				if c.want == "" {
					assert.Empty(t, got.Error, "rank %d", r)
					assert.Equal(t, 4, got.Steps, "rank %d", r)
					continue
				}
				assert.Contains(t, got.Error, "rank 1 differs from rank 0", "rank %d", r)
				assert.Contains(t, got.Error, c.want, "rank %d", r)
			}
			if c.want != "" {
				assert.NoDirExists(t, filepath.Join(dir, "checkpoints"), "refused before the output directory is prepared")
			}
		})
	}
}

// TestRunRanksWorker is one process of TestRunRanksAgree.
func TestRunRanksWorker(t *testing.T) {
	which := os.Getenv("TRAIN_RANKS_CASE")
	if which == "" {
		t.Skip("runs as a process of TestRunRanksAgree")
	}
	pg, err := torch.InitFromEnv("gloo", 30*time.Second)
	require.NoError(t, err)
	defer pg.Close()
	o := opts(os.Getenv("TRAIN_RANKS_OUT"), 4)
	o.Seed, o.PG = 1, pg
	if pg.Rank() == 1 {
		switch which {
		case "seed":
			o.Seed = 2
		case "batch":
			o.BatchSize = 8
		case "train":
			o.Identity = map[string]string{"train": "other"}
		case "out":
			o.OutDir = filepath.Join(o.OutDir, "other")
		}
	}
	var res ranksResult
	r, err := Run(context.Background(), newLinTask(t, 3), o)
	if err != nil {
		res.Error = err.Error()
	} else {
		res.Steps = r.Steps
	}
	proctest.WriteResult(t, res)
}
