package rocketqa

import (
	"fmt"
	"os"
	"time"

	"github.com/rocketqa-go/rocketqa/torch"
)

// JoinProcessGroup joins the c10d process group that torchrun's environment describes (RANK, WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT: what `rocketqa launch` and torchrun set) when WORLD_SIZE is set and above 1; it returns
// nil without one. backend "" picks gloo on CPU and lets torch pick (nccl with CUDA) otherwise; timeout bounds
// the rendezvous and every collective. A RANK outside [0, WORLD_SIZE) is an error, also with WORLD_SIZE 1.
func JoinProcessGroup(backend string, dev torch.Device, timeout time.Duration) (*torch.ProcessGroup, error) {
	if os.Getenv("WORLD_SIZE") == "" {
		return nil, nil
	}
	env, err := torch.DistOptionsFromEnv()
	if err != nil {
		return nil, err
	}
	if env.WorldSize < 1 || env.Rank >= env.WorldSize {
		// one process reading RANK=3 WORLD_SIZE=1 (or WORLD_SIZE=0) would train alone as if it were rank 0
		return nil, fmt.Errorf("join the process group: RANK=%d is not in [0, WORLD_SIZE=%d)", env.Rank, env.WorldSize)
	}
	if env.WorldSize == 1 {
		return nil, nil
	}
	if backend == "" && dev.Type == torch.CPUDevice {
		backend = "gloo"
	}
	pg, err := torch.InitFromEnv(backend, timeout)
	if err != nil {
		return nil, fmt.Errorf("join the process group: %w", err)
	}
	return pg, nil
}

// RankWorld returns the rank and the number of processes of pg: 0 and 1 without a group.
func RankWorld(pg *torch.ProcessGroup) (rank, world int) {
	if pg == nil {
		return 0, 1
	}
	return pg.Rank(), pg.WorldSize()
}
