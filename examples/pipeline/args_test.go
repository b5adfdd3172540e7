package main

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMain runs main itself when ROCKETQA_EXAMPLE_MAIN is set (TestUnexpectedArgument runs the test binary as the
// command).
func TestMain(m *testing.M) {
	if os.Getenv("ROCKETQA_EXAMPLE_MAIN") == "1" {
		os.Args = append([]string{"pipeline"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestUnexpectedArgument: an argument that is not a flag is refused before anything runs (flag parsing stops at
// it, so the flags after it were silently ignored and the run went to the default -out).
func TestUnexpectedArgument(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-data", t.TempDir(), "small", "-out", t.TempDir())
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "ROCKETQA_EXAMPLE_MAIN=1")
	b, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", b)
	require.Equal(t, 2, exit.ExitCode(), "%s", b)
	require.Contains(t, string(b), `pipeline: unexpected argument "small"`)
	entries, _ := os.ReadDir(cmd.Dir)
	require.Empty(t, entries, "nothing written in the current directory")
}
