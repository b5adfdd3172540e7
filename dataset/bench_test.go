package dataset

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// TestReadThroughput measures the passage-collection reader against a
// reference measured in the same run: bufio.Scanner plus strings.Split, the
// least a reader must do (no row bookkeeping, no long lines), with and without
// the UTF-8 check our reader makes. It prints MB/s and the time ratios
// (medians of 5 runs). Opt-in:
//
//	ROCKETQA_BENCH=1 go test -run ReadThroughput -v ./dataset/
func TestReadThroughput(t *testing.T) {
	if os.Getenv("ROCKETQA_BENCH") == "" {
		t.Skip("set ROCKETQA_BENCH=1 to run")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "part-00")
	f, err := os.Create(path)
	require.NoError(t, err)
	w := bufio.NewWriter(f)
	const lines = 100_000
	para := strings.Repeat("段落文本示例", 20) // 360 bytes, DuReader passages are a few hundred characters
	for i := 0; i < lines; i++ {
		fmt.Fprintf(w, "-\t\t%s %d\t0\n", para, i)
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())
	st, err := os.Stat(path)
	require.NoError(t, err)
	mb := float64(st.Size()) / 1e6

	reference := func(validate bool) int {
		f, err := os.Open(path)
		require.NoError(t, err)
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		n := 0
		for sc.Scan() {
			if validate && !utf8.Valid(sc.Bytes()) {
				continue
			}
			fs := strings.Split(sc.Text(), "\t")
			if len(fs) == 4 && fs[2] != "" {
				n++
			}
		}
		require.NoError(t, sc.Err())
		return n
	}
	ours := func() int {
		r, err := OpenCollection(dir)
		require.NoError(t, err)
		defer r.Close()
		n := 0
		for r.Next() {
			if r.Passage().Text != "" {
				n++
			}
		}
		require.NoError(t, r.Err())
		return n
	}
	median := func(fn func() int) time.Duration {
		var ds []time.Duration
		for i := 0; i < 5; i++ {
			start := time.Now()
			require.Equal(t, lines, fn())
			ds = append(ds, time.Since(start))
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2]
	}
	ref := median(func() int { return reference(false) })
	refUTF8 := median(func() int { return reference(true) })
	got := median(ours)
	t.Logf("file %.1f MB, %d lines", mb, lines)
	t.Logf("reference bufio.Scanner+Split:             %6.0f MB/s (%v)", mb/ref.Seconds(), ref)
	t.Logf("reference bufio.Scanner+Split+utf8.Valid:  %6.0f MB/s (%v)", mb/refUTF8.Seconds(), refUTF8)
	t.Logf("dataset.OpenCollection (validates UTF-8):  %6.0f MB/s (%v)", mb/got.Seconds(), got)
	t.Logf("time ratio ours/reference: %.2f without UTF-8 check in the reference, %.2f with it",
		got.Seconds()/ref.Seconds(), got.Seconds()/refUTF8.Seconds())
}
