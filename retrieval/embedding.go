package retrieval

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"strings"

	"github.com/rocketqa-go/rocketqa/dataset"
)

// DType is the element type of vectors stored in an embedding shard file.
type DType uint32

const (
	// Float32 stores IEEE 754 binary32 values (4 bytes each).
	Float32 DType = 1
	// Float16 stores IEEE 754 binary16 values (2 bytes each), rounded to nearest even on write and widened
	// to float32 on read. It halves disk use; values beyond ±65504 are rejected.
	Float16 DType = 2
)

// String returns "float32" or "float16".
func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float16:
		return "float16"
	}
	return fmt.Sprintf("DType(%d)", uint32(d))
}

// Size returns the number of bytes of one element, or 0 for an unknown type.
func (d DType) Size() int {
	switch d {
	case Float32:
		return 4
	case Float16:
		return 2
	}
	return 0
}

// Layout of an embedding shard file; see the package documentation.
const (
	embMagic      = "RQAEMB\x00\n"
	embVersion    = 1
	embHeaderSize = 64
)

var errBadID = errors.New("passage id must be non-empty and contain no tab, newline or carriage return")

// checkID validates a passage or query id for the tab- and newline-separated files of this package.
func checkID(id string) error {
	if id == "" || strings.ContainsAny(id, "\t\n\r") {
		return errBadID
	}
	return nil
}

type embHeader struct {
	dtype    DType
	dim      int
	count    int64
	idsOff   int64
	idsLen   int64
	vecCRC   uint32
	idsCRC   uint32
	fileSize int64
}

func (h *embHeader) marshal() []byte {
	b := make([]byte, embHeaderSize)
	copy(b, embMagic)
	le := binary.LittleEndian
	le.PutUint32(b[8:], embVersion)
	le.PutUint32(b[12:], uint32(h.dtype))
	le.PutUint32(b[16:], uint32(h.dim))
	le.PutUint32(b[20:], embHeaderSize)
	le.PutUint64(b[24:], uint64(h.count))
	le.PutUint64(b[32:], uint64(h.idsOff))
	le.PutUint64(b[40:], uint64(h.idsLen))
	le.PutUint32(b[48:], h.vecCRC)
	le.PutUint32(b[52:], h.idsCRC)
	return b
}

// parseEmbHeader decodes and validates a header against the size of the file it came from.
func parseEmbHeader(path string, b []byte, fileSize int64) (*embHeader, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("retrieval: embedding file %s: %s", path, fmt.Sprintf(format, a...))
	}
	if len(b) < embHeaderSize {
		return nil, bad("%d bytes, shorter than the %d-byte header", len(b), embHeaderSize)
	}
	if string(b[:8]) != embMagic {
		return nil, bad("bad magic %q, not an embedding shard", b[:8])
	}
	le := binary.LittleEndian
	if v := le.Uint32(b[8:]); v != embVersion {
		return nil, bad("unsupported version %d (want %d)", v, embVersion)
	}
	if hs := le.Uint32(b[20:]); hs != embHeaderSize {
		return nil, bad("header size %d, want %d", hs, embHeaderSize)
	}
	h := &embHeader{
		dtype:    DType(le.Uint32(b[12:])),
		vecCRC:   le.Uint32(b[48:]),
		idsCRC:   le.Uint32(b[52:]),
		fileSize: fileSize,
	}
	if h.dtype.Size() == 0 {
		return nil, bad("unknown dtype %d", uint32(h.dtype))
	}
	dim := le.Uint32(b[16:])
	if dim == 0 || dim > 1<<20 {
		return nil, bad("dimension %d out of range", dim)
	}
	h.dim = int(dim)
	count, idsOff, idsLen := le.Uint64(b[24:]), le.Uint64(b[32:]), le.Uint64(b[40:])
	rowBytes := uint64(h.dim) * uint64(h.dtype.Size())
	if count > uint64(fileSize)/rowBytes {
		return nil, bad("header claims %d rows of %d bytes, more than the file's %d bytes", count, rowBytes, fileSize)
	}
	if want := embHeaderSize + count*rowBytes; idsOff != want {
		return nil, bad("ids section at offset %d, want %d for %d x %d %v rows", idsOff, want, count, h.dim, h.dtype)
	}
	if idsLen > uint64(fileSize) || idsOff+idsLen != uint64(fileSize) {
		return nil, bad("ids section [%d, +%d) does not end at the file size %d (truncated or padded)", idsOff, idsLen, fileSize)
	}
	if idsLen < 2*count {
		return nil, bad("ids section of %d bytes cannot hold %d ids", idsLen, count)
	}
	h.count, h.idsOff, h.idsLen = int64(count), int64(idsOff), int64(idsLen)
	return h, nil
}

