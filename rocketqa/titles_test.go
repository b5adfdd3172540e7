package rocketqa

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/internal/tinytest"
)

// TestEmptyTitlesAreNoTitles: an empty, non-nil titles slice means "no titles", as the official encode_para and
// matching read title=[] (len(title) == 0), for the dual encoder's EncodePara and Matching and the cross
// encoder's Matching; a titles slice of another non-zero length is still an error.
func TestEmptyTitlesAreNoTitles(t *testing.T) {
	ctx := context.Background()
	qs, ps := make([]string, 3), make([]string, 3)
	for i, ex := range tinytest.DualExamples(t, 3, 7) {
		qs[i], ps[i] = ex.Query, ex.PosPara
	}

	de := filepath.Join(t.TempDir(), "de")
	require.NoError(t, tinyTask(t, 8, false).SaveModel(de))
	m, err := Load(de, LoadOptions{BatchSize: 2})
	require.NoError(t, err)
	defer m.Close()
	want, err := m.EncodePara(ctx, ps, nil)
	require.NoError(t, err)
	got, err := m.EncodePara(ctx, ps, []string{})
	require.NoError(t, err)
	require.Equal(t, want, got)
	wantS, err := m.Matching(ctx, qs, ps, nil)
	require.NoError(t, err)
	gotS, err := m.Matching(ctx, qs, ps, []string{})
	require.NoError(t, err)
	require.Equal(t, wantS, gotS)
	_, err = m.EncodePara(ctx, ps, []string{"a"})
	require.Error(t, err)

	ce := filepath.Join(t.TempDir(), "ce")
	require.NoError(t, tinyCrossTask(t, false).SaveModel(ce))
	c, err := Load(ce, LoadOptions{BatchSize: 2})
	require.NoError(t, err)
	defer c.Close()
	wantS, err = c.Matching(ctx, qs, ps, nil)
	require.NoError(t, err)
	gotS, err = c.Matching(ctx, qs, ps, []string{})
	require.NoError(t, err)
	require.Equal(t, wantS, gotS)
	_, err = c.Matching(ctx, qs, ps, []string{"a"})
	require.Error(t, err)
}
