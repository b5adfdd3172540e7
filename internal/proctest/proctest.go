// Package proctest runs a test as the ranks of a multi-process (torch.distributed style) group: the processes are
// copies of the test binary that run one worker test each, find the rendezvous in their environment (RANK,
// LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, as torchrun sets them) and write their result as JSON to a
// directory the parent test then reads.
package proctest

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// outEnv is the environment variable that gives a worker the directory of its result file.
const outEnv = "PROCTEST_OUT"

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts world processes of this test binary that run the test named worker (-test.run=^worker$ -test.v)
// as ranks 0 to world-1 of a group on a free local port, each with env added to its environment and its output in
// dir/log<rank>.txt. It returns the started commands and dir, a new temporary directory.
func Start(t testing.TB, worker string, world int, env ...string) ([]*exec.Cmd, string) {
	dir := t.TempDir()
	port := FreePort(t)
	var cmds []*exec.Cmd
	for r := 0; r < world; r++ {
		c := exec.Command(os.Args[0], "-test.run=^"+worker+"$", "-test.v")
		c.Env = append(os.Environ(), fmt.Sprintf("RANK=%d", r), fmt.Sprintf("LOCAL_RANK=%d", r), fmt.Sprintf("WORLD_SIZE=%d", world),
			"MASTER_ADDR=127.0.0.1", fmt.Sprintf("MASTER_PORT=%d", port), outEnv+"="+dir)
		c.Env = append(c.Env, env...)
		out, err := os.Create(filepath.Join(dir, fmt.Sprintf("log%d.txt", r)))
		require.NoError(t, err)
		c.Stdout, c.Stderr = out, out
		require.NoError(t, c.Start())
		cmds = append(cmds, c)
	}
	return cmds, dir
}

// Wait waits for the processes Start started; one that failed fails the test, with its output.
func Wait(t testing.TB, cmds []*exec.Cmd, dir string) {
	t.Helper()
	for r, c := range cmds {
		err := c.Wait()
		log, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("log%d.txt", r)))
		require.NoError(t, err, "rank %d:\n%s", r, log)
	}
}

// Run starts the world processes of worker as Start does, waits for them as Wait does, and returns their results
// (written by WriteResult) by rank.
func Run[T any](t testing.TB, worker string, world int, env ...string) []T {
	t.Helper()
	cmds, dir := Start(t, worker, world, env...)
	Wait(t, cmds, dir)
	return Results[T](t, dir, world)
}

// Results reads the results that the world ranks wrote to dir with WriteResult.
func Results[T any](t testing.TB, dir string, world int) []T {
	t.Helper()
	out := make([]T, world)
	for r := range out {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("rank%d.json", r)))
		require.NoError(t, err, "rank %d", r)
		require.NoError(t, json.Unmarshal(b, &out[r]), "rank %d", r)
	}
	return out
}

// WriteResult writes v as this worker's result (rank RANK, in the directory Start made). The file appears whole
// (written aside, then renamed), so a parent that reads it while the worker still runs never sees a part.
func WriteResult(t testing.TB, v any) {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	path := filepath.Join(os.Getenv(outEnv), "rank"+os.Getenv("RANK")+".json")
	require.NoError(t, os.WriteFile(path+".tmp", b, 0o644))
	require.NoError(t, os.Rename(path+".tmp", path))
}
