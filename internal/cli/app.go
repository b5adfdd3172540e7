package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/rocketqa-go/rocketqa/fielderr"
)

// Sub is one subcommand of an App.
type Sub struct {
	Name, Summary string
	Run           func(ctx context.Context, args []string) error
	// OwnSignals says the command passes signals on itself (a launcher): a second signal does not end the
	// process at once.
	OwnSignals bool
}

// ExitError ends a command with a specific exit status (a launcher passes on a failed process's).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }

// App is a program of subcommands with one error convention: exit status 0 on success (and after --help), 1 when
// the command fails, 2 for a usage error, 130 when interrupted (SIGINT or SIGTERM cancel the command's context; a
// second signal quits at once).
type App struct {
	Name           string
	Subs           []*Sub
	Stdout, Stderr io.Writer
	// Usage writes the top-level help.
	Usage func(w io.Writer)
	// FlagFor names the command-line flag of a library setting (a fielderr field path), "" for none.
	FlagFor func(path string) string
}

// Main runs the command line args (without the program name) and returns the exit status. A panic is reported
// as an internal error without a stack trace (ROCKETQA_TRACEBACK=1 prints it).
func (a *App) Main(args []string) (code int) {
	name := ""
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(a.Stderr, "%s %s: internal error: %v\n", a.Name, name, r)
			if os.Getenv("ROCKETQA_TRACEBACK") != "" {
				fmt.Fprintf(a.Stderr, "%s\n", debug.Stack())
			}
			code = 1
		}
	}()
	if len(args) == 0 {
		a.Usage(a.Stderr)
		return 2
	}
	switch name = args[0]; name {
	case "-h", "-help", "--help", "help":
		if name == "help" && len(args) > 1 {
			return a.Main([]string{args[1], "--help"})
		}
		a.Usage(a.Stdout)
		return 0
	case "-version", "--version":
		name = "version"
	}
	sub := a.Lookup(name)
	if sub == nil {
		fmt.Fprintf(a.Stderr, "%s: unknown command %q\nRun '%s --help' for the list of commands.\n", a.Name, name, a.Name)
		return 2
	}
	ctx, stop := interruptContext(a.Name+" "+name, !sub.OwnSignals)
	defer stop()
	return a.report(ctx, name, sub.Run(ctx, args[1:]))
}

// Lookup returns the subcommand called name, or nil.
func (a *App) Lookup(name string) *Sub {
	for _, s := range a.Subs {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// interruptContext returns a context that SIGINT or SIGTERM cancels: the command stops at its next look at the
// context, cleaning up. With secondQuits a second signal ends the process at once with status 130, for a stage
// stuck in a call that does not look at the context. stop releases the signals.
func interruptContext(who string, secondQuits bool) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	finished := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-finished:
			return
		}
		if !secondQuits {
			return
		}
		select {
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "%s: %v again: quitting at once\n", who, s)
			os.Exit(130)
		case <-finished:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(finished)
		cancel()
	}
}

// report prints err the way every subcommand does and returns the exit status. A library's configuration error
// (fielderr) is shown with the flags' names; its own package prefix would stutter after "rocketqa <sub>: ".
func (a *App) report(ctx context.Context, name string, err error) int {
	var ue *UsageError
	var ee *ExitError
	var fe *fielderr.Error
	code := 1
	switch {
	case err == nil, errors.Is(err, ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(a.Stderr, "%s %s: %s\nRun '%s %s --help' for usage.\n", a.Name, name, ue.Msg, a.Name, name)
		return 2
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Fprintf(a.Stderr, "%s %s: interrupted\n", a.Name, name)
		return 130
	case errors.As(err, &ee):
		code = ee.Code
	case errors.As(err, &fe):
		msg := strings.Replace(err.Error(), fe.Error(), fe.Render(a.FlagFor), 1)
		if !fe.File && msg == fe.Render(a.FlagFor) {
			fmt.Fprintf(a.Stderr, "%s %s: %s\nRun '%s %s --help' for usage.\n", a.Name, name, msg, a.Name, name)
			return 2
		}
		err = errors.New(msg)
	}
	fmt.Fprintf(a.Stderr, "%s %s: %s\n", a.Name, name, strings.TrimPrefix(err.Error(), a.Name+": "))
	return code
}

// VersionString is "<name> <version> (<go version>, <vcs revision>[+dirty])" of this build.
func VersionString(name, version string) string {
	v := name + " " + version
	if bi, ok := debug.ReadBuildInfo(); ok {
		v += " (" + bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += ", " + s.Value[:12]
			}
			if s.Key == "vcs.modified" && s.Value == "true" {
				v += "+dirty"
			}
		}
		v += ")"
	}
	return v
}
