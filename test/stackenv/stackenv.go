// Package stackenv gives integration tests the addresses and credentials of
// the local registry stack (test/stack), read from the env file that
// "test/stack/stack up" writes. Tests skip when the stack is not up.
package stackenv

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Dir is the stack's working folder: $REGISTRY_CHECKS_STACK_DIR or
// /tmp/registry-checks-stack.
func Dir() string {
	if d := os.Getenv("REGISTRY_CHECKS_STACK_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "registry-checks-stack")
}

// File is the env file written by "stack up" (KEY=VALUE lines).
func File() string { return filepath.Join(Dir(), "stack.env") }

// Read parses the env file; it returns nil when the stack is not up.
func Read() map[string]string {
	f, err := os.Open(File())
	if err != nil {
		return nil
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		env[strings.TrimSpace(strings.TrimPrefix(k, "export "))] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	return env
}

// Need returns the stack's env for an integration test, or skips the test
// under -short or when any of keys is missing (that service is not up).
// With REGISTRY_CHECKS_REQUIRE_STACK=1 (set by "make test") a missing
// service fails the test instead, so CI cannot pass by skipping.
func Need(t testing.TB, keys ...string) map[string]string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	skip := t.Skipf
	if os.Getenv("REGISTRY_CHECKS_REQUIRE_STACK") == "1" {
		skip = t.Fatalf
	}
	env := Read()
	if env == nil {
		skip("local stack is not up (no %s): run test/stack/stack up", File())
		return nil
	}
	for _, k := range keys {
		if env[k] == "" {
			skip("local stack has no %s in %s: that service is not up", k, File())
		}
	}
	return env
}

// RealCouchDB reports whether the stack's CouchDB nodes are Apache CouchDB
// (COUCH_SERVER=couchdb in stack.env) rather than PouchDB Server. Tests of
// behaviour that differs between the two say which one they expect by name.
func RealCouchDB(env map[string]string) bool { return env["COUCH_SERVER"] == "couchdb" }
