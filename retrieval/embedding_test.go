package retrieval

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pidsN(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return ids
}

// writeShard writes ids and vecs to path in appends of the given batch size.
func writeShard(t *testing.T, path string, dim int, dt DType, ids []string, vecs []float32, batch int) {
	t.Helper()
	w, err := NewEmbeddingWriter(path, dim, dt)
	require.NoError(t, err)
	for s := 0; s < len(ids); s += batch {
		e := min(len(ids), s+batch)
		require.NoError(t, w.Append(ids[s:e], vecs[s*dim:e*dim]))
	}
	require.NoError(t, w.Close())
	require.NoError(t, w.Close(), "Close twice")
}

func TestEmbeddingRoundTripStreaming(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const dim, n = 20, 1003
	vecs := randVecs(rng, n, dim)
	ids := pidsN("doc-", n)
	ids[5] = "段落五"
	dir := t.TempDir()
	for _, dt := range []DType{Float32, Float16} {
		path := filepath.Join(dir, dt.String()+".emb")
		writeShard(t, path, dim, dt, ids, vecs, 97)
		st, err := os.Stat(path)
		require.NoError(t, err)
		idBytes := 0
		for _, id := range ids {
			idBytes += len(id) + 1
		}
		require.Equal(t, int64(64+n*dim*dt.Size()+idBytes), st.Size())

		r, err := OpenEmbeddingReader(path)
		require.NoError(t, err)
		assert.Equal(t, dim, r.Dim())
		assert.Equal(t, int64(n), r.Count())
		assert.Equal(t, dt, r.DType())
		var gotIDs []string
		var gotVecs []float32
		batches := 0
		for {
			bi, bv, err := r.Next(250)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			require.LessOrEqual(t, len(bi), 250)
			require.Len(t, bv, len(bi)*dim)
			gotIDs, gotVecs = append(gotIDs, bi...), append(gotVecs, bv...)
			batches++
		}
		assert.Equal(t, 5, batches) // 4 x 250 + 3
		_, _, err = r.Next(10)
		require.ErrorIs(t, err, io.EOF, "Next after the end keeps returning EOF")
		assert.Equal(t, ids, gotIDs)
		for i, v := range vecs {
			want := v
			if dt == Float16 {
				want = Float16ToFloat32(Float32ToFloat16(v))
				require.InDelta(t, v, want, math.Abs(float64(v))/1024+1e-7)
			}
			require.Equal(t, want, gotVecs[i], "element %d", i)
		}
		row := make([]float32, dim)
		require.NoError(t, r.ReadRow(777, row))
		assert.Equal(t, gotVecs[777*dim:778*dim], row)
		require.Error(t, r.ReadRow(n, row))
		require.Error(t, r.ReadRow(0, row[:3]))
		require.NoError(t, r.Close())
		require.NoError(t, r.Close(), "Close twice")
		_, _, err = r.Next(1)
		require.Error(t, err)

		gotIDs2, err := ReadEmbeddingIDs(path)
		require.NoError(t, err)
		assert.Equal(t, ids, gotIDs2)
		allIDs, allVecs, err := ReadEmbeddings(path)
		require.NoError(t, err)
		assert.Equal(t, ids, allIDs)
		assert.Equal(t, gotVecs, allVecs)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "no temporary files left")
}

func TestEmbeddingEmptyShard(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.emb")
	w, err := NewEmbeddingWriter(path, 8, Float32)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	ids, vecs, err := ReadEmbeddings(path)
	require.NoError(t, err)
	assert.Empty(t, ids)
	assert.Empty(t, vecs)
}

func TestEmbeddingWriterRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.emb")
	_, err := NewEmbeddingWriter(path, 0, Float32)
	require.Error(t, err)
	_, err = NewEmbeddingWriter(path, 4, DType(9))
	require.Error(t, err)
	_, err = NewEmbeddingWriter(filepath.Join(dir, "no", "such", "dir.emb"), 4, Float32)
	require.Error(t, err)

	w, err := NewEmbeddingWriter(path, 4, Float16)
	require.NoError(t, err)
	require.ErrorContains(t, w.Append([]string{"a", "b"}, make([]float32, 7)), "2 ids need 2 x 4 = 8 floats, got 7")
	require.ErrorContains(t, w.Append([]string{"a\tb"}, make([]float32, 4)), "row 0 id")
	require.ErrorContains(t, w.Append([]string{""}, make([]float32, 4)), "non-empty")
	require.ErrorContains(t, w.Append([]string{"a"}, []float32{0, float32(math.NaN()), 0, 0}), "row 0 column 1")
	require.ErrorContains(t, w.Append([]string{"a"}, []float32{0, 0, 70000, 0}), "cannot be stored as float16")
	require.NoError(t, w.Append([]string{"ok"}, []float32{1, 2, 3, 65504}), "the writer is still usable")
	require.Equal(t, int64(1), w.Count())
	require.NoError(t, w.Close())
	require.Error(t, w.Append([]string{"late"}, make([]float32, 4)))
	ids, vecs, err := ReadEmbeddings(path)
	require.NoError(t, err)
	assert.Equal(t, []string{"ok"}, ids)
	assert.Equal(t, []float32{1, 2, 3, 65504}, vecs)

	// Abort leaves nothing behind, not even over an existing file.
	w, err = NewEmbeddingWriter(path, 4, Float32)
	require.NoError(t, err)
	require.NoError(t, w.Append([]string{"new"}, make([]float32, 4)))
	require.NoError(t, w.Abort())
	require.NoError(t, w.Close())
	ids, _, err = ReadEmbeddings(path)
	require.NoError(t, err)
	assert.Equal(t, []string{"ok"}, ids)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

