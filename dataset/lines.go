package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// DefaultMaxLineBytes is the longest line a reader accepts when
// Options.MaxLineBytes is zero.
const DefaultMaxLineBytes = 64 << 20

// Options tune a reader.
type Options struct {
	// SkipBad skips malformed lines (or lists, or JSON entries) instead of
	// stopping with an error; the reader's Skipped method counts them.
	SkipBad bool
	// MaxLineBytes bounds the length of one line; 0 means DefaultMaxLineBytes.
	// A longer line is malformed: without SkipBad reading stops at once with a
	// *LineError (file:line) wrapping ErrLineTooLong, so a file without
	// newlines (/dev/zero, a binary file) is refused after MaxLineBytes bytes.
	MaxLineBytes int
	// Context, if not nil, cancels reading: Next returns false and Err the
	// context's error (wrapped with file:line) soon after it is cancelled,
	// also while an open or a read of a FIFO blocks. nil means no cancellation.
	Context context.Context
}

func pickOptions(opts []Options) Options {
	if len(opts) == 0 {
		return Options{}
	}
	return opts[0]
}

func (o Options) maxLine() int {
	if o.MaxLineBytes <= 0 {
		return DefaultMaxLineBytes
	}
	return o.MaxLineBytes
}

// LineError reports a malformed line: the file, the 1-based line number and
// what is wrong with it.
type LineError struct {
	Path string
	Line int
	Msg  string
	// Err is the underlying error, if any (ErrLineTooLong for an over-long line).
	Err error
}

// Error formats the error as "path:line: message".
func (e *LineError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
}

// Unwrap returns the underlying error.
func (e *LineError) Unwrap() error { return e.Err }

// ErrLineTooLong is wrapped by the error for a line longer than
// Options.MaxLineBytes.
//
// Under SkipBad an over-long line is skipped, but one that runs on for more
// than maxSkipFactor*MaxLineBytes bytes stops the reader with an error that
// is not a *LineError (so it is not skipped).
var ErrLineTooLong = errors.New("line too long")

const maxSkipFactor = 16

// lineSource yields the lines of one file, without the trailing "\n" or "\r\n".
type lineSource struct {
	path     string
	file     *inputFile
	gz       *gzip.Reader
	br       *bufio.Reader
	max      int
	skipLong bool // consume the rest of an over-long line (SkipBad) instead of stopping
	ctx      context.Context
	lineNo   int
	long     []byte // accumulates lines longer than the bufio buffer
	closed   bool
}

func openLines(path string, o Options) (*lineSource, error) {
	f, err := openInput(o.Context, path)
	if err != nil {
		return nil, err
	}
	s := &lineSource{path: path, file: f, max: o.maxLine(), skipLong: o.SkipBad, ctx: o.Context}
	var r io.Reader = f
	if o.Context != nil {
		r = ctxReader{o.Context, f}
	}
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(r)
		if err != nil {
			f.close()
			return nil, fmt.Errorf("%s: %w", path, readErr(o.Context, err))
		}
		s.gz = gz
		r = gz
	}
	s.br = SkipBOM(bufio.NewReaderSize(r, 64<<10))
	return s, nil
}

// cancelled returns the context's error, with file and line, once it is cancelled.
func (s *lineSource) cancelled() error {
	if s.ctx == nil {
		return nil
	}
	if err := s.ctx.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", s.path, s.lineNo+1, err)
	}
	return nil
}

// next returns the next line. The slice is valid until the following call.
// At the end of the file it returns io.EOF. A line longer than the limit
// returns a *LineError wrapping ErrLineTooLong; under SkipBad the rest of that
// line is consumed, so reading may go on with the next line, otherwise the
// source stops there.
func (s *lineSource) next() ([]byte, error) {
	if s.closed {
		return nil, io.EOF
	}
	if s.lineNo%cancelCheckEvery == 0 {
		if err := s.cancelled(); err != nil {
			return nil, err
		}
	}
	s.long = s.long[:0]
	tooLong := false
	skipped := 0
	for frags := 1; ; frags++ {
		frag, err := s.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if tooLong {
				// under SkipBad: give up on a "line" that never ends (/dev/zero, a binary file)
				if skipped += len(frag); skipped > maxSkipFactor*s.max {
					return nil, fmt.Errorf("%s:%d: %w: no newline in %d bytes; is it a text file?", s.path, s.lineNo+1, ErrLineTooLong, skipped)
				}
			}
			if !tooLong {
				if len(s.long)+len(frag) > s.max+2 {
					tooLong = true
					s.long = s.long[:0]
					if !s.skipLong {
						// stop here: the rest of the line may never end (/dev/zero)
						s.lineNo++
						return nil, s.tooLong()
					}
				} else {
					s.long = append(s.long, frag...)
				}
			}
			if frags%cancelCheckEvery == 0 {
				if err := s.cancelled(); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s:%d: %w", s.path, s.lineNo+1, readErr(s.ctx, err))
		}
		if err == io.EOF && len(frag) == 0 && len(s.long) == 0 && !tooLong {
			return nil, io.EOF
		}
		s.lineNo++
		if tooLong {
			return nil, s.tooLong()
		}
		line := frag
		if len(s.long) > 0 {
			s.long = append(s.long, frag...)
			line = s.long
		}
		line = bytes.TrimSuffix(line, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) > s.max {
			return nil, s.tooLong()
		}
		return line, nil
	}
}

