package retrieval

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/rocketqa-go/rocketqa/dataset"
)

// BuildOptions tunes BuildIndex. The zero value builds an inner-product index with default sizes.
type BuildOptions struct {
	// Metric of the index (default InnerProduct).
	Metric Metric
	// TrainSize is how many rows are sampled (uniformly, without replacement, across all shards) to train
	// indexes that need training (IVF, PQ, SQ, OPQ). 0 means max(100000, 64*nlist), capped at the row count.
	// FAISS's k-means itself uses at most 256 points per centroid.
	TrainSize int
	// BatchSize is how many rows are read and added at a time (default 16384): peak memory beyond the
	// index itself is about BatchSize*dim*4 bytes.
	BatchSize int
	// Seed drives the training sample; the same seed and inputs give the same index.
	Seed uint64
	// Progress, if not nil, is called after every added batch with the rows added so far and the total.
	Progress func(done, total int64)
}

// BuildResult describes an index written by BuildIndex.
type BuildResult struct {
	Rows      int64  // vectors in the index
	Dim       int    // their dimension
	TrainRows int    // rows used for training (0 for indexes that need none)
	Index     string // path of the index file
	PIDs      string // path of the row -> passage id file
}

// PIDsPath returns the name of the passage id file that accompanies the index file indexPath.
func PIDsPath(indexPath string) string { return indexPath + ".pids" }

// BuildIndex builds one FAISS index over the rows of the given embedding shard files, in order, so that
// index row r is the r-th row of their concatenation. factory is as for NewIndex. Indexes that need training
// are trained first on a sample of opts.TrainSize rows read by random access; then every shard is streamed
// in batches of opts.BatchSize rows, so only the index and one batch are ever in memory. Both section
// checksums of every shard are verified before anything is written.
//
// It writes the index to out and the passage ids, one per line in row order, to PIDsPath(out); each is
// written atomically. ctx is checked between batches.
func BuildIndex(ctx context.Context, shards []string, factory string, out string, opts BuildOptions) (*BuildResult, error) {
	if len(shards) == 0 {
		return nil, errors.New("retrieval: BuildIndex: no shard files")
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1 << 14
	}
	if opts.TrainSize < 0 {
		return nil, fmt.Errorf("retrieval: BuildIndex: TrainSize %d is negative", opts.TrainSize)
	}
	// Validate every header before doing any work.
	dim := 0
	var total int64
	counts := make([]int64, len(shards))
	for i, p := range shards {
		r, err := OpenEmbeddingReader(p)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			dim = r.Dim()
		} else if r.Dim() != dim {
			r.Close()
			return nil, fmt.Errorf("retrieval: BuildIndex: %s has dimension %d, %s has %d", p, r.Dim(), shards[0], dim)
		}
		counts[i] = r.Count()
		total += r.Count()
		r.Close()
	}
	src, err := shardSums(shards)
	if err != nil {
		return nil, err
	}
	ix, err := NewIndex(dim, factory, opts.Metric)
	if err != nil {
		return nil, err
	}
	defer ix.Close()
	res := &BuildResult{Rows: total, Dim: dim, Index: out, PIDs: PIDsPath(out)}

	if !ix.IsTrained() {
		n := opts.TrainSize
		if n == 0 {
			n = max(100000, 64*ix.NList())
		}
		n = int(min(int64(n), total))
		if n == 0 {
			return nil, fmt.Errorf("retrieval: BuildIndex: index %q needs training but the shards hold no rows", factory)
		}
		sample, err := sampleRows(ctx, shards, counts, dim, n, opts.Seed)
		if err != nil {
			return nil, err
		}
		if err := ix.Train(sample); err != nil {
			return nil, err
		}
		res.TrainRows = n
	}

	if _, err := ix.Reserve(total); err != nil {
		return nil, err
	}
	// Stream all rows into the index and the pids into a temporary file.
	err = atomicWrite(res.PIDs, func(tmp string) error {
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return fmt.Errorf("retrieval: %w", err)
		}
		bw := bufio.NewWriterSize(f, 1<<20)
		var done int64
		for _, p := range shards {
			if err := addShard(ctx, ix, p, opts.BatchSize, bw, &done, total, opts.Progress); err != nil {
				f.Close()
				return err
			}
		}
		if err := bw.Flush(); err != nil {
			f.Close()
			return fmt.Errorf("retrieval: %s: %w", res.PIDs, err)
		}
		return f.Close()
	})
	if err != nil {
		return nil, err
	}
	if err := ix.WriteFile(out); err != nil {
		os.Remove(res.PIDs)
		return nil, err
	}
	if err := writeIndexMeta(out, total, dim, src, newBuildSettings(factory, opts)); err != nil {
		return nil, err
	}
	return res, nil
}