// EmbeddingWriter writes an embedding shard file in one streaming pass. Vectors go straight to a temporary
// file beside the target; passage ids are buffered in memory (a few bytes each) and appended at Close, which
// then fills in the header, syncs and renames the file into place. Until Close succeeds the target path is
// untouched. An EmbeddingWriter is not safe for concurrent use.
type EmbeddingWriter struct {
	path   string
	f      *os.File
	bw     *bufio.Writer
	dim    int
	dtype  DType
	count  int64
	ids    []byte
	vecCRC hash.Hash32
	buf    []byte
	err    error // sticky I/O error
	done   bool
}

// NewEmbeddingWriter starts a shard file at path for vectors of dimension dim stored as dtype.
func NewEmbeddingWriter(path string, dim int, dtype DType) (*EmbeddingWriter, error) {
	if dim <= 0 || dim > 1<<20 {
		return nil, fmt.Errorf("retrieval: NewEmbeddingWriter %s: dimension %d out of range", path, dim)
	}
	if dtype.Size() == 0 {
		return nil, fmt.Errorf("retrieval: NewEmbeddingWriter %s: unknown dtype %v", path, dtype)
	}
	f, err := dataset.CreateTemp(path)
	if err != nil {
		return nil, fmt.Errorf("retrieval: NewEmbeddingWriter: %w", err)
	}
	w := &EmbeddingWriter{
		path:   path,
		f:      f,
		bw:     bufio.NewWriterSize(f, 1<<20),
		dim:    dim,
		dtype:  dtype,
		vecCRC: crc32.NewIEEE(),
	}
	// Placeholder header, rewritten by Close.
	if _, err := w.bw.Write(make([]byte, embHeaderSize)); err != nil {
		w.Abort()
		return nil, fmt.Errorf("retrieval: NewEmbeddingWriter: %w", err)
	}
	return w, nil
}

// Dim returns the vector dimension.
func (w *EmbeddingWriter) Dim() int { return w.dim }

// Count returns the number of rows appended so far.
func (w *EmbeddingWriter) Count() int64 { return w.count }

