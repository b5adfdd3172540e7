// Package launch runs one program in N processes with the environment torchrun gives its workers (RANK,
// LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), so that each joins one c10d process group
// (rocketqa.JoinProcessGroup) for cross-batch training, and supervises them: their output lines are prefixed with
// "[rank R] "; the first process that fails stops the others (SIGTERM, then SIGKILL after a grace period); a signal
// to the launcher is passed on to the processes once, a second one kills them. The processes run in their own
// process groups and die with the launcher (Linux: PR_SET_PDEATHSIG).
package launch

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Options configure Run. Zero values take the defaults in brackets.
type Options struct {
	Procs int    // processes [1], at most 1024 (all on this machine)
	Addr  string // address of rank 0's rendezvous store [127.0.0.1]
	Port  int    // its port [0: a free port of Addr]
	// Grace is how long stopped processes may take before SIGKILL [3s].
	Grace time.Duration
	// Stdout and Stderr receive the processes' prefixed lines [os.Stdout, os.Stderr].
	Stdout, Stderr io.Writer
	// Log, when set, is told about the supervision ("rank 1 failed (...); stopping the other processes").
	Log func(format string, a ...any)
	// Signals, when set, replaces SIGINT and SIGTERM of this process as the interrupts passed on (for tests).
	Signals <-chan os.Signal
}

// maxProcs bounds Options.Procs: the processes all run on this machine.
const maxProcs = 1024

// ExitError is Run's error when a process failed or the run was interrupted: Code is the exit status the
// launcher should exit with (the failed process's own, or 130 when interrupted).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ExitError) Unwrap() error { return e.Err }

// ErrInterrupted is the Err of the *ExitError of an interrupted run.
var ErrInterrupted = errors.New("interrupted")

// Env returns the torchrun environment of rank r of n processes on one machine whose store is addr:port.
func Env(r, n int, addr string, port int) []string {
	return []string{"RANK=" + strconv.Itoa(r), "LOCAL_RANK=" + strconv.Itoa(r),
		"WORLD_SIZE=" + strconv.Itoa(n), "LOCAL_WORLD_SIZE=" + strconv.Itoa(n),
		"MASTER_ADDR=" + addr, "MASTER_PORT=" + strconv.Itoa(port)}
}

// FreePort asks the kernel for a free TCP port on addr.
func FreePort(addr string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", addr, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (o *Options) defaults() error {
	if o.Procs == 0 {
		o.Procs = 1
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1"
	}
	if o.Grace == 0 {
		o.Grace = 3 * time.Second
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	switch {
	case o.Procs < 0:
		return fmt.Errorf("launch: %d processes: must be positive", o.Procs)
	case o.Procs > maxProcs:
		// a huge count made the supervisor's tables exhaust the memory (a fatal runtime error), a large one forked
		// that many processes until the system refused
		return fmt.Errorf("launch: %d processes: at most %d on one machine", o.Procs, maxProcs)
	case o.Port < 0 || o.Port > 65535:
		return fmt.Errorf("launch: port %d: not a port", o.Port)
	case o.Port == 0:
		p, err := FreePort(o.Addr)
		o.Port = p
		return err
	}
	return nil
}

// Run starts Procs processes of exe with args and the torchrun environment (added to this process's) and
// supervises them until all have exited. It returns nil when every process exited with status 0, an *ExitError
// when one failed (its rank and error, the code its exit status) or when the run was interrupted (code 130), and
// another error when the options are wrong or a process could not start (the started ones are stopped).
func Run(exe string, args []string, o Options) error {
	if err := o.defaults(); err != nil {
		return err
	}
	sigs := o.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 2)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(ch)
		sigs = ch
	}
	s := &supervisor{o: o, children: make([]*child, o.Procs), exits: make(chan exitInfo, o.Procs), exited: make([]bool, o.Procs)}
	startErr := s.start(exe, args)
	if startErr != nil {
		s.stop()
	}
	s.wait(sigs)
	switch {
	case startErr != nil:
		return startErr
	case s.interrupts > 0:
		return &ExitError{Code: 130, Err: ErrInterrupted}
	case s.first != nil:
		code := 1
		var ee *exec.ExitError
		if errors.As(s.first.err, &ee) && ee.ExitCode() > 0 {
			code = ee.ExitCode()
		}
		return &ExitError{Code: code, Err: fmt.Errorf("rank %d of %d failed: %v", s.first.rank, o.Procs, s.first.err)}
	}
	return nil
}

