// Package fielderr is the error type of the configuration checks of this module (the Validate methods of
// rocketqa.DualConfig, train.Options, pair.Config, ...): an error that names the settings it is about, so that a
// front end can show them in its own terms. The message holds each setting's Go field path in braces, e.g.
// "{Train.LR} -1: must be a positive number"; Error prints it without the braces ("Train.LR -1: ..."), and Render
// replaces each path by what the front end calls it (cmd/rocketqa: "--lr -1: ...").
package fielderr

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// Error is a setting (or a combination of settings) that fails a rule.
type Error struct {
	// Pkg is the package that checked, the prefix of Error ("rocketqa").
	Pkg string
	// Msg is the message with the field paths in braces.
	Msg string
	// File reports that the setting names a file or directory that is missing or of the wrong kind (an input
	// problem) rather than a value out of range (a usage problem).
	File bool
}

var fieldRef = regexp.MustCompile(`\{([A-Za-z0-9_.]+)\}`)

// Error returns "pkg: msg" with the field paths unbraced.
func (e *Error) Error() string { return e.Pkg + ": " + e.Render(nil) }

// Render returns the message (without Pkg) with every {path} replaced by name(path); a nil name, or one that
// returns "", keeps the path itself.
func (e *Error) Render(name func(path string) string) string {
	return fieldRef.ReplaceAllStringFunc(e.Msg, func(ref string) string {
		path := ref[1 : len(ref)-1]
		if name != nil {
			if n := name(path); n != "" {
				return n
			}
		}
		return path
	})
}

// Fields returns the field paths the message names, in order.
func (e *Error) Fields() []string {
	var out []string
	for _, m := range fieldRef.FindAllStringSubmatch(e.Msg, -1) {
		out = append(out, m[1])
	}
	return out
}

// New returns an *Error of package pkg; format and a are as fmt.Sprintf's, the field paths in braces.
func New(pkg, format string, a ...any) *Error {
	return &Error{Pkg: pkg, Msg: fmt.Sprintf(format, a...)}
}

// Check returns the *Error of the first failed rule: conds are pairs of (ok bool, message string).
func Check(pkg string, conds ...any) error {
	for i := 0; i+1 < len(conds); i += 2 {
		if !conds[i].(bool) {
			return &Error{Pkg: pkg, Msg: conds[i+1].(string)}
		}
	}
	return nil
}

// In prefixes the field paths of an *Error with prefix and a dot (the settings of a nested struct, e.g. "Train");
// other errors and nil pass unchanged.
func In(prefix string, err error) error {
	var fe *Error
	if !errors.As(err, &fe) {
		return err
	}
	c := *fe
	c.Msg = fieldRef.ReplaceAllString(fe.Msg, "{"+prefix+".$1}")
	return &c
}

// First returns the first non-nil error.
func First(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// IsFile fails, naming the field, unless path is a regular file (or something that reads like one: a FIFO, a
// device); an empty path is skipped.
func IsFile(pkg, field, path string) error { return isKind(pkg, field, path, false) }

// IsDir fails, naming the field, unless path is a directory; an empty path is skipped.
func IsDir(pkg, field, path string) error { return isKind(pkg, field, path, true) }

// isKind is IsFile (dir false) or IsDir (dir true).
func isKind(pkg, field, path string, dir bool) error {
	if path == "" {
		return nil
	}
	st, err := os.Stat(path)
	msg := ""
	switch {
	case err != nil:
		msg = pathErr(err).Error()
	case dir && !st.IsDir():
		msg = "not a directory"
	case !dir && st.IsDir():
		msg = "is a directory, want a file"
	default:
		return nil
	}
	return &Error{Pkg: pkg, Msg: fmt.Sprintf("{%s} %s: %s", field, path, msg), File: true}
}

// Exists fails, naming the field, when path does not exist; an empty path is skipped.
func Exists(pkg, field, path string) error {
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		return &Error{Pkg: pkg, Msg: fmt.Sprintf("{%s} %s: %v", field, path, pathErr(err)), File: true}
	}
	return nil
}

// CanCreate fails, naming the field, when an output file path cannot be written: it is a directory, or its
// parent is not one (a usage problem: the path is wrong, not an input); an empty path is skipped.
func CanCreate(pkg, field, path string) error {
	if path == "" {
		return nil
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return New(pkg, "{%s} %s is a directory; give a file path (e.g. %s)", field, path, filepath.Join(path, "run.tsv"))
	}
	if dir := filepath.Dir(path); dirIsFile(dir) {
		return New(pkg, "{%s} %s: %s is not a directory", field, path, dir)
	}
	return nil
}

// Distinct fails, naming both fields, when the output paths a (field fa) and b (field fb) name the same file:
// the same path once cleaned and made absolute, or two names of one existing file (a link). Two outputs written
// to one file would leave only the one renamed last. An empty path is skipped.
func Distinct(pkg, fa, a, fb, b string) error {
	if a == "" || b == "" {
		return nil
	}
	aa, erra := filepath.Abs(a)
	ab, errb := filepath.Abs(b)
	same := erra == nil && errb == nil && aa == ab
	if sa, err := os.Stat(a); err == nil {
		if sb, err := os.Stat(b); err == nil && os.SameFile(sa, sb) {
			same = true
		}
	}
	if same {
		return New(pkg, "{%s} %s is the same file as {%s} %s: give each output its own path", fb, b, fa, a)
	}
	return nil
}

func dirIsFile(dir string) bool {
	st, err := os.Stat(dir)
	return err == nil && !st.IsDir()
}

// pathErr strips the "stat PATH: " prefix of an *os.PathError (the message names the path).
func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