// Append adds len(ids) rows; vecs holds them row-major (length len(ids)*Dim()). Ids must be non-empty and
// free of tabs and newlines; vectors must be finite (and within ±65504 for Float16). A rejected batch writes
// nothing and leaves the writer usable; an I/O error makes every later call fail.
func (w *EmbeddingWriter) Append(ids []string, vecs []float32) error {
	if w.done {
		return fmt.Errorf("retrieval: EmbeddingWriter %s: Append after Close", w.path)
	}
	if w.err != nil {
		return w.err
	}
	if len(vecs) != len(ids)*w.dim {
		return fmt.Errorf("retrieval: EmbeddingWriter %s: %d ids need %d x %d = %d floats, got %d",
			w.path, len(ids), len(ids), w.dim, len(ids)*w.dim, len(vecs))
	}
	for i, id := range ids {
		if err := checkID(id); err != nil {
			return fmt.Errorf("retrieval: EmbeddingWriter %s: row %d id %q: %w", w.path, w.count+int64(i), id, err)
		}
	}
	for i, v := range vecs {
		bad := math.IsNaN(float64(v)) || math.IsInf(float64(v), 0)
		if !bad && w.dtype == Float16 {
			bad = f16Overflows(v)
		}
		if bad {
			return fmt.Errorf("retrieval: EmbeddingWriter %s: row %d column %d: value %v cannot be stored as %v",
				w.path, w.count+int64(i/w.dim), i%w.dim, v, w.dtype)
		}
	}
	es := w.dtype.Size()
	const chunk = 1 << 16 // floats encoded per write
	for start := 0; start < len(vecs); start += chunk {
		part := vecs[start:min(len(vecs), start+chunk)]
		need := len(part) * es
		if cap(w.buf) < need {
			w.buf = make([]byte, need)
		}
		b := w.buf[:need]
		if w.dtype == Float32 {
			for i, v := range part {
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
			}
		} else {
			for i, v := range part {
				binary.LittleEndian.PutUint16(b[2*i:], Float32ToFloat16(v))
			}
		}
		w.vecCRC.Write(b)
		if _, err := w.bw.Write(b); err != nil {
			w.err = fmt.Errorf("retrieval: EmbeddingWriter %s: %w", w.path, err)
			return w.err
		}
	}
	for _, id := range ids {
		w.ids = append(w.ids, id...)
		w.ids = append(w.ids, '\n')
	}
	w.count += int64(len(ids))
	return nil
}

// Close appends the ids section, writes the header, syncs and renames the file to its final path. It is
// safe to call more than once; after a failed Close (or an I/O error in Append) the temporary file is
// removed and the target path is left as it was.
func (w *EmbeddingWriter) Close() error {
	if w.done {
		return w.err
	}
	w.done = true
	if w.err != nil {
		w.discard()
		return w.err
	}
	fail := func(err error) error {
		w.err = fmt.Errorf("retrieval: EmbeddingWriter %s: %w", w.path, err)
		w.discard()
		return w.err
	}
	if _, err := w.bw.Write(w.ids); err != nil {
		return fail(err)
	}
	if err := w.bw.Flush(); err != nil {
		return fail(err)
	}
	h := embHeader{
		dtype:  w.dtype,
		dim:    w.dim,
		count:  w.count,
		idsOff: embHeaderSize + w.count*int64(w.dim)*int64(w.dtype.Size()),
		idsLen: int64(len(w.ids)),
		vecCRC: w.vecCRC.Sum32(),
		idsCRC: crc32.ChecksumIEEE(w.ids),
	}
	if _, err := w.f.WriteAt(h.marshal(), 0); err != nil {
		return fail(err)
	}
	if err := dataset.CommitTemp(w.f, w.path); err != nil {
		w.err = fmt.Errorf("retrieval: EmbeddingWriter: %w", err)
		w.ids = nil
		return w.err
	}
	w.ids = nil
	return nil
}

// Abort discards everything written so far without touching the target path. Close after Abort is a no-op.
func (w *EmbeddingWriter) Abort() error {
	if !w.done {
		w.done = true
		w.discard()
	}
	return nil
}

func (w *EmbeddingWriter) discard() {
	w.f.Close()
	os.Remove(w.f.Name())
	w.ids = nil
}

// EmbeddingReader reads an embedding shard file as a stream of batches (Next) without loading it whole, and
// rows at random (ReadRow). Next verifies both section checksums when it reaches the end, so a corrupt file is
// reported (by the final Next call) before a caller that stops at io.EOF uses the result. An EmbeddingReader is
// not safe for concurrent use.
type EmbeddingReader struct {
	path   string
	f      *os.File
	h      *embHeader
	vr     *bufio.Reader
	ir     *bufio.Reader
	row    int64
	vecCRC hash.Hash32
	idsCRC hash.Hash32
	buf    []byte
	done   bool
}

