package train

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rocketqa-go/rocketqa/torch"
)

const ckptPrefix = "step-"

// PreviousDir is the sub-directory of OutDir where NoResume moves an earlier run's outputs.
const PreviousDir = "previous"

// runCtx is what a checkpoint records about the run that writes it.
type runCtx struct {
	id     map[string]string
	params []string
	dev    torch.Device
}

// runIdentity is the caller's Identity plus everything of Options and the task that decides the result.
func runIdentity(o Options, examples, total, world int) map[string]string {
	id := map[string]string{}
	for k, v := range o.Identity {
		id[k] = v
	}
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	id["optimizer"] = o.Optimizer
	id["lr"] = g(o.LR)
	id["weight_decay"] = g(o.WeightDecay)
	id["warmup_proportion"] = g(o.WarmupProportion)
	id["schedule"] = string(o.Schedule)
	id["max_grad_norm"] = g(o.MaxGradNorm)
	id["total_steps"] = strconv.Itoa(total)
	id["batch_size"] = strconv.Itoa(o.BatchSize)
	id["seed"] = strconv.FormatUint(o.Seed, 10)
	id["world_size"] = strconv.Itoa(world)
	id["examples"] = strconv.Itoa(examples)
	return id
}

// FileIdentity returns "size N sha256 H" of a regular file: the identity of a training file for Options.Identity.
// A FIFO or device is not read (it says so instead).
func FileIdentity(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		// a FIFO or a device (/dev/stdin, <(zcat ...)) is read once by the training; hashing it here would
		// consume it, or never end (/dev/zero), or block (a FIFO without a writer)
		return fmt.Sprintf("not a regular file (%s): content not identified", st.Mode().Type()), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return fmt.Sprintf("size %d sha256 %s", n, hex.EncodeToString(h.Sum(nil))), nil
}

// identityDiffs lists, in key order, the entries in which two run identities differ, as `key "a" A, "b" B` (A and
// B name the two sides; a missing entry shows as (unset)).
func identityDiffs(a, b map[string]string, aName, bName string) []string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	show := func(v string, ok bool) string {
		if !ok {
			return "(unset)"
		}
		return strconv.Quote(v)
	}
	var diffs []string
	for _, k := range sorted {
		av, aok := a[k]
		bv, bok := b[k]
		if av != bv || aok != bok {
			diffs = append(diffs, fmt.Sprintf("%s %s %s, %s %s", k, show(av, aok), aName, show(bv, bok), bName))
		}
	}
	return diffs
}

