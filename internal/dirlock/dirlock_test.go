package dirlock

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSecondAcquireFailsNamingHolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	l, err := Acquire(dir, "train-de")
	require.NoError(t, err)
	_, err = Acquire(dir, "encode")
	require.Error(t, err)
	require.True(t, errors.Is(err, ErrLocked))
	require.Contains(t, err.Error(), "train-de")
	require.NoError(t, l.Release())
	require.NoError(t, l.Release()) // twice is fine
	l2, err := Acquire(dir, "encode")
	require.NoError(t, err)
	require.NoError(t, l2.Release())
	var nilLock *Lock
	require.NoError(t, nilLock.Release())
}

// A lock held by another process (flock is per open file description, so this is the real cross-process case).
func TestLockHeldByOtherProcess(t *testing.T) {
	if os.Getenv("DIRLOCK_CHILD") != "" {
		l, err := Acquire(os.Getenv("DIRLOCK_CHILD"), "child")
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		buf := make([]byte, 1)
		os.Stdin.Read(buf) // hold until the parent closes stdin
		l.Release()
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=TestLockHeldByOtherProcess")
	cmd.Env = append(os.Environ(), "DIRLOCK_CHILD="+dir)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	buf := make([]byte, 7)
	_, err = out.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "locked\n", string(buf))
	_, err = Acquire(dir, "parent")
	require.ErrorIs(t, err, ErrLocked)
	require.True(t, strings.Contains(err.Error(), "child"), err.Error())
	stdin.Close()
	require.NoError(t, cmd.Wait())
	l, err := Acquire(dir, "parent") // released when the holder exited
	require.NoError(t, err)
	l.Release()
}
