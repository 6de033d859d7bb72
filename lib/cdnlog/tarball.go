package cdnlog

import (
	"bytes"
	"strings"
)

// Path returns the path of a logged URL: without scheme and host
// (varnishncsa logs absolute URLs), query and fragment. The query may hold
// tokens: it never leaves the check.
func Path(url []byte) []byte {
	if i := bytes.Index(url, []byte("://")); i >= 0 && i < 10 {
		rest := url[i+3:]
		if j := bytes.IndexByte(rest, '/'); j >= 0 {
			url = rest[j:]
		} else {
			url = []byte("/")
		}
	}
	if i := bytes.IndexAny(url, "?#"); i >= 0 {
		url = url[:i]
	}
	return url
}

// Tarball reads a package tarball path, /:pkg/-/:pkg-:version.tgz or
// /@scope/:pkg/-/:pkg-:version.tgz (the slash of a scoped name may be
// written %2f), and returns the package name (with its scope) and version.
func Tarball(path []byte) (pkg, version string, ok bool) {
	key, ok := appendTarballKey(nil, path)
	if !ok {
		return "", "", false
	}
	pkg, version, _ = strings.Cut(string(key), "\x00")
	return pkg, version, true
}

// appendTarballKey appends "package\x00version" to dst: the aggregation's
// map key, built without allocating.
func appendTarballKey(dst, path []byte) ([]byte, bool) {
	if !bytes.HasSuffix(path, []byte(".tgz")) {
		return dst, false
	}
	i := bytes.Index(path, []byte("/-/"))
	if i <= 1 || path[0] != '/' {
		return dst, false
	}
	name, file := path[1:i], path[i+3:len(path)-4]
	if bytes.IndexByte(file, '/') >= 0 {
		return dst, false
	}
	bare := name
	var scope []byte
	if name[0] == '@' {
		var rest []byte
		if j := bytes.IndexByte(name, '/'); j > 0 {
			scope, rest = name[:j], name[j+1:]
		} else if j := indexFold(name, "%2f"); j > 0 {
			scope, rest = name[:j], name[j+3:]
		} else {
			return dst, false
		}
		if len(scope) < 2 || len(rest) == 0 || bytes.IndexByte(rest, '/') >= 0 {
			return dst, false
		}
		bare = rest
	} else if bytes.IndexByte(name, '/') >= 0 {
		return dst, false
	}
	if bytes.IndexByte(bare, '%') >= 0 || bytes.IndexByte(bare, 0) >= 0 {
		return dst, false
	}
	if len(file) <= len(bare)+1 || !bytes.HasPrefix(file, bare) || file[len(bare)] != '-' {
		return dst, false
	}
	v := file[len(bare)+1:]
	// A version starts with a digit (semver); "pkg-latest.tgz" is not one.
	if v[0] < '0' || v[0] > '9' || bytes.IndexByte(v, 0) >= 0 {
		return dst, false
	}
	if scope != nil {
		dst = append(dst, scope...)
		dst = append(dst, '/')
	}
	dst = append(dst, bare...)
	dst = append(dst, 0)
	return append(dst, v...), true
}

func indexFold(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if bytes.EqualFold(b[i:i+len(s)], []byte(s)) {
			return i
		}
	}
	return -1
}
