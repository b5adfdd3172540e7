package retrieval

/*
#cgo CXXFLAGS: -O2 -g0 -std=c++17 -fopenmp
#cgo LDFLAGS: -lfaiss -lblas -llapack -lgomp -lstdc++ -lm -ldl
#include <stdlib.h>
#include "faiss_shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"unsafe"

	"github.com/rocketqa-go/rocketqa/dataset"
)

// Metric is the similarity an index ranks by.
type Metric int

const (
	// InnerProduct ranks by dot product, larger is better (FAISS METRIC_INNER_PRODUCT). It is the default and
	// what RocketQA's dual encoders are trained for.
	InnerProduct Metric = iota
	// L2 ranks by squared Euclidean distance, smaller is better (FAISS METRIC_L2).
	L2
)

// String returns "IP" or "L2".
func (m Metric) String() string {
	switch m {
	case InnerProduct:
		return "IP"
	case L2:
		return "L2"
	}
	return fmt.Sprintf("Metric(%d)", int(m))
}

// Better reports whether score a ranks before score b under the metric.
func (m Metric) Better(a, b float32) bool {
	if m == L2 {
		return a < b
	}
	return a > b
}

// ErrClosed is returned by methods of an Index or ShardedIndex after Close.
var ErrClosed = errors.New("retrieval: index is closed")

// Index is a FAISS index (any faiss::Index built by index_factory or read from a file) owned by Go.
//
// Concurrency: FAISS allows any number of concurrent searches on a CPU index as long as nothing modifies it
// at the same time. Index enforces this with a read-write lock: Search, WriteFile and the read-only getters
// may run from many goroutines at once, while Train, Add, Reserve, SetParam and Close wait for exclusive
// access.
// Each FAISS search already runs on up to NumThreads() OpenMP threads, so concurrent searches from many
// goroutines oversubscribe the cores; prefer one search with a large batch of queries.
//
// The C++ index is freed by Close, never by a finalizer; Close is safe to call more than once.
type Index struct {
	mu  sync.RWMutex
	ptr *C.rq_index
	dim int
}

func cErr(p *C.char, what string) error {
	if p == nil {
		return nil
	}
	msg := C.GoString(p)
	C.free(unsafe.Pointer(p))
	return fmt.Errorf("retrieval: %s: faiss: %s", what, msg)
}

// NewIndex creates an empty index of dimension dim. factory "" or "Flat" gives an exact IndexFlatIP (or
// IndexFlatL2 with metric L2); any other string goes to faiss::index_factory, for example "IVF64,Flat",
// "HNSW32", "IVF16,PQ8np", "SQ8" or "OPQ16,IVF256,PQ16np". Indexes that need training report IsTrained()
// false until Train is called. Note that index_factory turns on polysemous training for a plain "PQm" or
// "IVFn,PQm", which costs minutes even on small training sets and only helps Hamming-filtered search;
// append "np" ("IVF1024,PQ64np") to skip it.
func NewIndex(dim int, factory string, metric Metric) (*Index, error) {
	if dim <= 0 || dim > math.MaxInt32 {
		return nil, fmt.Errorf("retrieval: NewIndex: dimension %d must be positive", dim)
	}
	if metric != InnerProduct && metric != L2 {
		return nil, fmt.Errorf("retrieval: NewIndex: unknown metric %d", int(metric))
	}
	cf := C.CString(factory)
	defer C.free(unsafe.Pointer(cf))
	var p *C.rq_index
	if err := cErr(C.rq_index_new(C.int(dim), cf, C.int(metric), &p), fmt.Sprintf("NewIndex(%d, %q, %v)", dim, factory, metric)); err != nil {
		return nil, err
	}
	return &Index{ptr: p, dim: dim}, nil
}

// ReadIndex reads an index written by WriteFile or by FAISS itself (Python faiss.write_index, any version
// whose format FAISS 1.7.3 reads). Corrupt or truncated files give an error naming the file.
func ReadIndex(path string) (*Index, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("retrieval: ReadIndex: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("retrieval: ReadIndex %s: not a regular file", path)
	}
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	var p *C.rq_index
	if err := cErr(C.rq_index_read(cp, &p), "ReadIndex "+path); err != nil {
		return nil, err
	}
	return &Index{ptr: p, dim: int(C.rq_index_dim(p))}, nil
}

// Close frees the C++ index. It is safe to call more than once; later calls return nil.
func (ix *Index) Close() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.ptr != nil {
		C.rq_index_free(ix.ptr)
		ix.ptr = nil
	}
	return nil
}

// Dim returns the vector dimension.
func (ix *Index) Dim() int { return ix.dim }

// Ntotal returns the number of vectors in the index (0 after Close).
func (ix *Index) Ntotal() int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.ptr == nil {
		return 0
	}
	return int64(C.rq_index_ntotal(ix.ptr))
}

// IsTrained reports whether the index is ready for Add (always true for flat and HNSW indexes).
func (ix *Index) IsTrained() bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.ptr != nil && C.rq_index_is_trained(ix.ptr) != 0
}

// Metric returns the metric the index ranks by.
func (ix *Index) Metric() Metric {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.ptr == nil {
		return InnerProduct
	}
	return Metric(C.rq_index_metric(ix.ptr))
}

// NList returns the number of inverted lists of an IVF index, and 0 for any other index.
func (ix *Index) NList() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.ptr == nil {
		return 0
	}
	return int(C.rq_index_ivf_nlist(ix.ptr))
}

// rows checks that vecs holds whole rows of the index dimension and returns their number.
func (ix *Index) rows(op string, vecs []float32) (int, error) {
	if len(vecs)%ix.dim != 0 {
		return 0, fmt.Errorf("retrieval: %s: got %d floats, not a multiple of dimension %d", op, len(vecs), ix.dim)
	}
	return len(vecs) / ix.dim, nil
}

// Train trains the index (IVF coarse quantizer, PQ/SQ codebooks) on n row-major vectors, vecs of length
// n*Dim(). FAISS needs enough points: at least nlist for IVF and 256 (2^nbits) for PQ.
func (ix *Index) Train(vecs []float32) error {
	n, err := ix.rows("Train", vecs)
	if err != nil {
		return err
	}
	if n == 0 {
		return errors.New("retrieval: Train: no training vectors")
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.ptr == nil {
		return ErrClosed
	}
	return cErr(C.rq_index_train(ix.ptr, C.int64_t(n), (*C.float)(unsafe.Pointer(&vecs[0]))), "Train")
}

// addBatchRows bounds the rows handed to FAISS in one add call, which bounds FAISS's temporary buffers
// (IVF assignment, PQ codes) for very large inputs.
const addBatchRows = 1 << 16

// Add appends row-major vectors (length a multiple of Dim()) to the index; their ids are the next
// Ntotal() row numbers. Indexes that need training must be trained first.
func (ix *Index) Add(vecs []float32) error {
	n, err := ix.rows("Add", vecs)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.ptr == nil {
		return ErrClosed
	}
	for start := 0; start < n; start += addBatchRows {
		end := min(n, start+addBatchRows)
		chunk := vecs[start*ix.dim : end*ix.dim]
		if err := cErr(C.rq_index_add(ix.ptr, C.int64_t(end-start), (*C.float)(unsafe.Pointer(&chunk[0]))), "Add"); err != nil {
			return err
		}
	}
	return nil
}

// Reserve pre-allocates storage for n vectors in total in indexes that store flat codes (IndexFlat,
// IndexScalarQuantizer, IndexPQ), so that filling an index of known size does not grow its buffer
// step by step, which holds the old and new buffers at once and can double peak memory. It reports
// whether the index type supports it; for others it does nothing.
func (ix *Index) Reserve(n int64) (bool, error) {
	if n < 0 {
		return false, fmt.Errorf("retrieval: Reserve(%d): negative size", n)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.ptr == nil {
		return false, ErrClosed
	}
	var applied C.int
	if err := cErr(C.rq_index_reserve(ix.ptr, C.int64_t(n), &applied), fmt.Sprintf("Reserve(%d)", n)); err != nil {
		return false, err
	}
	return applied != 0, nil
}

// SetParam sets a search-time parameter through faiss::ParameterSpace: "nprobe" for IVF indexes,
// "efSearch" for HNSW, and the other names ParameterSpace knows ("ht", "k_factor", "quantizer_efSearch").
// Unknown names, or names that do not apply to this index, give an error, as do a value that is not finite and an
// nprobe, efSearch or quantizer_efSearch that is not a whole number from 1 to MaxInt32 (FAISS would truncate it,
// fail every search with nprobe 0, or return a single hit per query with efSearch 0).
func (ix *Index) SetParam(name string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("retrieval: SetParam(%q, %g): the value must be finite", name, v)
	}
	switch name {
	case "nprobe", "efSearch", "quantizer_efSearch":
		if v < 1 || v > math.MaxInt32 || v != math.Trunc(v) {
			return fmt.Errorf("retrieval: SetParam(%q, %g): want a whole number from 1 to %d", name, v, math.MaxInt32)
		}
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.ptr == nil {
		return ErrClosed
	}
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	return cErr(C.rq_index_set_param(ix.ptr, cn, C.double(v)), fmt.Sprintf("SetParam(%q, %g)", name, v))
}

// Search returns the k best rows for each of the n row-major queries: scores and ids are n*k, row by row,
// best first (largest inner product, or smallest L2 distance). Where fewer than k vectors are found, ids
// are -1 and scores are FAISS's sentinels (-MaxFloat32 for inner product, +MaxFloat32 for L2).
func (ix *Index) Search(queries []float32, k int) (scores []float32, ids []int64, err error) {
	n, err := ix.rows("Search", queries)
	if err != nil {
		return nil, nil, err
	}
	if k <= 0 {
		return nil, nil, fmt.Errorf("retrieval: Search: k = %d must be positive", k)
	}
	if n == 0 {
		return []float32{}, []int64{}, nil
	}
	if n > math.MaxInt/k {
		return nil, nil, fmt.Errorf("retrieval: Search: %d queries x k %d overflows", n, k)
	}
	scores = make([]float32, n*k)
	ids = make([]int64, n*k)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.ptr == nil {
		return nil, nil, ErrClosed
	}
	if C.rq_index_is_trained(ix.ptr) == 0 {
		return nil, nil, errors.New("retrieval: Search: index is not trained")
	}
	if err := cErr(C.rq_index_search(ix.ptr, C.int64_t(n), (*C.float)(unsafe.Pointer(&queries[0])), C.int64_t(k),
		(*C.float)(unsafe.Pointer(&scores[0])), (*C.int64_t)(unsafe.Pointer(&ids[0]))), "Search"); err != nil {
		return nil, nil, err
	}
	return scores, ids, nil
}

// WriteFile writes the index with faiss::write_index to a temporary file beside path and renames it into
// place, so path never holds a partial index. Python's faiss.read_index reads the result.
func (ix *Index) WriteFile(path string) error {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.ptr == nil {
		return ErrClosed
	}
	return atomicWrite(path, func(tmp string) error {
		cp := C.CString(tmp)
		defer C.free(unsafe.Pointer(cp))
		return cErr(C.rq_index_write(ix.ptr, cp), "WriteFile "+path)
	})
}

// atomicWrite calls write with the name of a fresh temporary file in path's directory, then syncs it and renames
// it to path through dataset.CommitTempName (the module's one atomic writer: mode dataset.FileMode). On any error
// the temporary file is removed and path is left as it was.
func atomicWrite(path string, write func(tmp string) error) error {
	f, err := dataset.CreateTemp(path)
	if err != nil {
		return fmt.Errorf("retrieval: %w", err)
	}
	tmp := f.Name()
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("retrieval: %w", err)
	}
	if err := write(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := dataset.CommitTempName(tmp, path); err != nil {
		return fmt.Errorf("retrieval: %w", err)
	}
	return nil
}

// SetNumThreads sets how many OpenMP threads FAISS uses for every later call from Go, whichever OS thread
// the call runs on (omp_set_num_threads alone only affects the calling thread, and Go moves goroutines
// between threads). It also sizes OpenBLAS's own pool when OpenBLAS is the pthreads build; the OpenMP build
// follows the OpenMP setting. n <= 0 stops forcing a count: threads not yet set keep OpenMP's default
// (OMP_NUM_THREADS, else the number of cores).
func SetNumThreads(n int) {
	C.rq_set_num_threads(C.int(n))
}

// NumThreads returns the OpenMP thread count FAISS calls use.
func NumThreads() int {
	return int(C.rq_get_num_threads())
}

// BLASInfo describes the BLAS library FAISS is linked against at run time: its path, OpenBLAS's build
// configuration, detected core and threading model when it is OpenBLAS, OPENBLAS_CORETYPE and the OpenMP
// thread count. Benchmarks print it; OpenBLAS 0.3.21 misdetects some CPUs unless OPENBLAS_CORETYPE is set
// in the environment before the process starts.
func BLASInfo() string {
	p := C.rq_blas_info()
	if p == nil {
		return "unknown"
	}
	defer C.free(unsafe.Pointer(p))
	return C.GoString(p)
}
