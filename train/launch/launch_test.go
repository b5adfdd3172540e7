package launch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test binary is its own worker: with LAUNCH_TEST_MODE set it acts as one process of a launch.
func TestMain(m *testing.M) {
	switch os.Getenv("LAUNCH_TEST_MODE") {
	case "":
		os.Exit(m.Run())
	case "env":
		fmt.Printf("rank=%s local=%s world=%s lworld=%s addr=%s port=%s\n", os.Getenv("RANK"), os.Getenv("LOCAL_RANK"),
			os.Getenv("WORLD_SIZE"), os.Getenv("LOCAL_WORLD_SIZE"), os.Getenv("MASTER_ADDR"), os.Getenv("MASTER_PORT"))
		fmt.Fprint(os.Stderr, "no newline at the end")
		os.Exit(0)
	case "fail1":
		if os.Getenv("RANK") == "1" {
			fmt.Fprintln(os.Stderr, "rank 1 gives up")
			os.Exit(3)
		}
		time.Sleep(time.Minute) // stopped by the launcher's SIGTERM
		os.Exit(0)
	case "sleep":
		fmt.Println("ready")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
}

// syncBuffer is a bytes.Buffer safe for the launcher's writers and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func run(t *testing.T, mode string, o Options) (err error, stdout, stderr string, elapsed time.Duration) {
	t.Helper()
	t.Setenv("LAUNCH_TEST_MODE", mode)
	var out, errb syncBuffer
	o.Stdout, o.Stderr = &out, &errb
	t0 := time.Now()
	err = Run(os.Args[0], nil, o)
	return err, out.String(), errb.String(), time.Since(t0)
}

// TestRunEnvironment: every process gets its rank and the shared rendezvous of torchrun; its lines come back
// prefixed, a last line without a newline included.
func TestRunEnvironment(t *testing.T) {
	err, out, errs, _ := run(t, "env", Options{Procs: 3, Port: 29511})
	require.NoError(t, err)
	for r := 0; r < 3; r++ {
		assert.Contains(t, out, fmt.Sprintf("[rank %d] rank=%d local=%d world=3 lworld=3 addr=127.0.0.1 port=29511\n", r, r, r))
		assert.Contains(t, errs, fmt.Sprintf("[rank %d] no newline at the end\n", r))
	}
	// port 0 picks a free one, the same for every process
	err, out, _, _ = run(t, "env", Options{Procs: 2})
	require.NoError(t, err)
	ports := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		ports[l[strings.Index(l, "port="):]] = true
	}
	assert.Len(t, ports, 1, out)
	assert.NotContains(t, ports, "port=0")
}

// TestRunFirstFailureStopsTheOthers: rank 1 exits with status 3; the others (sleeping a minute) are stopped at
// once and Run reports rank 1's status.
func TestRunFirstFailureStopsTheOthers(t *testing.T) {
	var logged []string
	err, _, errs, elapsed := run(t, "fail1", Options{Procs: 3, Grace: time.Second,
		Log: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }})
	var ee *ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 3, ee.Code)
	assert.Contains(t, ee.Error(), "rank 1 of 3 failed: exit status 3")
	assert.Contains(t, errs, "[rank 1] rank 1 gives up\n")
	assert.Less(t, elapsed, 20*time.Second)
	require.Len(t, logged, 1)
	assert.Contains(t, logged[0], "rank 1 failed (exit status 3); stopping the other processes")
}

// TestRunInterrupt: a signal is passed on to the processes, which exit; Run reports status 130.
func TestRunInterrupt(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	done := make(chan struct{})
	var err error
	var elapsed time.Duration
	go func() {
		defer close(done)
		err, _, _, elapsed = run(t, "sleep", Options{Procs: 2, Grace: time.Second, Signals: sigs})
	}()
	time.Sleep(500 * time.Millisecond)
	sigs <- syscall.SIGTERM
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the interrupt")
	}
	var ee *ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 130, ee.Code)
	assert.True(t, errors.Is(err, ErrInterrupted))
	assert.Less(t, elapsed, 20*time.Second)
}

func TestRunBadOptions(t *testing.T) {
	assert.ErrorContains(t, Run(os.Args[0], nil, Options{Procs: -1}), "-1 processes")
	assert.ErrorContains(t, Run(os.Args[0], nil, Options{Port: 70000}), "port 70000")
	// a huge count is refused before anything is allocated or started (it was a fatal out-of-memory error)
	assert.ErrorContains(t, Run(os.Args[0], nil, Options{Procs: 1 << 40}), "1099511627776 processes: at most 1024")
	assert.ErrorContains(t, Run(os.Args[0], nil, Options{Procs: 1025}), "at most 1024")
	err := Run("/nonexistent/binary", nil, Options{Procs: 2, Port: 29512})
	assert.ErrorContains(t, err, "start rank 0")
}

func TestPrefixWriter(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	a := &prefixWriter{w: &out, mu: &mu, prefix: "[rank 0] "}
	b := &prefixWriter{w: &out, mu: &mu, prefix: "[rank 1] "}
	a.Write([]byte("hel"))
	b.Write([]byte("one\ntw"))
	a.Write([]byte("lo\nprogress 1\rprogress 2\r\n"))
	b.Write([]byte("o"))
	a.flush()
	b.flush()
	assert.Equal(t, "[rank 1] one\n[rank 0] hello\n[rank 0] progress 1\n[rank 0] progress 2\n[rank 1] two\n", out.String())
}