// OpenEmbeddingReader opens a shard file and validates its header against the file size.
func OpenEmbeddingReader(path string) (*EmbeddingReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("retrieval: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("retrieval: %w", err)
	}
	hb := make([]byte, embHeaderSize)
	n, err := io.ReadFull(f, hb)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, fmt.Errorf("retrieval: %w", err)
	}
	h, err := parseEmbHeader(path, hb[:n], st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	idsCRC := crc32.NewIEEE()
	return &EmbeddingReader{
		path:   path,
		f:      f,
		h:      h,
		vr:     bufio.NewReaderSize(io.NewSectionReader(f, embHeaderSize, h.idsOff-embHeaderSize), 1<<20),
		ir:     bufio.NewReaderSize(io.TeeReader(io.NewSectionReader(f, h.idsOff, h.idsLen), idsCRC), 1<<16),
		vecCRC: crc32.NewIEEE(),
		idsCRC: idsCRC,
	}, nil
}

// Path returns the file name.
func (r *EmbeddingReader) Path() string { return r.path }

// Dim returns the vector dimension.
func (r *EmbeddingReader) Dim() int { return r.h.dim }

// Count returns the number of rows in the file.
func (r *EmbeddingReader) Count() int64 { return r.h.count }

// DType returns the stored element type.
func (r *EmbeddingReader) DType() DType { return r.h.dtype }

// Next returns up to maxRows further rows: their ids and their vectors (row-major float32, widened from
// float16 if need be). At the end of the file it verifies the checksums and returns io.EOF, or an error
// naming the file if either section is corrupt.
func (r *EmbeddingReader) Next(maxRows int) (ids []string, vecs []float32, err error) {
	if r.f == nil {
		return nil, nil, fmt.Errorf("retrieval: embedding file %s: read after Close", r.path)
	}
	if maxRows <= 0 {
		return nil, nil, fmt.Errorf("retrieval: embedding file %s: Next(%d): batch size must be positive", r.path, maxRows)
	}
	if r.row >= r.h.count {
		if err := r.finish(); err != nil {
			return nil, nil, err
		}
		return nil, nil, io.EOF
	}
	n := int(min(int64(maxRows), r.h.count-r.row))
	es := r.h.dtype.Size()
	need := n * r.h.dim * es
	if cap(r.buf) < need {
		r.buf = make([]byte, need)
	}
	b := r.buf[:need]
	if _, err := io.ReadFull(r.vr, b); err != nil {
		return nil, nil, fmt.Errorf("retrieval: embedding file %s: reading rows %d..%d: %w", r.path, r.row, r.row+int64(n), err)
	}
	r.vecCRC.Write(b)
	vecs = decodeVectors(b, r.h.dtype, n*r.h.dim)
	ids = make([]string, n)
	for i := range ids {
		line, err := r.ir.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, nil, fmt.Errorf("retrieval: embedding file %s: ids section ends at row %d of %d", r.path, r.row+int64(i), r.h.count)
			}
			return nil, nil, fmt.Errorf("retrieval: embedding file %s: %w", r.path, err)
		}
		id := line[:len(line)-1]
		if err := checkID(id); err != nil {
			return nil, nil, fmt.Errorf("retrieval: embedding file %s: id of row %d (%q): %w", r.path, r.row+int64(i), id, err)
		}
		ids[i] = id
	}
	r.row += int64(n)
	return ids, vecs, nil
}

// finish checks that both sections were consumed exactly and match their checksums.
func (r *EmbeddingReader) finish() error {
	if r.done {
		return nil
	}
	if _, err := r.ir.ReadByte(); err == nil {
		return fmt.Errorf("retrieval: embedding file %s: ids section holds more than %d ids", r.path, r.h.count)
	}
	if got := r.vecCRC.Sum32(); got != r.h.vecCRC {
		return fmt.Errorf("retrieval: embedding file %s: vector section checksum %08x, header says %08x (file corrupt)", r.path, got, r.h.vecCRC)
	}
	if got := r.idsCRC.Sum32(); got != r.h.idsCRC {
		return fmt.Errorf("retrieval: embedding file %s: ids section checksum %08x, header says %08x (file corrupt)", r.path, got, r.h.idsCRC)
	}
	r.done = true
	return nil
}

