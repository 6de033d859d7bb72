package plugin

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The domain packages under lib/ (replication, promotion, cdnlog, ...)
// are used by the plugin contract's callers, never the other way round:
// none imports lib/plugin (STYLE.md). Option types both need live in
// lib/flagtype.
func TestNoLibPackageImportsPlugin(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "*", "*.go"))
	require.NoError(t, err)
	more, err := filepath.Glob(filepath.Join("..", "*", "*", "*.go"))
	require.NoError(t, err)
	files = append(files, more...)
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || strings.HasPrefix(filepath.ToSlash(f), "../plugin/") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		require.NoError(t, err)
		checked++
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			assert.NotEqual(t, "github.com/registry-checks/registry-checks/lib/plugin", path, "%s imports lib/plugin", f)
		}
	}
	assert.Greater(t, checked, 20, "the lib/ sources were read")
}
