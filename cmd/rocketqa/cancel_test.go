package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rocketqa-go/rocketqa/internal/canceltest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTrainDESIGTERMWhileReading sends SIGTERM (and SIGINT) to train-de while it reads its training file: a FIFO
// that nobody writes (open(2) blocks), a FIFO whose writer never writes (read(2) blocks), and a FIFO fed one
// endless line. Each run must exit with status 130 ("interrupted") within two seconds.
func TestTrainDESIGTERMWhileReading(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	fifo := func(t *testing.T) string {
		p := filepath.Join(t.TempDir(), "dual.train.tsv")
		require.NoError(t, syscall.Mkfifo(p, 0o600))
		return p
	}
	cases := []struct {
		name  string
		train func(t *testing.T) string
		sig   syscall.Signal
	}{
		{"fifo without writer", fifo, syscall.SIGTERM},
		{"fifo with silent writer", func(t *testing.T) string {
			p := fifo(t)
			go func() {
				w, err := os.OpenFile(p, os.O_WRONLY, 0)
				if err == nil {
					time.Sleep(20 * time.Second)
					w.Close()
				}
			}()
			return p
		}, syscall.SIGINT},
		{"endless line", func(t *testing.T) string { return canceltest.EndlessLineFIFO(t, "dual.train.tsv") }, syscall.SIGTERM},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, "train-de", "--train", c.train(t), "--config", f.config, "--vocab", f.vocab,
				"--out", filepath.Join(t.TempDir(), "o"), "--q-len", "16", "--p-len", "48", "--threads", "1")
			cmd.Env = testEnv()
			stderr := &watchBuffer{want: "process(es) x batch", seen: make(chan struct{})}
			cmd.Stderr = stderr
			require.NoError(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select { // wait for the log line printed just before the training file is read
			case err := <-done:
				t.Fatalf("train-de exited before the signal (%v):\n%s", err, stderr.String())
			case <-stderr.seen:
			case <-time.After(time.Minute):
				cmd.Process.Kill()
				t.Fatalf("train-de did not start within a minute:\n%s", stderr.String())
			}
			select {
			case err := <-done:
				t.Fatalf("train-de exited before the signal (%v):\n%s", err, stderr.String())
			case <-time.After(300 * time.Millisecond): // into the read
			}
			t0 := time.Now()
			require.NoError(t, cmd.Process.Signal(c.sig))
			select {
			case err := <-done:
				var ee *exec.ExitError
				require.ErrorAs(t, err, &ee, "stderr:\n%s", stderr.String())
				assert.Equal(t, 130, ee.ExitCode(), "%v; stderr:\n%s", ee, stderr.String())
				assert.Contains(t, stderr.String(), "rocketqa train-de: interrupted")
				assert.Less(t, time.Since(t0), 2*time.Second)
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("train-de did not exit within 5 s of %v; stderr:\n%s", c.sig, stderr.String())
			}
		})
	}
}

// watchBuffer collects a process's output and closes seen once it contains want.
type watchBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	want string
	seen chan struct{}
	done bool
}

func (w *watchBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if !w.done && w.want != "" && strings.Contains(w.b.String(), w.want) {
		w.done = true
		close(w.seen)
	}
	return len(p), nil
}

func (w *watchBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestSecondSignalQuits: a stage blocked where it does not look at the context (here eval, reading a run file that
// is a FIFO whose writer writes nothing) ends at the second SIGTERM, with status 130. Before, every signal after
// the first was swallowed and the process had to be killed.
func TestSecondSignalQuits(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	run := filepath.Join(dir, "run.tsv")
	require.NoError(t, syscall.Mkfifo(run, 0o600))
	cmd := exec.Command(bin, "eval", "--run", run, "--ref", f.devJSON)
	cmd.Env = testEnv()
	stderr := &watchBuffer{seen: make(chan struct{})}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Opening the FIFO for writing returns once eval opened it for reading: it is then blocked in read(2).
	opened := make(chan *os.File, 1)
	go func() {
		if w, err := os.OpenFile(run, os.O_WRONLY, 0); err == nil {
			opened <- w
		}
	}()
	select {
	case w := <-opened:
		defer w.Close()
	case err := <-done:
		t.Fatalf("eval exited before reading (%v):\n%s", err, stderr.String())
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("eval did not open its run file within a minute")
	}
	time.Sleep(200 * time.Millisecond)
	t0 := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done: // the stage looked at the context after all
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, 130, ee.ExitCode(), "%v; stderr:\n%s", ee, stderr.String())
		return
	case <-time.After(500 * time.Millisecond):
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done:
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, 130, ee.ExitCode(), "%v; stderr:\n%s", ee, stderr.String())
		assert.Contains(t, stderr.String(), "rocketqa eval: terminated again: quitting at once")
		assert.Less(t, time.Since(t0), 2*time.Second)
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("eval did not exit within 5 s of the second SIGTERM; stderr:\n%s", stderr.String())
	}
}