// checkRun compares a checkpoint's state with this run and explains the first kind of difference.
func checkRun(dir string, st *ckptState, rc runCtx) error {
	what := "use the settings of that run, another output directory, or start over with NoResume (--no-resume; the earlier run is moved aside)"
	if st.Run == nil {
		return fmt.Errorf("%s has no run identity (written by an older version): %s", dir, what)
	}
	if !equalStrings(st.Params, rc.params) {
		diff := fmt.Sprintf("%d parameters there, %d here", len(st.Params), len(rc.params))
		for i := 0; i < min(len(st.Params), len(rc.params)); i++ {
			if st.Params[i] != rc.params[i] {
				diff = fmt.Sprintf("%s there, %s here", st.Params[i], rc.params[i])
				break
			}
		}
		return fmt.Errorf("%s was made with another model configuration (%s): resume with the --config / --init of that run, or %s",
			dir, diff, what)
	}
	if diffs := identityDiffs(st.Run, rc.id, "there", "here"); len(diffs) > 0 {
		return fmt.Errorf("%s belongs to another run (%s): %s", dir, strings.Join(diffs, "; "), what)
	}
	return nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// agree tells every process whether rank 0's setup failed (err is rank 0's error), so all fail together.
func agree(pg *torch.ProcessGroup, rank int, err error) error {
	if pg == nil {
		return err
	}
	flag := float32(0)
	if err != nil {
		flag = 1
	}
	t := torch.FromFloat32([]float32{flag}, 1)
	defer t.Close()
	if e := pg.AllReduce(t, torch.ReduceOpSum); e != nil {
		return errors.Join(err, e)
	}
	v, e := t.Item()
	if e != nil {
		return errors.Join(err, e)
	}
	if err == nil && v > 0 {
		return errors.New("train: rank 0 failed to set up the output directory (see its log)")
	}
	return err
}

// prepareOutDir (rank 0, lock held) creates OutDir/checkpoints, removes temporary directories a killed run left
// behind, and with NoResume moves an earlier run's outputs into OutDir/previous/<time>.
func prepareOutDir(o Options) error {
	ck := filepath.Join(o.OutDir, "checkpoints")
	if err := os.MkdirAll(ck, 0o755); err != nil {
		return err
	}
	if entries, err := os.ReadDir(ck); err == nil {
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".tmp") {
				os.RemoveAll(filepath.Join(ck, e.Name()))
			}
		}
	}
	if !o.NoResume {
		return nil
	}
	var items []string
	if entries, _ := os.ReadDir(ck); len(entries) > 0 {
		items = append(items, "checkpoints")
	}
	for _, name := range []string{"final", "best", "metrics.jsonl"} {
		if _, err := os.Lstat(filepath.Join(o.OutDir, name)); err == nil {
			items = append(items, name)
		}
	}
	if len(items) == 0 {
		return nil
	}
	base := filepath.Join(o.OutDir, PreviousDir, time.Now().UTC().Format("20060102-150405"))
	dest := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(dest); errors.Is(err, os.ErrNotExist) {
			break
		}
		dest = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	for _, name := range items {
		if err := os.Rename(filepath.Join(o.OutDir, name), filepath.Join(dest, name)); err != nil {
			return fmt.Errorf("train: move the earlier run aside: %w", err)
		}
	}
	logf(o.Log, 0, "no-resume: moved the earlier run's %s to %s", strings.Join(items, ", "), dest)
	return os.MkdirAll(ck, 0o755)
}

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
// On failure (a full disk) rank 0 removes the temporary directory.
func saveCheckpoint(o Options, task Task, opt Optimizer, rank int, rc runCtx, st ckptState) (err error) {
	final := filepath.Join(o.OutDir, "checkpoints", fmt.Sprintf("%s%08d", ckptPrefix, st.Step))
	tmp := final + ".tmp"
	if rank == 0 {
		defer func() {
			if err != nil {
				os.RemoveAll(tmp)
				err = fmt.Errorf("train: checkpoint %s: %w", final, err)
			}
		}()
	}
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
	rng, err := torch.SaveRNG(rc.dev)
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
			return fmt.Errorf("model: %w", err)
		}
		b, err := opt.StateDict()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, "optimizer.bin"), b, 0o644); err != nil {
			return err
		}
		js, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return err
		}
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

func loadCheckpoint(dir string, task Task, opt Optimizer, rank int, rc runCtx) (*ckptState, error) {
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, err
	}
	var st ckptState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "state.json"), err)
	}
	if err := checkRun(dir, &st, rc); err != nil {
		return nil, err
	}
	if total, _ := strconv.Atoi(rc.id["total_steps"]); st.Step < 0 || st.Step > total {
		return nil, fmt.Errorf("%s: step %d is not in [0, %d]", filepath.Join(dir, "state.json"), st.Step, total)
	}
	if err := task.LoadModel(filepath.Join(dir, "model")); err != nil {
		return nil, fmt.Errorf("load the model: %w", err)
	}
	ob, err := os.ReadFile(filepath.Join(dir, "optimizer.bin"))
	if err != nil {
		return nil, err
	}
	if err := opt.LoadStateDict(ob); err != nil {
		return nil, fmt.Errorf("load the optimizer state: %w", err)
	}
	rng, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("rng-%d.bin", rank)))
	if err != nil {
		return nil, err
	}
	if err := torch.RestoreRNG(rc.dev, rng); err != nil {
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
	for k, v := range rec {
		// JSON has no NaN or infinity (json.Marshal fails on them): such a value (an evaluation scoring NaN,
		// an infinite gradient norm) is written as null, so that the step keeps its line
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			rec[k] = nil
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
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