type child struct {
	rank     int
	cmd      *exec.Cmd
	out, err *prefixWriter
}

type exitInfo struct {
	rank int
	err  error
}

// supervisor is the state of Run's processes.
type supervisor struct {
	o          Options
	children   []*child
	exits      chan exitInfo
	exited     []bool
	running    int
	first      *exitInfo // the first process that failed
	stopping   bool
	killTimer  <-chan time.Time
	interrupts int
}

// start starts the processes of ranks 0..n-1; it stops at the first that cannot start.
func (s *supervisor) start(exe string, args []string) error {
	var mu sync.Mutex // serialises the prefixed writes of all processes
	n := len(s.children)
	for r := 0; r < n; r++ {
		cmd := exec.Command(exe, args...)
		cmd.Env = append(os.Environ(), Env(r, n, s.o.Addr, s.o.Port)...)
		prefix := fmt.Sprintf("[rank %d] ", r)
		ch := &child{rank: r, cmd: cmd, out: &prefixWriter{w: s.o.Stdout, mu: &mu, prefix: prefix},
			err: &prefixWriter{w: s.o.Stderr, mu: &mu, prefix: prefix}}
		cmd.Stdout, cmd.Stderr = ch.out, ch.err
		// own process group: a terminal's Ctrl-C reaches the launcher only, which passes it on once; the
		// processes die with the launcher even if it is killed
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		cmd.WaitDelay = s.o.Grace
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start rank %d: %w", r, err)
		}
		s.children[r] = ch
		s.running++
		go func() {
			err := cmd.Wait()
			ch.out.flush()
			ch.err.flush()
			s.exits <- exitInfo{ch.rank, err}
		}()
	}
	return nil
}

// signalAll sends sig to the process groups of the processes still running.
func (s *supervisor) signalAll(sig syscall.Signal) {
	for _, ch := range s.children {
		if ch != nil && !s.exited[ch.rank] {
			syscall.Kill(-ch.cmd.Process.Pid, sig)
		}
	}
}

// stop sends SIGTERM once and arms the SIGKILL timer.
func (s *supervisor) stop() {
	if !s.stopping {
		s.stopping = true
		s.signalAll(syscall.SIGTERM)
		s.killTimer = time.After(s.o.Grace)
	}
}

// wait supervises until every started process has exited: the first failure stops the others; a signal is passed
// on, a second one kills.
func (s *supervisor) wait(sigs <-chan os.Signal) {
	for s.running > 0 {
		select {
		case e := <-s.exits:
			s.exit(e)
		case sig := <-sigs:
			s.interrupts++
			if s.interrupts > 1 {
				s.signalAll(syscall.SIGKILL)
				continue
			}
			if ss, ok := sig.(syscall.Signal); ok {
				s.signalAll(ss)
			} else {
				s.signalAll(syscall.SIGTERM)
			}
			s.stopping = true
			s.killTimer = nil
		case <-s.killTimer:
			s.signalAll(syscall.SIGKILL)
			s.killTimer = nil
		}
	}
}

// exit records a process's exit.
func (s *supervisor) exit(e exitInfo) {
	s.running--
	s.exited[e.rank] = true
	if s.interrupts > 0 {
		// the others may wait in a collective for the one that left: give them the grace period
		if s.running > 0 && s.killTimer == nil {
			s.killTimer = time.After(s.o.Grace)
		}
		return
	}
	if e.err != nil && s.first == nil {
		s.first = &e
		if s.running > 0 && s.o.Log != nil {
			s.o.Log("rank %d failed (%v); stopping the other processes", e.rank, e.err)
		}
		s.stop()
	}
}
