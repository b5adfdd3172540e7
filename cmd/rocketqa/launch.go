package main

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/rocketqa-go/rocketqa/internal/cli"
	"github.com/rocketqa-go/rocketqa/train/launch"
)

// runLaunch runs a subcommand of this binary in --nproc processes (package train/launch).
func runLaunch(_ context.Context, args []string) error {
	c := helpCmd("launch")
	c.PosArgs = "command [flags]"
	o := launch.Options{Procs: 1, Addr: "127.0.0.1", Grace: 3 * time.Second, Stdout: stdout, Stderr: stderr,
		Log: func(format string, a ...any) { logf("launch", format, a...) }}
	c.Bind(&o, cli.Flag{"nproc", "Procs", "number of processes"},
		cli.Flag{"master-addr", "Addr", "address of rank 0's rendezvous store"},
		cli.Flag{"master-port", "Port", "port of rank 0's rendezvous store (default: a free port)"},
		cli.Flag{"grace", "Grace", "how long stopped processes may take before SIGKILL"})
	c.Positive("nproc", "grace")
	if err := c.parse(args); err != nil {
		return err
	}
	rest := c.FS.Args()
	switch {
	case o.Port < 0 || o.Port > 65535:
		return usagef("--master-port %d: not a port", o.Port)
	case len(rest) == 0:
		return usagef("no command to launch (rocketqa launch --nproc N -- train-de ...)")
	case rest[0] == "launch":
		return usagef("launch cannot launch itself")
	case (&cli.App{Subs: commands}).Lookup(rest[0]) == nil:
		return usagef("unknown command %q to launch", rest[0])
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	err = launch.Run(exe, rest, o)
	var ee *launch.ExitError
	if errors.As(err, &ee) {
		return &cli.ExitError{Code: ee.Code, Err: ee.Err}
	}
	return err
}