func addShard(ctx context.Context, ix *Index, path string, batch int, pids io.Writer, done *int64, total int64, progress func(int64, int64)) error {
	r, err := OpenEmbeddingReader(path)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ids, vecs, err := r.Next(batch)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := ix.Add(vecs); err != nil {
			return fmt.Errorf("%w (adding rows of %s)", err, path)
		}
		for _, id := range ids {
			if _, err := io.WriteString(pids, id+"\n"); err != nil {
				return fmt.Errorf("retrieval: writing pids: %w", err)
			}
		}
		*done += int64(len(ids))
		if progress != nil {
			progress(*done, total)
		}
	}
}

// sampleRows draws n of the rows of all shards uniformly without replacement (Knuth's selection sampling,
// which visits rows in order) and reads them by random access.
func sampleRows(ctx context.Context, shards []string, counts []int64, dim, n int, seed uint64) ([]float32, error) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	out := make([]float32, 0, n*dim)
	var seen int64
	var total int64
	for _, c := range counts {
		total += c
	}
	need := int64(n)
	for si, p := range shards {
		if need == 0 {
			break
		}
		r, err := OpenEmbeddingReader(p)
		if err != nil {
			return nil, err
		}
		row := make([]float32, dim)
		for i := int64(0); i < counts[si] && need > 0; i++ {
			if i&0xffff == 0 {
				if err := ctx.Err(); err != nil {
					r.Close()
					return nil, err
				}
			}
			if rng.Int64N(total-seen) < need {
				if err := r.ReadRow(i, row); err != nil {
					r.Close()
					return nil, err
				}
				out = append(out, row...)
				need--
			}
			seen++
		}
		r.Close()
	}
	return out, nil
}

// WritePIDs writes passage ids one per line, atomically.
func WritePIDs(path string, pids []string) error {
	for i, id := range pids {
		if err := checkID(id); err != nil {
			return fmt.Errorf("retrieval: WritePIDs %s: row %d id %q: %w", path, i, id, err)
		}
	}
	return atomicWrite(path, func(tmp string) error {
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return fmt.Errorf("retrieval: %w", err)
		}
		bw := bufio.NewWriterSize(f, 1<<20)
		for _, id := range pids {
			bw.WriteString(id)
			bw.WriteByte('\n')
		}
		if err := bw.Flush(); err != nil {
			f.Close()
			return fmt.Errorf("retrieval: WritePIDs %s: %w", path, err)
		}
		return f.Close()
	})
}

// ReadPIDs reads a passage id file (one id per line), giving file and line for a bad line.
func ReadPIDs(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("retrieval: %w", err)
	}
	s := string(dataset.StripBOM(b))
	if len(s) > 0 && s[len(s)-1] != '\n' {
		s += "\n"
	}
	pids := make([]string, 0, strings.Count(s, "\n"))
	for line := 1; len(s) > 0; line++ {
		j := strings.IndexByte(s, '\n')
		id := strings.TrimSuffix(s[:j], "\r")
		if err := checkID(id); err != nil {
			return nil, fmt.Errorf("retrieval: %s:%d: passage id %q: %w", path, line, id, err)
		}
		pids = append(pids, id)
		s = s[j+1:]
	}
	return pids, nil
}
