package main

import (
	"bytes"
	"context"
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

func runLaunch(_ context.Context, args []string) error {
	c := helpCmd("launch")
	c.posArgs = "command [flags]"
	nproc := c.fs.Int("nproc", 1, "number of processes")
	addr := c.fs.String("master-addr", "127.0.0.1", "address of rank 0's rendezvous store")
	port := c.fs.Int("master-port", 0, "port of rank 0's rendezvous store (default: a free port)")
	grace := c.fs.Duration("grace", 3*time.Second, "how long stopped processes may take before SIGKILL")
	if err := c.parse(args); err != nil {
		return err
	}
	rest := c.fs.Args()
	switch {
	case *nproc < 1:
		return usagef("--nproc %d: must be positive", *nproc)
	case *port < 0 || *port > 65535:
		return usagef("--master-port %d: not a port", *port)
	case len(rest) == 0:
		return usagef("no command to launch (rocketqa launch --nproc N -- train-de ...)")
	case rest[0] == "launch":
		return usagef("launch cannot launch itself")
	}
	known := false
	for _, cm := range commands {
		known = known || cm.name == rest[0]
	}
	if !known {
		return usagef("unknown command %q to launch", rest[0])
	}
	if *port == 0 {
		p, err := freePort(*addr)
		if err != nil {
			return err
		}
		*port = p
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	return launch(exe, rest, *nproc, *addr, *port, *grace)
}

// freePort asks the kernel for a free TCP port on addr.
func freePort(addr string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", addr, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type child struct {
	rank int
	cmd  *exec.Cmd
	out  *prefixWriter
	err  *prefixWriter
}

type exitInfo struct {
	rank int
	err  error
}

// launch starts the processes and supervises them until all have exited.
func launch(exe string, args []string, n int, addr string, port int, grace time.Duration) error {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	s := &supervisor{children: make([]*child, n), exits: make(chan exitInfo, n), exited: make([]bool, n), grace: grace}
	startErr := s.start(exe, args, addr, port)
	if startErr != nil {
		s.stop()
	}
	s.wait(sigs)
	switch {
	case startErr != nil:
		return startErr
	case s.interrupts > 0:
		return &exitError{code: 130, err: errors.New("interrupted")}
	case s.first != nil:
		code := 1
		var ee *exec.ExitError
		if errors.As(s.first.err, &ee) && ee.ExitCode() > 0 {
			code = ee.ExitCode()
		}
		return &exitError{code: code, err: fmt.Errorf("rank %d of %d failed: %v", s.first.rank, n, s.first.err)}
	}
	return nil
}

// supervisor is the state of launch's processes.
type supervisor struct {
	children   []*child
	exits      chan exitInfo
	exited     []bool
	running    int
	grace      time.Duration
	first      *exitInfo // the first process that failed
	stopping   bool
	killTimer  <-chan time.Time
	interrupts int
}

// start starts the processes of ranks 0..n-1; it stops at the first that cannot start.
func (s *supervisor) start(exe string, args []string, addr string, port int) error {
	var mu sync.Mutex // serialises the prefixed writes of all processes
	n := len(s.children)
	for r := 0; r < n; r++ {
		cmd := exec.Command(exe, args...)
		cmd.Env = append(os.Environ(),
			"RANK="+strconv.Itoa(r), "LOCAL_RANK="+strconv.Itoa(r),
			"WORLD_SIZE="+strconv.Itoa(n), "LOCAL_WORLD_SIZE="+strconv.Itoa(n),
			"MASTER_ADDR="+addr, "MASTER_PORT="+strconv.Itoa(port))
		ch := &child{rank: r, cmd: cmd,
			out: &prefixWriter{w: stdout, mu: &mu, prefix: fmt.Sprintf("[rank %d] ", r)},
			err: &prefixWriter{w: stderr, mu: &mu, prefix: fmt.Sprintf("[rank %d] ", r)}}
		cmd.Stdout, cmd.Stderr = ch.out, ch.err
		// own process group: a terminal's Ctrl-C reaches launch only, which passes it on once; children die with
		// launch even if it is killed
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		cmd.WaitDelay = s.grace
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
		s.killTimer = time.After(s.grace)
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
			s.signalAll(sig.(syscall.Signal))
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
			s.killTimer = time.After(s.grace)
		}
		return
	}
	if e.err != nil && s.first == nil {
		s.first = &e
		if s.running > 0 {
			logf("launch", "rank %d failed (%v); stopping the other processes", e.rank, e.err)
		}
		s.stop()
	}
}

// prefixWriter writes whole lines, each prefixed, to w under a mutex shared by every process's streams.
type prefixWriter struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		// a progress line rewritten with \r counts as a line too
		i := bytes.IndexAny(p.buf, "\n\r")
		if i < 0 {
			break
		}
		line := p.buf[:i+1]
		if line[i] == '\r' {
			line[i] = '\n'
		}
		if len(bytes.TrimSpace(line)) > 0 {
			p.w.Write(append([]byte(p.prefix), line...))
		}
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// flush writes a last line without a newline.
func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(bytes.TrimSpace(p.buf)) > 0 {
		p.w.Write(append(append([]byte(p.prefix), p.buf...), '\n'))
	}
	p.buf = nil
}
