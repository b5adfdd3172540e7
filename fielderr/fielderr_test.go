package fielderr

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestErrorRender(t *testing.T) {
	e := New("pkg", "{FillFrom} %d must be above {TopK} %d; raise {FillFrom}", 5, 10)
	assert.Equal(t, "pkg: FillFrom 5 must be above TopK 10; raise FillFrom", e.Error())
	flags := map[string]string{"FillFrom": "--fill-from", "TopK": "--top-k"}
	assert.Equal(t, "--fill-from 5 must be above --top-k 10; raise --fill-from", e.Render(func(p string) string { return flags[p] }))
	assert.Equal(t, []string{"FillFrom", "TopK", "FillFrom"}, e.Fields())

	nested := In("Train", fmt.Errorf("wrapped: %w", e))
	var fe *Error
	require.ErrorAs(t, nested, &fe)
	assert.Equal(t, []string{"Train.FillFrom", "Train.TopK", "Train.FillFrom"}, fe.Fields())
	assert.Equal(t, "pkg: Train.FillFrom 5 must be above Train.TopK 10; raise Train.FillFrom", fe.Error())
	other := errors.New("plain")
	assert.Same(t, other, In("Train", other))
	assert.NoError(t, In("Train", nil))
}

func TestCheckAndFirst(t *testing.T) {
	assert.NoError(t, Check("p", true, "a", true, "b"))
	err := Check("p", true, "{A} ok", false, "{B} 3: must be positive", false, "{C} never")
	assert.EqualError(t, err, "p: B 3: must be positive")
	assert.Equal(t, err, First(nil, err, errors.New("later")))
	assert.NoError(t, First(nil, nil))
}

func TestPathChecks(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.tsv")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	missing := filepath.Join(dir, "missing")
	isFile := func(err error) bool {
		var fe *Error
		return errors.As(err, &fe) && fe.File
	}
	assert.NoError(t, IsFile("p", "Run", file))
	assert.NoError(t, IsFile("p", "Run", ""), "empty: not set")
	assert.EqualError(t, IsFile("p", "Run", missing), "p: Run "+missing+": no such file or directory")
	assert.True(t, isFile(IsFile("p", "Run", missing)))
	assert.EqualError(t, IsFile("p", "Run", dir), "p: Run "+dir+": is a directory, want a file")
	assert.NoError(t, IsDir("p", "Out", dir))
	assert.EqualError(t, IsDir("p", "Out", file), "p: Out "+file+": not a directory")
	assert.NoError(t, Exists("p", "Collection", file))
	assert.True(t, isFile(Exists("p", "Collection", missing)))

	assert.NoError(t, CanCreate("p", "Out", filepath.Join(dir, "new.tsv")))
	err := CanCreate("p", "Out", dir)
	assert.True(t, strings.HasPrefix(err.Error(), "p: Out "+dir+" is a directory; give a file path"), err)
	assert.False(t, isFile(err), "a wrong output path is a usage problem")
	assert.ErrorContains(t, CanCreate("p", "JSON", filepath.Join(file, "r.json")), file+" is not a directory")
}
