package pyref

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Fixture runs a script once per process, hands every caller the same output path named like the committed file,
// and RemoveFixtures deletes it; without torch it returns the committed path.
func TestFixture(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	script := filepath.Join(dir, "gen.py")
	require.NoError(t, os.WriteFile(script, []byte(`import sys
open(sys.argv[1], "w").write("ref")
open(`+"'"+runs+"'"+`, "a").write("x")
`), 0o600))
	committed := filepath.Join("testdata", "ref.safetensors")
	first := Fixture(t, script, committed)
	if ok, _ := Available(); !ok {
		require.Equal(t, committed, first)
		return
	}
	require.Equal(t, "ref.safetensors", filepath.Base(first))
	require.Equal(t, first, Fixture(t, script, committed))
	b, err := os.ReadFile(first)
	require.NoError(t, err)
	require.Equal(t, "ref", string(b))
	n, err := os.ReadFile(runs)
	require.NoError(t, err)
	require.Equal(t, "x", string(n), "the script runs once")
	RemoveFixtures()
	_, err = os.Stat(filepath.Dir(first))
	require.ErrorIs(t, err, os.ErrNotExist)
}
