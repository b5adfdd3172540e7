package main

import (
	"fmt"
	"os"

	"github.com/rocketqa-go/rocketqa/internal/cli"
)

// The process set-up lives in internal/cli; these are its names in this command.

const coretypeEnv = cli.CoretypeEnv

var (
	coretypeFor = cli.CoretypeFor
	setThreads  = cli.SetThreads
	runtimeInfo = cli.RuntimeInfo
)

// ensureBLAS restarts the process with OPENBLAS_CORETYPE set when the CPU needs it (cli.EnsureBLAS).
func ensureBLAS() { cli.EnsureBLAS(stderr) }

// newProgress starts a progress display on stderr.
func newProgress(prefix, unit string, total int) *cli.Progress {
	return cli.NewProgress(stderr, prefix, unit, total)
}

// logf prints a line on stderr prefixed with the command name.
func logf(name, format string, a ...any) {
	fmt.Fprintf(stderr, "rocketqa %s: %s\n", name, fmt.Sprintf(format, a...))
}

// statErr fails, naming what, when path does not exist.
func statErr(what, path string) (os.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", what, path, cli.PathErr(err))
	}
	return st, nil
}