// ReadRow reads row i into dst (length Dim()) by random access. It does not verify checksums.
func (r *EmbeddingReader) ReadRow(i int64, dst []float32) error {
	if r.f == nil {
		return fmt.Errorf("retrieval: embedding file %s: read after Close", r.path)
	}
	if i < 0 || i >= r.h.count {
		return fmt.Errorf("retrieval: embedding file %s: row %d out of range [0, %d)", r.path, i, r.h.count)
	}
	if len(dst) != r.h.dim {
		return fmt.Errorf("retrieval: embedding file %s: ReadRow into %d floats, dimension is %d", r.path, len(dst), r.h.dim)
	}
	es := r.h.dtype.Size()
	b := make([]byte, r.h.dim*es)
	if _, err := r.f.ReadAt(b, embHeaderSize+i*int64(len(b))); err != nil {
		return fmt.Errorf("retrieval: embedding file %s: row %d: %w", r.path, i, err)
	}
	copy(dst, decodeVectors(b, r.h.dtype, r.h.dim))
	return nil
}

// Close closes the file. It is safe to call more than once.
func (r *EmbeddingReader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

func decodeVectors(b []byte, dt DType, n int) []float32 {
	out := make([]float32, n)
	if dt == Float32 {
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	} else {
		for i := range out {
			out[i] = Float16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	}
	return out
}

// ReadEmbeddings reads a whole shard file into memory: its ids and row-major vectors. Meant for small files
// and tests; stream large ones with OpenEmbeddingReader.
func ReadEmbeddings(path string) (ids []string, vecs []float32, err error) {
	r, err := OpenEmbeddingReader(path)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	ids = make([]string, 0, r.Count())
	vecs = make([]float32, 0, r.Count()*int64(r.Dim()))
	for {
		bi, bv, err := r.Next(1 << 14)
		if errors.Is(err, io.EOF) {
			return ids, vecs, nil
		}
		if err != nil {
			return nil, nil, err
		}
		ids = append(ids, bi...)
		vecs = append(vecs, bv...)
	}
}

// ReadEmbeddingIDs reads only the ids section of a shard file (verifying its checksum), for example to map
// index rows back to passage ids.
func ReadEmbeddingIDs(path string) ([]string, error) {
	r, err := OpenEmbeddingReader(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b := make([]byte, r.h.idsLen)
	if _, err := r.f.ReadAt(b, r.h.idsOff); err != nil {
		return nil, fmt.Errorf("retrieval: embedding file %s: ids section: %w", path, err)
	}
	if got := crc32.ChecksumIEEE(b); got != r.h.idsCRC {
		return nil, fmt.Errorf("retrieval: embedding file %s: ids section checksum %08x, header says %08x (file corrupt)", path, got, r.h.idsCRC)
	}
	return splitIDs(path, string(b), r.h.count)
}

// splitIDs splits a newline-terminated ids section into exactly count valid ids.
func splitIDs(path, s string, count int64) ([]string, error) {
	if len(s) > 0 && s[len(s)-1] != '\n' {
		return nil, fmt.Errorf("retrieval: embedding file %s: ids section does not end with a newline", path)
	}
	ids := make([]string, 0, count)
	for len(s) > 0 {
		j := strings.IndexByte(s, '\n')
		if int64(len(ids)) == count {
			return nil, fmt.Errorf("retrieval: embedding file %s: ids section holds more than %d ids", path, count)
		}
		if err := checkID(s[:j]); err != nil {
			return nil, fmt.Errorf("retrieval: embedding file %s: id of row %d (%q): %w", path, len(ids), s[:j], err)
		}
		ids = append(ids, s[:j])
		s = s[j+1:]
	}
	if int64(len(ids)) != count {
		return nil, fmt.Errorf("retrieval: embedding file %s: ids section holds %d ids, header says %d", path, len(ids), count)
	}
	return ids, nil
}