func (s *lineSource) tooLong() error {
	return &LineError{Path: s.path, Line: s.lineNo, Err: ErrLineTooLong,
		Msg: fmt.Sprintf("%v: longer than %d bytes", ErrLineTooLong, s.max)}
}

func (s *lineSource) close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.gz != nil {
		err = s.gz.Close()
	}
	if cerr := s.file.close(); err == nil {
		err = cerr
	}
	return err
}

// splitTab splits a line on TAB into exactly n fields, or reports how many it has.
func splitTab(line []byte, n int) ([]string, error) {
	if !utf8.Valid(line) {
		return nil, errors.New("not valid UTF-8")
	}
	got := bytes.Count(line, []byte{'\t'}) + 1
	if got != n {
		return nil, fmt.Errorf("want %d tab-separated columns, got %d", n, got)
	}
	out := make([]string, n)
	s := string(line)
	for i := 0; i < n-1; i++ {
		j := strings.IndexByte(s, '\t')
		out[i] = s[:j]
		s = s[j+1:]
	}
	out[n-1] = s
	return out, nil
}

// records is the engine shared by the line-oriented readers: it reads lines,
// hands them to parse and keeps the last good value, the skip count and the
// first error.
type records[T any] struct {
	src     *lineSource
	opts    Options
	parse   func(line []byte) (T, error)
	cur     T
	curLine int
	skipped int
	err     error
}

func openRecords[T any](path string, opts []Options, parse func([]byte) (T, error)) (*records[T], error) {
	o := pickOptions(opts)
	src, err := openLines(path, o)
	if err != nil {
		return nil, err
	}
	return &records[T]{src: src, opts: o, parse: parse}, nil
}

// Next advances to the next record. It returns false at the end of the file
// or on an error; Err tells which.
func (r *records[T]) Next() bool {
	if r.err != nil {
		return false
	}
	for {
		line, err := r.src.next()
		if err == io.EOF {
			return false
		}
		if err != nil {
			var le *LineError
			if errors.As(err, &le) && r.opts.SkipBad {
				r.skipped++
				continue
			}
			r.err = err
			return false
		}
		v, perr := r.parse(line)
		if perr == errBlank {
			continue // a reader that allows blank lines (the run reader) skips them
		}
		if perr != nil {
			if r.opts.SkipBad {
				r.skipped++
				continue
			}
			r.err = &LineError{Path: r.src.path, Line: r.src.lineNo, Msg: perr.Error()}
			return false
		}
		r.cur = v
		r.curLine = r.src.lineNo
		return true
	}
}

// Line is the 1-based line number of the current record.
func (r *records[T]) Line() int { return r.curLine }

// All reads the remaining records into memory and closes the reader: the one way this module loads a whole
// file of examples (dual.train.tsv, cross.train.tsv, id/text files, qrels, runs).
func (r *records[T]) All() ([]T, error) {
	defer r.Close()
	var out []T
	for r.Next() {
		out = append(out, r.cur)
	}
	return out, r.Err()
}

// Skipped counts the malformed lines skipped under Options.SkipBad.
func (r *records[T]) Skipped() int { return r.skipped }

// Err is the first error met, or nil at a clean end of file.
func (r *records[T]) Err() error { return r.err }

// Close releases the file. It is safe to call twice.
func (r *records[T]) Close() error { return r.src.close() }

// CountLines counts the lines of a text file (.gz decompressed) as the
// readers number them: a last line without "\n" counts, a BOM is not data.
// Lines longer than Options.MaxLineBytes are errors, as for the readers.
func CountLines(path string, opts ...Options) (int, error) {
	o := pickOptions(opts)
	o.SkipBad = false
	src, err := openLines(path, o)
	if err != nil {
		return 0, err
	}
	defer src.close()
	for {
		_, err := src.next()
		if err == io.EOF {
			return src.lineNo, nil
		}
		if err != nil {
			return 0, err
		}
	}
}
