package launch

import (
	"bytes"
	"io"
	"sync"
)

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
