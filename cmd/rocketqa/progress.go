package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress prints "what: done/total unit (pct) rate/s ETA" lines on stderr: on a terminal it rewrites one line
// every half second, otherwise it prints a line every interval (and at the end), so logs stay short.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	prefix   string
	unit     string
	total    int // 0: unknown
	base     int // done before this run (resumed work), not counted in the rate
	start    time.Time
	last     time.Time
	tty      bool
	interval time.Duration
	printed  bool
	finished bool // the final line is out
}

func newProgress(prefix, unit string, total int) *progress {
	p := &progress{w: stderr, prefix: prefix, unit: unit, total: total, start: time.Now(), interval: 10 * time.Second}
	if f, ok := stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty, p.interval = true, 500*time.Millisecond
		}
	}
	return p
}

// update reports done units in all (base included); label, when not empty, names the current item.
func (p *progress) update(done int, label string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	final := p.total > 0 && done >= p.total
	if p.finished || (!final && now.Sub(p.last) < p.interval) {
		return
	}
	p.finished = final
	p.last = now
	el := now.Sub(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(done-p.base) / el
	}
	s := p.prefix
	if label != "" {
		s += " " + label
	}
	s += fmt.Sprintf(": %d", done)
	if p.total > 0 {
		s += fmt.Sprintf("/%d %s (%.1f%%)", p.total, p.unit, 100*float64(done)/float64(p.total))
	} else {
		s += " " + p.unit
	}
	s += fmt.Sprintf(" %.1f/s", rate)
	if p.total > 0 && rate > 0 && !final {
		eta := time.Duration(float64(p.total-done)/rate) * time.Second
		s += " ETA " + eta.Round(time.Second).String()
	} else if final {
		s += " in " + time.Duration(el*float64(time.Second)).Round(100*time.Millisecond).String()
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", s)
		if final {
			fmt.Fprintln(p.w)
		}
	} else {
		fmt.Fprintln(p.w, s)
	}
	p.printed = !final
}

// done ends a terminal line left open.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.printed {
		fmt.Fprintln(p.w)
		p.printed = false
	}
}

// logf prints a line on stderr prefixed with the command name.
func logf(name, format string, a ...any) {
	fmt.Fprintf(stderr, "rocketqa %s: %s\n", name, fmt.Sprintf(format, a...))
}
