package train

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rocketqa-go/rocketqa/torch"
)

const ckptPrefix = "step-"

// Latest returns the newest complete checkpoint directory under outDir, "" when there is none.
func Latest(outDir string) string {
	entries, err := os.ReadDir(filepath.Join(outDir, "checkpoints"))
	if err != nil {
		return ""
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), ckptPrefix) {
			if _, err := os.Stat(filepath.Join(outDir, "checkpoints", e.Name(), "state.json")); err == nil {
				names = append(names, e.Name())
			}
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return filepath.Join(outDir, "checkpoints", names[len(names)-1])
}

// saveModelAtomic saves the model into a temporary sibling directory and renames it over dir.
func saveModelAtomic(task Task, dir string) error {
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := task.SaveModel(tmp); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("train: save model to %s: %w", dir, err)
	}
	old := dir + ".old"
	os.RemoveAll(old)
	if _, err := os.Stat(dir); err == nil {
		if err := os.Rename(dir, old); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

// saveCheckpoint writes OutDir/checkpoints/step-N atomically: every rank writes its RNG state into a temporary
// directory, then rank 0 writes the model, optimizer and state.json and renames it into place.
func saveCheckpoint(o Options, task Task, opt *torch.AdamW, rank int, st ckptState) error {
	final := filepath.Join(o.OutDir, "checkpoints", fmt.Sprintf("%s%08d", ckptPrefix, st.Step))
	tmp := final + ".tmp"
	barrier := func() error {
		if o.PG != nil {
			return o.PG.Barrier()
		}
		return nil
	}
	if rank == 0 {
		os.RemoveAll(tmp)
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return err
		}
	}
	if err := barrier(); err != nil {
		return err
	}
	rng, err := torch.RNGState(torch.CPU)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, fmt.Sprintf("rng-%d.bin", rank)), rng, 0o644); err != nil {
		return err
	}
	if err := barrier(); err != nil {
		return err
	}
	if rank == 0 {
		if err := task.SaveModel(filepath.Join(tmp, "model")); err != nil {
			return fmt.Errorf("train: checkpoint model: %w", err)
		}
		b, err := opt.StateDict()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, "optimizer.bin"), b, 0o644); err != nil {
			return err
		}
		js, _ := json.MarshalIndent(st, "", "  ")
		if err := os.WriteFile(filepath.Join(tmp, "state.json"), append(js, '\n'), 0o644); err != nil {
			return err
		}
		os.RemoveAll(final)
		if err := os.Rename(tmp, final); err != nil {
			return err
		}
		prune(filepath.Join(o.OutDir, "checkpoints"), o.KeepCheckpoints)
	}
	return barrier()
}

func prune(dir string, keep int) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), ckptPrefix) && !strings.HasSuffix(e.Name(), ".tmp") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for i := 0; i+keep < len(names); i++ {
		os.RemoveAll(filepath.Join(dir, names[i]))
	}
}

func loadCheckpoint(dir string, task Task, opt *torch.AdamW, rank int) (*ckptState, error) {
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, err
	}
	var st ckptState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "state.json"), err)
	}
	if err := task.LoadModel(filepath.Join(dir, "model")); err != nil {
		return nil, err
	}
	ob, err := os.ReadFile(filepath.Join(dir, "optimizer.bin"))
	if err != nil {
		return nil, err
	}
	if err := opt.LoadStateDict(ob); err != nil {
		return nil, err
	}
	rng, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("rng-%d.bin", rank)))
	if err != nil {
		return nil, err
	}
	if err := torch.SetRNGState(torch.CPU, rng); err != nil {
		return nil, err
	}
	return &st, nil
}

// metricsFile appends JSON lines to OutDir/metrics.jsonl (rank 0 only). On resume, lines of steps after the
// checkpoint (written by the run that was killed) are dropped first.
type metricsFile struct {
	f *os.File
	w *bufio.Writer
}

func openMetrics(outDir string, rank, resumeStep int) (*metricsFile, error) {
	if rank != 0 {
		return &metricsFile{}, nil
	}
	path := filepath.Join(outDir, "metrics.jsonl")
	if b, err := os.ReadFile(path); err == nil {
		var kept []string
		for _, l := range strings.Split(string(b), "\n") {
			var rec struct{ Step int }
			if l == "" || json.Unmarshal([]byte(l), &rec) != nil || rec.Step > resumeStep {
				continue
			}
			kept = append(kept, l+"\n")
		}
		if err := os.WriteFile(path+".tmp", []byte(strings.Join(kept, "")), 0o644); err != nil {
			return nil, err
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &metricsFile{f: f, w: bufio.NewWriter(f)}, nil
}

func (m *metricsFile) write(rec map[string]any) {
	if m.w == nil {
		return
	}
	b, _ := json.Marshal(rec)
	m.w.Write(append(b, '\n'))
	m.w.Flush()
}

func (m *metricsFile) Close() error {
	if m.f == nil {
		return nil
	}
	m.w.Flush()
	return m.f.Close()
}
