package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// MustFile fails naming the flag and the path when a path is not a readable regular file.
func MustFile(flagName string, paths ...string) error {
	for _, path := range paths {
		st, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("%s %s: %v", flagName, path, PathErr(err))
		}
		if st.IsDir() {
			return fmt.Errorf("%s %s: is a directory, want a file", flagName, path)
		}
	}
	return nil
}

// MustDir fails naming the flag and the path when path is not a directory.
func MustDir(flagName, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s %s: %v", flagName, path, PathErr(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("%s %s: not a directory", flagName, path)
	}
	return nil
}

// PathErr strips the "stat PATH: " prefix of an *os.PathError (the caller names the path).
func PathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// SplitList splits a comma-separated flag value, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// FirstErr returns the first non-nil error.
func FirstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
