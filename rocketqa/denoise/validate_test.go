package denoise

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/fielderr"
)

func TestOptionsValidate(t *testing.T) {
	assert.NoError(t, MineOptions{}.Validate(), "zero values take the defaults")
	assert.NoError(t, DefaultMineOptions().Validate())
	assert.NoError(t, MineOptions{TopK: 100, FillFrom: -1, FillTo: 50}.Validate(), "no fill: its range is not checked")
	for _, c := range []struct {
		o      MineOptions
		msg    string
		fields []string
	}{
		{MineOptions{TopK: 10, FillFrom: 5}, "denoise: FillFrom 5 must be above TopK 10 (the random fill must not take ranks the CE filter examined); raise FillFrom or lower TopK",
			[]string{"FillFrom", "TopK", "FillFrom", "TopK"}},
		{MineOptions{TopK: 60, FillTo: 50}, "denoise: FillTo 50 is below FillFrom (default TopK + 1 = 61); raise FillTo, or disable the fill (a negative FillFrom)",
			[]string{"FillTo", "FillFrom", "TopK", "FillTo", "FillFrom"}},
		{MineOptions{NegPerPos: -1}, "denoise: NegPerPos -1: must be positive", []string{"NegPerPos"}},
	} {
		var fe *fielderr.Error
		require.ErrorAs(t, c.o.Validate(), &fe)
		assert.Equal(t, c.msg, fe.Error())
		assert.Equal(t, c.fields, fe.Fields())
	}
	assert.NoError(t, AugmentOptions{}.Validate())
	assert.EqualError(t, AugmentOptions{PosThreshold: 0.05}.Validate(), "denoise: PosThreshold 0.05 is below NegThreshold 0.1")
	assert.EqualError(t, AugmentOptions{NegCount: -2}.Validate(), "denoise: NegCount -2: must be positive")
}

func TestLoadLabelledChecksFiles(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run.tsv")
	require.NoError(t, os.WriteFile(run, []byte("q1\tp1\t1\t0.5\n"), 0o644))
	f := Files{DERun: run, CERun: run, Queries: run, Collection: dir}
	for _, c := range []struct {
		f                 Files
		qrels, additional string
		field             string
	}{
		{f, filepath.Join(dir, "none"), "", "Qrels"},
		{f, run, filepath.Join(dir, "none"), "Additional"},
		{Files{DERun: run, CERun: filepath.Join(dir, "none"), Queries: run, Collection: dir}, run, "", "CERun"},
		{Files{DERun: run, CERun: run, Queries: run, Collection: filepath.Join(dir, "none")}, run, "", "Collection"},
	} {
		_, err := LoadLabelled(context.Background(), c.f, c.qrels, c.additional)
		var fe *fielderr.Error
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, []string{c.field}, fe.Fields())
		assert.True(t, fe.File)
	}
}
