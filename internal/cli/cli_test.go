package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCoretypeFor(t *testing.T) {
	const head = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n"
	cases := map[string]string{
		head + "flags\t\t: fpu sse sse2 avx avx2 fma\n":                       "Haswell",
		head + "flags\t\t: fpu avx avx2 avx512f avx512dq avx512bw\n":          "SkylakeX",
		head + "flags\t\t: fpu sse sse2 avx\n":                                "",
		head:                                                                  "",
		head + "flags\t\t: fpu avx\nflags\t\t: fpu avx avx2 avx512f\n":        "", // the first core's flags decide
		"vmx flags\t: avx2 avx512f\n" + head + "flags\t\t: fpu avx2 avx512\n": "Haswell",
	}
	for in, want := range cases {
		assert.Equal(t, want, CoretypeFor(in), "%q", in)
	}
}

func TestBLASSummary(t *testing.T) {
	assert.Equal(t, "OpenBLAS Haswell core (openmp)", BLASSummary(`blas=/usr/lib/libblas.so.3 openblas_config="OpenBLAS 0.3.21 USE_OPENMP Zen" openblas_core=Haswell openblas_parallel=openmp omp_threads=2`))
	assert.Equal(t, "BLAS /usr/lib/libblis.so", BLASSummary("blas=/usr/lib/libblis.so omp_threads=2"))
	assert.Equal(t, "BLAS unknown", BLASSummary("unknown"))
}

func TestFileFlags(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.emb", "a.emb", "x.txt"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), nil, 0o644))
	}
	got, err := ExpandFiles("--emb", dir+", "+filepath.Join(dir, "x.txt"), ".emb")
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(dir, "a.emb"), filepath.Join(dir, "b.emb"), filepath.Join(dir, "x.txt")}, got)
	_, err = ExpandFiles("--emb", " , ", ".emb")
	var ue *UsageError
	assert.ErrorAs(t, err, &ue)
	_, err = ExpandFiles("--index", dir, ".index")
	assert.ErrorContains(t, err, "--index "+dir+": no *.index files in the directory")

	assert.ErrorContains(t, MustFile("--run", filepath.Join(dir, "nope")), "--run "+filepath.Join(dir, "nope")+": no such file or directory")
}
