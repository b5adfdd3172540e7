// Package maintest tests the command lines of the example mains: their test binary runs main itself when asked,
// so a test can start it as the command.
package maintest

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

const env = "ROCKETQA_EXAMPLE_MAIN"

// Main is an example's TestMain: with ROCKETQA_EXAMPLE_MAIN=1 the test binary is the command name (main runs with
// the binary's arguments), else it runs the tests.
func Main(m *testing.M, name string, main func()) {
	if os.Getenv(env) == "1" {
		os.Args = append([]string{name}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// UnexpectedArgument checks that the example refuses arg, given between two flags, before anything runs: exit
// status 2, a message naming it, nothing written in the current directory (flag parsing stops at such an
// argument, so the flags after it, -out included, would be silently ignored).
func UnexpectedArgument(t *testing.T, name, arg string) {
	cmd := exec.Command(os.Args[0], "-data", t.TempDir(), arg, "-out", t.TempDir())
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env+"=1")
	b, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", b)
	require.Equal(t, 2, exit.ExitCode(), "%s", b)
	require.Contains(t, string(b), name+`: unexpected argument "`+arg+`"`)
	entries, _ := os.ReadDir(cmd.Dir)
	require.Empty(t, entries, "nothing written in the current directory")
}
