// Package retrieval is the search side of the pipeline: passage embedding shard files, FAISS indexes built
// from them, sharded search with a global merge, and run files.
//
// # FAISS
//
// Index wraps any faiss::Index through a small cgo shim (faiss_shim.cc, the only cgo over FAISS in the
// project) linked against Debian's static libfaiss 1.7.3 and the system BLAS. Every C++ exception becomes a Go
// error. Index files are FAISS's own format: Python's faiss.read_index reads what WriteFile writes and
// ReadIndex reads what faiss.write_index writes. SetNumThreads fixes the OpenMP (and OpenBLAS) thread count;
// BLASInfo says which BLAS is in use. OpenBLAS 0.3.21 misdetects some CPUs (AMD EPYC among them) and runs
// far slower unless OPENBLAS_CORETYPE (Haswell, or SkylakeX with AVX-512) is set in the environment before
// the process starts.
//
// # Embedding shard files
//
// Passage embeddings are stored in shard files (by convention *.emb), each holding a header, the vectors and
// the passage ids of its rows. All integers are little-endian.
//
//	offset  size  field
//	0       8     magic "RQAEMB\x00\n"
//	8       4     version, uint32 = 1
//	12      4     dtype, uint32: 1 = float32, 2 = float16 (IEEE 754, little-endian)
//	16      4     dim, uint32 (1 .. 2^20)
//	20      4     header size, uint32 = 64
//	24      8     count (rows), uint64
//	32      8     ids offset, uint64 = 64 + count*dim*sizeof(dtype)
//	40      8     ids length in bytes, uint64; ids offset + ids length = file size
//	48      4     CRC-32 (IEEE, as zlib.crc32) of the vector section
//	52      4     CRC-32 (IEEE) of the ids section
//	56      8     reserved, zero
//	64      ...   vectors: count rows of dim values, row-major
//	ids off ...   ids: count passage ids, each UTF-8 followed by '\n'
//
// Ids are non-empty and contain no tab, newline or carriage return (they end up in TSV run files). In
// Python: h = f.read(64); vectors = np.frombuffer(data, '<f4' or '<f2', count*dim, 64).reshape(count, dim);
// ids = data[ids_off:].decode().split('\n')[:-1]. EmbeddingWriter writes a file in one streaming pass (ids are
// buffered in memory until Close, a few bytes each) and renames it into place only when complete;
// EmbeddingReader streams it back in batches and verifies both checksums at the end, so an 8M x 768 corpus
// is never in memory twice. BuildIndex turns shard files into one index file plus a passage id file.
//
// # Index and passage id files
//
// BuildIndex writes a FAISS index file and, beside it, PIDsPath(index) = index + ".pids": the passage id of
// every index row, one per line, in row order. OpenShardedIndex reads such pairs; ShardedIndex searches them
// all and merges the per-shard top k into a global top k (best score first; ties by shard, then row), as the
// official RocketQA merge.py and the seed do for their 4 x IndexFlatIP parts. A third file, MetaPath(index) =
// index + ".meta.json", records the row count and checksums of the index and .pids files, those of the
// embedding shards it was built from and the build settings (CheckBuiltFrom compares both): OpenShardedIndex refuses a .pids file of
// another shard or a replaced index file (indexes without it, from older versions, are not checked), and every
// passage id must occur once over all shards. Search asks each shard for at most as many hits as it holds, so a
// huge k is cheap.
//
// Run files (the TSV and JSON formats of search results) are read and written by package dataset (ReadRun,
// OpenRun, RunWriter, ReadRunJSON); Hit is dataset.Hit.
//
// All writers in this package write a temporary file beside the target and rename it (dataset.CreateTemp and
// dataset.CommitTemp, the module's one atomic writer: mode 0644), so a failure never leaves a partial file under
// the target name. Readers drop a UTF-8 BOM at the start of a file (the rule of package dataset).
package retrieval
