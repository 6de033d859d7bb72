package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/registry-checks/registry-checks/test/hostile"
)

// Every hostile server case: the verdict of docs/design.md, a first line
// naming the state, and no Go internals in any line.
func TestHostile(t *testing.T) {
	dir := t.TempDir()
	hostile.Table(t, hostile.Binary{Name: "TARBALL_ORIGIN", Run: run,
		Args: func(base, creds string) []string {
			return []string{"-u", base, "--credentials-file", creds, "--spool-dir", dir, "--origin", base, "-p", "left-pad"}
		},
	})
}

// The registry answers well and the origin is the hostile one: the
// tarball itself is huge, a gzip bomb, cut short, missing...
func TestHostileOrigin(t *testing.T) {
	registry := hostile.New(t, "echo")
	dir := t.TempDir()
	want := map[string]hostile.Verdict{
		// An origin that does not serve the tarball fails the users.
		"401": hostile.Critical, "403": hostile.Critical, "404": hostile.Critical,
		"echo-401": hostile.Critical, "redirect-loop": hostile.Critical,
		// Bytes that are not the tarball: corrupt.
		"truncated-json": hostile.Critical, "empty-body": hostile.Critical, "not-json": hostile.Critical,
		// Bigger than --max-bytes: not verified.
		"huge": hostile.Unknown, "gzip-bomb": hostile.Unknown,
	}
	for _, c := range []string{"null", "empty-object", "wrong-array", "all-null", "null-fields", "wrong-types"} {
		want[c] = hostile.Any // JSON shapes do not touch a tarball
	}
	hostile.Table(t, hostile.Binary{Name: "TARBALL_ORIGIN", Run: run, Want: want,
		Args: func(base, creds string) []string {
			return []string{"-u", registry.URL, "--credentials-file", creds, "--spool-dir", dir, "--origin", base, "-p", "left-pad", "--no-attachment"}
		},
	})
}

// The packument is JSON, read under the JSON cap: a 200 MB one stops at
// 8 MiB, not at the tarball cap (--max-bytes + 1, "67108865 bytes").
func TestHostilePackumentCap(t *testing.T) {
	srv := hostile.New(t, "huge")
	var out bytes.Buffer
	code := run([]string{"-u", srv.URL, "--origin", srv.URL, "-p", "left-pad", "--spool-dir", t.TempDir(), "-t", "20s"}, &out)
	assert.Equal(t, 3, code, out.String())
	assert.Contains(t, out.String(), "GET "+srv.URL+"/registry/left-pad: response body is larger than the 8 MiB limit")
	assert.NotContains(t, out.String(), "67108865")
}
