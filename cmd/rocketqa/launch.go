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
	var mu sync.Mutex // serialises the prefixed writes of all processes
	children := make([]*child, n)
	exits := make(chan exitInfo, n)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	running := 0
	var startErr error
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
		cmd.WaitDelay = grace
		if err := cmd.Start(); err != nil {
			startErr = fmt.Errorf("start rank %d: %w", r, err)
			break
		}
		children[r] = ch
		running++
		go func() {
			err := cmd.Wait()
			ch.out.flush()
			ch.err.flush()
			exits <- exitInfo{ch.rank, err}
		}()
	}

	exited := make([]bool, n)
	signalAll := func(sig syscall.Signal) {
		for _, ch := range children {
			if ch != nil && !exited[ch.rank] {
				syscall.Kill(-ch.cmd.Process.Pid, sig)
			}
		}
	}
	var first *exitInfo
	stopping := false
	var killTimer <-chan time.Time
	stop := func() {
		if !stopping {
			stopping = true
			signalAll(syscall.SIGTERM)
			killTimer = time.After(grace)
		}
	}
	if startErr != nil {
		stop()
	}
	interrupts := 0
	for running > 0 {
		select {
		case e := <-exits:
			running--
			exited[e.rank] = true
			if interrupts > 0 {
				// the others may wait in a collective for the one that left: give them the grace period
				if running > 0 && killTimer == nil {
					killTimer = time.After(grace)
				}
				continue
			}
			if e.err != nil && first == nil {
				first = &e
				if running > 0 {
					logf("launch", "rank %d failed (%v); stopping the other processes", e.rank, e.err)
				}
				stop()
			}
		case s := <-sigs:
			interrupts++
			if interrupts > 1 {
				signalAll(syscall.SIGKILL)
				continue
			}
			signalAll(s.(syscall.Signal))
			stopping = true
			killTimer = nil
		case <-killTimer:
			signalAll(syscall.SIGKILL)
			killTimer = nil
		}
	}
	switch {
	case startErr != nil:
		return startErr
	case interrupts > 0:
		return &exitError{code: 130, err: errors.New("interrupted")}
	case first != nil:
		code := 1
		var ee *exec.ExitError
		if errors.As(first.err, &ee) && ee.ExitCode() > 0 {
			code = ee.ExitCode()
		}
		return &exitError{code: code, err: fmt.Errorf("rank %d of %d failed: %v", first.rank, n, first.err)}
	}
	return nil
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
