package dataset

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/internal/canceltest"
)

// train-de --train /dev/zero hung: an over-long line was consumed to its end, which never comes.
func TestFileWithoutNewlinesStopsAtMaxLine(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	canceltest.Within(t, 20*time.Second, func() {
		r, err := OpenDualTrain("/dev/zero", Options{MaxLineBytes: 1 << 20})
		require.NoError(t, err)
		defer r.Close()
		assert.False(t, r.Next())
		require.ErrorIs(t, r.Err(), ErrLineTooLong)
		assert.Contains(t, r.Err().Error(), "/dev/zero:1:")
	})
}

// Under SkipBad an over-long line is skipped to its end; /dev/zero has none, and reading hung.
func TestSkipBadGivesUpOnEndlessLine(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	canceltest.Within(t, 20*time.Second, func() {
		r, err := OpenDualTrain("/dev/zero", Options{MaxLineBytes: 64 << 10, SkipBad: true})
		require.NoError(t, err)
		defer r.Close()
		assert.False(t, r.Next())
		require.ErrorIs(t, r.Err(), ErrLineTooLong)
		assert.Contains(t, r.Err().Error(), "/dev/zero:1: line too long: no newline in")
	})
	// an over-long line that ends is still skipped
	long := make([]byte, 100<<10)
	for i := range long {
		long[i] = 'x'
	}
	p := writeFile(t, "ids.tsv", "a\tb\n"+string(long)+"\nc\td\n")
	r, err := OpenIDText(p, Options{MaxLineBytes: 64 << 10, SkipBad: true})
	require.NoError(t, err)
	defer r.Close()
	var got []string
	for r.Next() {
		got = append(got, r.Record().ID)
	}
	require.NoError(t, r.Err())
	assert.Equal(t, []string{"a", "c"}, got)
	assert.Equal(t, 1, r.Skipped())
}

// Opening a FIFO nobody writes to blocked for ever; with a context it ends when the context is cancelled.
func TestReaderOpenOfFIFOIsCancellable(t *testing.T) {
	p := canceltest.FIFO(t, "fifo.tsv")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	canceltest.Within(t, 10*time.Second, func() {
		_, err := OpenDualTrain(p, Options{Context: ctx})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), p)
	})
}

// A read of a FIFO whose writer stays silent blocked for ever; with a context, Next returns false and Err the
// context's error.
func TestReaderBlockedReadIsCancellable(t *testing.T) {
	p := canceltest.FIFO(t, "fifo.tsv")
	go func() {
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		w.WriteString("q\tt\tp\tt2\tp2\t0\n")
		time.Sleep(3 * time.Second) // keep the write end open, silent
		w.Close()
	}()
	ctx, cancel := context.WithCancel(context.Background())
	canceltest.Within(t, 10*time.Second, func() {
		r, err := OpenDualTrain(p, Options{Context: ctx})
		require.NoError(t, err)
		defer r.Close()
		require.True(t, r.Next(), "%v", r.Err())
		time.AfterFunc(200*time.Millisecond, cancel)
		t0 := time.Now()
		assert.False(t, r.Next())
		assert.Less(t, time.Since(t0), 2*time.Second)
		require.ErrorIs(t, r.Err(), context.Canceled)
		assert.Contains(t, r.Err().Error(), p+":2:")
	})
}

// A cancelled context stops a reader between lines of a regular file.
func TestReaderStopsOnCancelledContext(t *testing.T) {
	var s []byte
	for i := 0; i < 5000; i++ {
		s = append(s, "q\tp\n"...)
	}
	p := writeFile(t, "ids.tsv", string(s))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := OpenIDText(p, Options{Context: ctx})
	require.NoError(t, err)
	defer r.Close()
	n := 0
	for r.Next() {
		n++
		if n == 10 {
			cancel()
		}
	}
	require.ErrorIs(t, r.Err(), context.Canceled)
	assert.Less(t, n, 5000)
}

// Duplicate pids in passage2id.map.json were accepted, and the pid came back at two ranks.
func TestPassageIDMapRefusesDuplicatePID(t *testing.T) {
	p := writeFile(t, "passage2id.map.json", `{"0": "a", "1": "b", "2": "c", "3": "b"}`)
	_, err := ReadPassageIDMap(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), p)
	assert.Contains(t, err.Error(), `pid "b"`)
	assert.Contains(t, err.Error(), "row 1")
	assert.Contains(t, err.Error(), "row 3")
}

// One BOM rule: JSON objects with a BOM read like those without (they failed with "invalid character").
func TestObjectReadersDropBOM(t *testing.T) {
	p := writeFile(t, "passage2id.map.json", "\ufeff{\"0\": \"a\",\n\"x\": \"b\"}")
	_, err := ReadPassageIDMap(p)
	le := lineErr(t, err)
	assert.Equal(t, 2, le.Line) // the BOM does not shift line numbers
	p = writeFile(t, "q2qid.dev.json", "\ufeff{\"query\": \"q1\"}")
	qs, err := ReadQ2QID(p)
	require.NoError(t, err)
	assert.Equal(t, []QueryID{{Query: "query", QID: "q1"}}, qs)
	p = writeFile(t, "ids.tsv", "\ufeffq1\tx\n")
	recs, err := ReadIDText(p)
	require.NoError(t, err)
	assert.Equal(t, "q1", recs[0].ID)
}

func TestFirstDuplicate(t *testing.T) {
	_, _, ok := FirstDuplicate([]string{"a", "b", "c"})
	assert.False(t, ok)
	i, j, ok := FirstDuplicate([]string{"x", "a", "b", "a", "b", "x"})
	require.True(t, ok)
	assert.Equal(t, [2]int{1, 3}, [2]int{i, j})
	_, _, ok = FirstDuplicate(nil)
	assert.False(t, ok)
}

func TestAtomicFileMode(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	p := filepath.Join(t.TempDir(), "x.txt")
	require.NoError(t, WriteFileAtomic(p, func(w *AtomicFile) error { _, err := w.WriteString("x"); return err }))
	st, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, FileMode, st.Mode().Perm())
}

// A failed write is sticky (Write and WriteString return it, Commit returns it and leaves no file), and a write
// after Commit is refused.
func TestAtomicFileWriteErrors(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.txt")
	a, err := CreateAtomic(p)
	require.NoError(t, err)
	tmp := a.tmp.Name()
	require.NoError(t, a.tmp.Close()) // the next write that reaches the file fails
	_, err = a.Write(make([]byte, 1<<20))
	require.ErrorIs(t, err, os.ErrClosed)
	_, err2 := a.WriteString("x")
	require.Equal(t, err, err2)
	_, err2 = a.Write([]byte("x"))
	require.Equal(t, err, err2)
	require.Equal(t, err, a.Commit())
	require.NoFileExists(t, p)
	require.NoFileExists(t, tmp)

	a, err = CreateAtomic(p)
	require.NoError(t, err)
	_, err = a.WriteString("x")
	require.NoError(t, err)
	require.NoError(t, a.Commit())
	_, err = a.Write([]byte("y"))
	require.EqualError(t, err, p+": write after close")
	_, err = a.WriteString("y")
	require.EqualError(t, err, p+": write after close")
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "x", string(b))
}