// corruptCopy writes a modified copy of src and returns its path.
func corruptCopy(t *testing.T, src string, f func(b []byte) []byte) string {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "corrupt.emb")
	require.NoError(t, os.WriteFile(p, f(append([]byte(nil), b...)), 0o644))
	return p
}

func TestEmbeddingReaderCorruptFiles(t *testing.T) {
	src := filepath.Join(t.TempDir(), "good.emb")
	rng := rand.New(rand.NewPCG(13, 14))
	writeShard(t, src, 8, Float32, pidsN("p", 50), randVecs(rng, 50, 8), 50)
	le := binary.LittleEndian
	idsOff := 64 + 50*8*4
	// Errors found when opening.
	openCases := map[string]func([]byte) []byte{
		"empty":          func(b []byte) []byte { return nil },
		"short header":   func(b []byte) []byte { return b[:40] },
		"bad magic":      func(b []byte) []byte { b[0] = 'X'; return b },
		"version":        func(b []byte) []byte { le.PutUint32(b[8:], 2); return b },
		"dtype":          func(b []byte) []byte { le.PutUint32(b[12:], 7); return b },
		"zero dim":       func(b []byte) []byte { le.PutUint32(b[16:], 0); return b },
		"header size":    func(b []byte) []byte { le.PutUint32(b[20:], 32); return b },
		"huge count":     func(b []byte) []byte { le.PutUint64(b[24:], 1<<60); return b },
		"count+1":        func(b []byte) []byte { le.PutUint64(b[24:], 51); return b },
		"truncated":      func(b []byte) []byte { return b[:len(b)-3] },
		"padded":         func(b []byte) []byte { return append(b, 0) },
		"ids offset off": func(b []byte) []byte { le.PutUint64(b[32:], uint64(idsOff+4)); return b },
	}
	for name, f := range openCases {
		p := corruptCopy(t, src, f)
		_, err := OpenEmbeddingReader(p)
		require.Error(t, err, name)
		require.Contains(t, err.Error(), p, name)
		_, _, err = ReadEmbeddings(p)
		require.Error(t, err, name)
	}
	// Errors found while streaming (checksums, id section contents).
	streamCases := map[string]func([]byte) []byte{
		"vector byte flipped": func(b []byte) []byte { b[100] ^= 0x40; return b },
		"id byte changed":     func(b []byte) []byte { b[idsOff+1] = 'q'; return b },
		"id newline removed":  func(b []byte) []byte { b[idsOff+2] = 'x'; return b },
		"tab in id":           func(b []byte) []byte { b[idsOff] = '\t'; return b },
		"vector checksum":     func(b []byte) []byte { le.PutUint32(b[48:], 1); return b },
		"ids checksum":        func(b []byte) []byte { le.PutUint32(b[52:], 1); return b },
	}
	for name, f := range streamCases {
		p := corruptCopy(t, src, f)
		r, err := OpenEmbeddingReader(p)
		require.NoError(t, err, name)
		var lastErr error
		for {
			_, _, err := r.Next(16)
			if err != nil {
				lastErr = err
				break
			}
		}
		r.Close()
		require.NotErrorIs(t, lastErr, io.EOF, name)
		require.Contains(t, lastErr.Error(), p, name)
		_, _, err = ReadEmbeddings(p)
		require.Error(t, err, name)
	}
	p := corruptCopy(t, src, streamCases["id byte changed"])
	_, err := ReadEmbeddingIDs(p)
	require.ErrorContains(t, err, "checksum")
	_, err = OpenEmbeddingReader(filepath.Join(t.TempDir(), "missing.emb"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
