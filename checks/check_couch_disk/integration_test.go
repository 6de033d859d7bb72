package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/test/stackenv"
)

// Against the stack's primary. Apache CouchDB reports sizes.file and
// sizes.active, so fragmentation and slack are measured (the seeded
// registry, written in bulk, is partly fragmented); pouchdb-server has no
// /_dbs_info (one GET per database) and reports disk_size only, so the
// sizes are there and fragmentation is said to be unmeasurable. The data
// dir is the temp folder's filesystem: the headroom is computed against a
// real statfs.
func TestCheckDiskIntegration(t *testing.T) {
	env := stackenv.Need(t, "COUCH_PRIMARY_URL", "COUCH_CREDENTIALS_FILE")
	code, out := runCheck(t, "-u", env["COUCH_PRIMARY_URL"], "--credentials-file", env["COUCH_CREDENTIALS_FILE"], "--data-dir", t.TempDir(), "-v")
	assert.Equal(t, 0, code, out)
	if stackenv.RealCouchDB(env) {
		assert.Regexp(t, `^COUCH_DISK OK - [0-9]+ databases, [0-9.]+ [KMG]?i?B on disk, [0-9.]+ [KMG]?i?B reclaimable; /`, out)
		assert.Regexp(t, `OK registry: [0-9.]+% fragmented \([0-9.]+ [KMG]?i?B reclaimable\)`, out)
		assert.Regexp(t, ` slack=[0-9]+B\b`, out)
		assert.Regexp(t, ` fragmentation=[0-9.]+%`, out)
	} else {
		assert.Regexp(t, `^COUCH_DISK OK - [0-9]+ databases, [0-9.]+ [KM]?i?B on disk; /`, out)
		assert.Contains(t, out, "fragmentation and slack not measurable")
		assert.Regexp(t, `OK registry: [0-9.]+ [KM]iB on disk, fragmentation unknown \(no active size\)`, out)
	}
	assert.Contains(t, out, "compacting the largest database")
	m := regexp.MustCompile(`databases=([0-9]+) file=([0-9]+)B`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	n, _ := strconv.Atoi(m[1])
	size, _ := strconv.Atoi(m[2])
	assert.GreaterOrEqual(t, n, 1)
	assert.Positive(t, size, "pouchdb-server reports disk_size")
	assert.NotContains(t, out, env["COUCH_ADMIN_PASSWORD"])

	code, out = runCheck(t, "-u", env["COUCH_PRIMARY_URL"], "--credentials-file", env["COUCH_CREDENTIALS_FILE"], "--db", "registry", "--output", "influx")
	assert.Equal(t, 0, code, out)
	line := strings.TrimSpace(out)
	assert.True(t, strings.HasPrefix(line, "couch_disk,url="+env["COUCH_PRIMARY_URL"]+" "), line)
	assert.Contains(t, line, "databases=1i")
	if stackenv.RealCouchDB(env) {
		assert.Regexp(t, `fragmentation_pct=[0-9.]+`, line)
	} else {
		assert.NotContains(t, line, "fragmentation_pct", "an unknown value is left out of line protocol")
	}
}
