package retrieval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/rocketqa-go/rocketqa/dataset"
)

// MetaPath returns the name of the small JSON file that BuildIndex writes beside the index file indexPath to bind
// it to its passage id file: the row count, the dimension, the size and a checksum of the index file, and a
// checksum of the .pids file. OpenShardedIndex checks it, so a .pids file of another shard (with the same row
// count) or an index file replaced by another is refused instead of giving wrong pids.
func MetaPath(indexPath string) string { return indexPath + ".meta.json" }

type indexMeta struct {
	Format     string `json:"format"`
	Rows       int64  `json:"rows"`
	Dim        int    `json:"dim"`
	IndexBytes int64  `json:"index_bytes"`
	IndexCRC   uint32 `json:"index_crc32"` // of the first and last MiB of the index file
	PIDsBytes  int64  `json:"pids_bytes"`
	PIDsCRC    uint32 `json:"pids_crc32"` // of the whole .pids file
	// Source is the embedding shards the index was built from, in order (absent in metas of older versions).
	Source []shardSum `json:"source,omitempty"`
	// Build is how it was built from them (absent in metas of older versions).
	Build *buildSettings `json:"build,omitempty"`
}

// buildSettings are the BuildIndex arguments that make an index from its shards.
type buildSettings struct {
	Factory   string `json:"factory"`
	Metric    string `json:"metric"`
	TrainSize int    `json:"train_size"`
	Seed      uint64 `json:"seed"`
}

func newBuildSettings(factory string, o BuildOptions) *buildSettings {
	return &buildSettings{Factory: factory, Metric: o.Metric.String(), TrainSize: o.TrainSize, Seed: o.Seed}
}

// shardSum identifies an embedding shard by its header: rows, dimension, element type and section checksums.
type shardSum struct {
	Rows   int64  `json:"rows"`
	Dim    int    `json:"dim"`
	DType  string `json:"dtype"`
	VecCRC uint32 `json:"vectors_crc32"`
	IDsCRC uint32 `json:"ids_crc32"`
}

// shardSums reads the headers of embedding shards.
func shardSums(shards []string) ([]shardSum, error) {
	out := make([]shardSum, len(shards))
	for i, p := range shards {
		r, err := OpenEmbeddingReader(p)
		if err != nil {
			return nil, err
		}
		out[i] = shardSum{Rows: r.h.count, Dim: r.h.dim, DType: r.h.dtype.String(), VecCRC: r.h.vecCRC, IDsCRC: r.h.idsCRC}
		r.Close()
	}
	return out, nil
}

// CheckBuiltFrom reports whether the index file indexPath, written by BuildIndex, was built from these embedding
// shards (in this order), by the shard checksums that MetaPath(indexPath) records: an error names the index and
// the first shard that differs (re-encoded by another model, of another collection, or not given in that
// order), and with this factory and these options (metric, training sample size and seed; Progress and BatchSize
// do not count): an error names the setting that differs. An index without a meta file, or with one of an older
// version that records no shards (or no build settings), is not checked (for them).
func CheckBuiltFrom(indexPath string, shards []string, factory string, o BuildOptions) error {
	m, err := readIndexMeta(indexPath)
	if err != nil || m == nil || m.Source == nil {
		return err
	}
	if want := newBuildSettings(factory, o); m.Build != nil && *m.Build != *want {
		return fmt.Errorf("retrieval: %s was built with other settings (factory %q, metric %s, train size %d, seed %d; here factory %q, metric %s, train size %d, seed %d); rebuild it (rocketqa index --force) or give another output",
			indexPath, m.Build.Factory, m.Build.Metric, m.Build.TrainSize, m.Build.Seed, want.Factory, want.Metric, want.TrainSize, want.Seed)
	}
	got, err := shardSums(shards)
	if err != nil {
		return err
	}
	differs := func(what string) error {
		return fmt.Errorf("retrieval: %s was built from other embeddings than %s (%s); rebuild it (rocketqa index --force) or give another output", indexPath, strings.Join(shards, ", "), what)
	}
	if len(got) != len(m.Source) {
		return differs(fmt.Sprintf("%d shard(s), these are %d", len(m.Source), len(got)))
	}
	for i, g := range got {
		if g != m.Source[i] {
			return differs(fmt.Sprintf("%s: %d x %d %s, checksums %08x/%08x; the index's shard %d: %d x %d %s, checksums %08x/%08x", shards[i],
				g.Rows, g.Dim, g.DType, g.VecCRC, g.IDsCRC, i, m.Source[i].Rows, m.Source[i].Dim, m.Source[i].DType, m.Source[i].VecCRC, m.Source[i].IDsCRC))
		}
	}
	return nil
}

