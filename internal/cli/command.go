package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// UsageError is a mistake in the command line (exit status 2 in cmd/rocketqa).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError.
func Usagef(format string, a ...any) error { return &UsageError{fmt.Sprintf(format, a...)} }

// ErrHelp is returned by Parse after it printed the help.
var ErrHelp = errors.New("help requested")

// Command is the flag set and help text of one subcommand.
type Command struct {
	Name, Synopsis, Desc, Example string
	FS                            *flag.FlagSet
	PosArgs                       string // "" when positional arguments are refused; else their name in the help
	Required                      map[string]bool
	fields                        map[string]string // field path -> flag name (Bind)
	signs                         []sign            // Positive, NonNegative
	choices                       []choice          // OneOf
}

// NewCommand returns a command with an empty flag set that reports errors instead of printing them.
func NewCommand(name, synopsis, desc, example string) *Command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &Command{Name: name, Synopsis: synopsis, Desc: desc, Example: example, FS: fs, Required: map[string]bool{}, fields: map[string]string{}}
}

// Parse parses args: --help prints the help to help and returns ErrHelp; a bad flag, a stray argument or a
// missing required flag is a *UsageError.
func (c *Command) Parse(args []string, help io.Writer) error {
	err := c.FS.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		c.PrintHelp(help)
		return ErrHelp
	}
	if err != nil {
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
			msg = "unknown flag --" + strings.TrimPrefix(name, "-")
		} else if strings.HasPrefix(msg, "invalid value") || strings.HasPrefix(msg, "flag needs an argument: -") {
			msg = strings.Replace(msg, " -", " --", 1)
		}
		return Usagef("%s", msg)
	}
	if c.PosArgs == "" && c.FS.NArg() > 0 {
		return Usagef("unexpected argument %q (every input is given with a flag)", c.FS.Arg(0))
	}
	var missing []string
	for n := range c.Required {
		if !c.Set(n) {
			missing = append(missing, "--"+n)
		}
	}
	sort.Strings(missing)
	switch {
	case len(missing) == 1:
		return Usagef("%s is required", missing[0])
	case len(missing) > 1:
		return Usagef("%s are required", strings.Join(missing, ", "))
	}
	if err := c.checkChoices(); err != nil {
		return err
	}
	return c.checkSigns()
}

// Set reports whether the flag was given on the command line.
func (c *Command) Set(name string) bool {
	found := false
	c.FS.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// PrintHelp writes the usage, the description, the flags with their defaults and the example.
func (c *Command) PrintHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n  %s\n\n%s\n\nFlags:\n", strings.ReplaceAll(c.Synopsis, "\n", "\n  "), strings.TrimSpace(c.Desc))
	c.FS.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		fmt.Fprintln(w, line)
		if c.Required[f.Name] {
			usage += " (required)"
		} else if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && !strings.Contains(usage, "(default") {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		for _, l := range strings.Split(usage, "\n") {
			fmt.Fprintf(w, "        %s\n", l)
		}
	})
	if c.Example != "" {
		fmt.Fprintf(w, "\nExample:\n  %s\n", strings.ReplaceAll(strings.TrimSpace(c.Example), "\n", "\n  "))
	}
}

// ExpandFiles turns a flag value into files: a directory gives its files ending in ext (sorted), otherwise a
// comma-separated list of files.
func ExpandFiles(flagName, value, ext string) ([]string, error) {
	var out []string
	for _, p := range SplitList(value) {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %v", flagName, p, PathErr(err))
		}
		m := []string{p}
		if st.IsDir() {
			if m, _ = filepath.Glob(filepath.Join(p, "*"+ext)); len(m) == 0 {
				return nil, fmt.Errorf("%s %s: no *%s files in the directory", flagName, p, ext)
			}
		}
		out = append(out, m...) // Glob sorts
	}
	if len(out) == 0 {
		return nil, Usagef("%s: no files given", flagName)
	}
	return out, nil
}
