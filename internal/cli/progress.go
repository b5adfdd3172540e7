package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Progress prints "what: done/total unit (pct) rate/s ETA" lines on stderr: on a terminal it rewrites one line
// every half second, otherwise it prints a line every interval (and at the end), so logs stay short.
type Progress struct {
	mu       sync.Mutex
	w        io.Writer
	prefix   string
	unit     string
	Total    int // 0: unknown
	Base     int // done before this run (resumed work), not counted in the rate
	start    time.Time
	last     time.Time
	tty      bool
	interval time.Duration
	printed  bool
	finished bool // the final line is out
}

// NewProgress starts a progress display on w (a terminal gets one rewritten line).
func NewProgress(w io.Writer, prefix, unit string, total int) *Progress {
	p := &Progress{w: w, prefix: prefix, unit: unit, Total: total, start: time.Now(), interval: 10 * time.Second}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty, p.interval = true, 500*time.Millisecond
		}
	}
	return p
}

// Update reports done units in all (base included); label, when not empty, names the current item.
func (p *Progress) Update(done int, label string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	final := p.Total > 0 && done >= p.Total
	if p.finished || (!final && now.Sub(p.last) < p.interval) {
		return
	}
	p.finished = final
	p.last = now
	el := now.Sub(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(done-p.Base) / el
	}
	s := p.prefix
	if label != "" {
		s += " " + label
	}
	s += fmt.Sprintf(": %d", done)
	if p.Total > 0 {
		s += fmt.Sprintf("/%d %s (%.1f%%)", p.Total, p.unit, 100*float64(done)/float64(p.Total))
	} else {
		s += " " + p.unit
	}
	s += fmt.Sprintf(" %.1f/s", rate)
	if p.Total > 0 && rate > 0 && !final {
		eta := time.Duration(float64(p.Total-done)/rate) * time.Second
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

// Done ends a terminal line left open.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.printed {
		fmt.Fprintln(p.w)
		p.printed = false
	}
}