const indexMetaFormat = "rocketqa-index-meta/1"

// fileSums returns the size and CRC-32 of a file: of all of it (whole) or of its first and last MiB.
func fileSums(path string, whole bool) (int64, uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	h := crc32.NewIEEE()
	const part = 1 << 20
	if whole || st.Size() <= 2*part {
		if _, err := io.Copy(h, f); err != nil {
			return 0, 0, err
		}
	} else {
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, part)); err != nil {
			return 0, 0, err
		}
		if _, err := io.Copy(h, io.NewSectionReader(f, st.Size()-part, part)); err != nil {
			return 0, 0, err
		}
	}
	return st.Size(), h.Sum32(), nil
}

func makeIndexMeta(indexPath string, rows int64, dim int) (*indexMeta, error) {
	m := &indexMeta{Format: indexMetaFormat, Rows: rows, Dim: dim}
	var err error
	if m.IndexBytes, m.IndexCRC, err = fileSums(indexPath, false); err != nil {
		return nil, fmt.Errorf("retrieval: %w", err)
	}
	if m.PIDsBytes, m.PIDsCRC, err = fileSums(PIDsPath(indexPath), true); err != nil {
		return nil, fmt.Errorf("retrieval: %w", err)
	}
	return m, nil
}

// writeIndexMeta writes MetaPath(indexPath) for an index and .pids file just written from the shards src with the
// build settings build.
func writeIndexMeta(indexPath string, rows int64, dim int, src []shardSum, build *buildSettings) error {
	m, err := makeIndexMeta(indexPath, rows, dim)
	if err != nil {
		return err
	}
	m.Source, m.Build = src, build
	return dataset.WriteJSONAtomic(MetaPath(indexPath), m)
}

// readIndexMeta reads MetaPath(indexPath), or returns nil for an index without one (built by an older version).
func readIndexMeta(indexPath string) (*indexMeta, error) {
	b, err := os.ReadFile(MetaPath(indexPath))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("retrieval: %w", err)
	}
	var m indexMeta
	dec := json.NewDecoder(bytes.NewReader(dataset.StripBOM(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil || m.Format != indexMetaFormat {
		return nil, fmt.Errorf("retrieval: %s: not an index meta file of format %s (%v); rebuild the index (rocketqa index --force)", MetaPath(indexPath), indexMetaFormat, err)
	}
	return &m, nil
}

// checkIndexMeta verifies that indexPath, its .pids file and its meta file belong together. An index without a
// meta file (built by an older version) is not checked.
func checkIndexMeta(indexPath string, ix *Index, pids int) error {
	want, err := readIndexMeta(indexPath)
	if err != nil || want == nil {
		return err
	}
	got, err := makeIndexMeta(indexPath, int64(pids), ix.Dim())
	if err != nil {
		return err
	}
	rebuild := "rebuild it (rocketqa index --force) or put back the matching files"
	switch {
	case got.IndexBytes != want.IndexBytes || got.IndexCRC != want.IndexCRC:
		return fmt.Errorf("retrieval: %s is not the index recorded in %s (size or checksum differs); %s", indexPath, MetaPath(indexPath), rebuild)
	case got.PIDsBytes != want.PIDsBytes || got.PIDsCRC != want.PIDsCRC:
		return fmt.Errorf("retrieval: %s is not the passage id file built with %s (size or checksum differs: the .pids of another shard?); %s", PIDsPath(indexPath), indexPath, rebuild)
	case ix.Ntotal() != want.Rows || int64(pids) != want.Rows:
		return fmt.Errorf("retrieval: %s holds %d vectors and %d pids, %s records %d rows; %s", indexPath, ix.Ntotal(), pids, MetaPath(indexPath), want.Rows, rebuild)
	}
	return nil
}

// duplicatePID reports a passage id that occurs twice over the shards' id lists (within one shard or in two
// overlapping shards), naming the id and both rows. names[i] names shard i in the message.
func duplicatePID(pids [][]string, names []string) error {
	total := 0
	for _, p := range pids {
		total += len(p)
	}
	flat := make([]string, 0, total)
	for _, p := range pids {
		flat = append(flat, p...)
	}
	i, j, dup := dataset.FirstDuplicate(flat)
	if !dup {
		return nil
	}
	where := func(r int) string {
		for s, p := range pids {
			if r < len(p) {
				return fmt.Sprintf("row %d of %s", r, names[s])
			}
			r -= len(p)
		}
		return "?"
	}
	return fmt.Errorf("retrieval: passage id %q is %s and %s: each passage must be in one shard once (overlapping shards or a duplicate in passage2id.map.json?)", flat[i], where(i), where(j))
}
