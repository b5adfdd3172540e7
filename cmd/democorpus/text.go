package main

import (
	"strings"
	"unicode"
)

// isCJK reports whether r is a Han character or CJK / full-width punctuation:
// text between two such runes needs no space.
func isCJK(r rune) bool {
	return unicode.Is(unicode.Han, r) ||
		(r >= 0x3000 && r <= 0x303f) || // CJK symbols and punctuation
		(r >= 0xff00 && r <= 0xffef) || // full-width forms
		(r >= 0x2018 && r <= 0x201f) // curly quotes
}

// collapse turns every run of white space into one space (none between CJK
// runes) and trims the ends.
func collapse(s string) string {
	var out strings.Builder
	last := rune(0)
	pendingSpace := false
	for _, r := range s {
		if unicode.IsSpace(r) || r == '\u00a0' {
			pendingSpace = out.Len() > 0
			continue
		}
		if pendingSpace && !(isCJK(last) && isCJK(r)) {
			out.WriteByte(' ')
		}
		pendingSpace = false
		out.WriteRune(r)
		last = r
	}
	return out.String()
}

// textBuf accumulates body text; brk marks a paragraph boundary (a space) and
// glue appends without one.
type textBuf struct {
	b strings.Builder
}

func (t *textBuf) add(s string) {
	s = collapse(s)
	if s == "" {
		return
	}
	t.b.WriteString(" ")
	t.b.WriteString(s)
}

func (t *textBuf) glue(s string) {
	t.b.WriteString(collapse(s))
}

func (t *textBuf) brk() { t.b.WriteString(" ") }

// String is the accumulated text, white space collapsed.
func (t *textBuf) String() string { return collapse(t.b.String()) }

// hanCount counts Han characters.
func hanCount(s string) int {
	n := 0
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			n++
		}
	}
	return n
}

// hanRatio is the share of Han characters among the non-space runes.
func hanRatio(s string) float64 {
	total := 0
	for _, r := range s {
		if !unicode.IsSpace(r) {
			total++
		}
	}
	if total == 0 {
		return 0
	}
	return float64(hanCount(s)) / float64(total)
}

// cut shortens s to at most max runes, preferably just after the last
// sentence end (。！？；!?; or ". ") that lies in the second half of the limit.
func cut(s string, max int) string {
	runes := []rune(s)
	if len(runes) <= max {
		return s
	}
	head := runes[:max]
	for i := len(head) - 1; i >= max/2; i-- {
		switch head[i] {
		case '。', '！', '？', '；', '!', '?', ';':
			return strings.TrimSpace(string(head[:i+1]))
		case '.':
			if i+1 < len(runes) && runes[i+1] == ' ' {
				return strings.TrimSpace(string(head[:i+1]))
			}
		}
	}
	return strings.TrimSpace(string(head))
}
