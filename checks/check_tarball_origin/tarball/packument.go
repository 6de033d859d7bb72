package tarball

import (
	"crypto/sha1" //nolint:gosec // dist.shasum is sha1: we compare, not trust it
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"path"
	"strings"
	"time"
)

// Packument is the part of a registry package document the check reads.
type Packument struct {
	ID          string                `json:"_id"`
	Rev         string                `json:"_rev"`
	Name        string                `json:"name"`
	DistTags    map[string]string     `json:"dist-tags"`
	Versions    map[string]Version    `json:"versions"`
	Time        map[string]string     `json:"time"`
	Attachments map[string]Attachment `json:"_attachments"`
	// Type is "heartbeat" for check_couch_replication's heartbeat
	// document, when --heartbeat-db names the registry database.
	Type string `json:"type"`
}

// CheckShape requires what every document has, _id and _rev; a document
// without versions is judged by the check (a design document in the
// changes feed is not a package).
func (p *Packument) CheckShape() error {
	if p.ID == "" || p.Rev == "" {
		return errors.New("not a document (no _id or _rev)")
	}
	return nil
}

// Version is one published version.
type Version struct {
	Dist Dist `json:"dist"`
}

// Dist is a version's tarball and its digests.
type Dist struct {
	Tarball   string `json:"tarball"`
	Shasum    string `json:"shasum"`    // hex sha1
	Integrity string `json:"integrity"` // SRI, e.g. sha512-<base64>
}

// Attachment is an attachment stub of the package document.
type Attachment struct {
	Length int64  `json:"length"`
	Digest string `json:"digest"`
}

// Target is one tarball to test.
type Target struct {
	Package string
	Version string
	Path    string // URL path of the tarball on an origin, e.g. /left-pad/-/left-pad-1.0.0.tgz
	File    string // attachment name in the package document
	Dist    Dist
	Length  int64 // from the attachment stub, -1 when unknown
}

func (t Target) String() string { return t.Package + "@" + t.Version }

// ParseSpec splits "name" or "name@version" (a scoped "@scope/name@1.0.0"
// keeps its leading @).
func ParseSpec(spec string) (name, version string) {
	at := strings.LastIndex(spec, "@")
	if at <= 0 {
		return spec, ""
	}
	return spec[:at], spec[at+1:]
}

// latestPublished is the version with the most recent publish time, for a
// package found in the changes feed: what was just published is what
// should be tested. dist-tags.latest when no version has a time.
func (p *Packument) latestPublished() string {
	best, bestT := "", time.Time{}
	for v, ts := range p.Time {
		if v == "created" || v == "modified" {
			continue
		}
		if _, ok := p.Versions[v]; !ok {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			continue
		}
		if best == "" || t.After(bestT) || (t.Equal(bestT) && v > best) {
			best, bestT = v, t
		}
	}
	if best == "" {
		return p.DistTags["latest"]
	}
	return best
}

// Target resolves a version of the packument ("" means dist-tags.latest)
// into what to fetch. The errors say what the packument lacks.
func (p *Packument) Target(name, version string) (Target, error) {
	if version == "" {
		version = p.DistTags["latest"]
		if version == "" {
			return Target{}, fmt.Errorf("package %s has no dist-tags.latest; name a version", name)
		}
	}
	v, ok := p.Versions[version]
	if !ok {
		return Target{}, fmt.Errorf("package %s has no version %s", name, version)
	}
	if v.Dist.Tarball == "" {
		return Target{}, fmt.Errorf("%s@%s has no dist.tarball", name, version)
	}
	if wantSHA512(v.Dist.Integrity) == "" && v.Dist.Shasum == "" {
		return Target{}, fmt.Errorf("%s@%s has neither a sha512 dist.integrity nor dist.shasum: nothing to verify the tarball against", name, version)
	}
	u, err := url.Parse(v.Dist.Tarball)
	if err != nil || u.EscapedPath() == "" {
		return Target{}, fmt.Errorf("%s@%s: dist.tarball %q is not a URL", name, version, v.Dist.Tarball)
	}
	t := Target{Package: name, Version: version, Path: u.EscapedPath(), File: path.Base(u.Path), Dist: v.Dist, Length: -1}
	if a, ok := p.Attachments[t.File]; ok {
		t.Length = a.Length
	}
	return t, nil
}

// digests hashes a body with the algorithms the packument gives digests for.
type digests struct {
	sha512 hash.Hash
	sha1   hash.Hash
	w      io.Writer
}

func newDigests(d Dist) *digests {
	var ws []io.Writer
	out := &digests{}
	if wantSHA512(d.Integrity) != "" {
		out.sha512 = sha512.New()
		ws = append(ws, out.sha512)
	}
	if d.Shasum != "" {
		out.sha1 = sha1.New() //nolint:gosec // npm's shasum
		ws = append(ws, out.sha1)
	}
	out.w = io.MultiWriter(ws...)
	return out
}

func (d *digests) Write(p []byte) (int, error) { return d.w.Write(p) }

// mismatch compares the sums with the packument's; "" when they match,
// else "sha512 expected X got Y" (both digests, in the packument's form).
func (d *digests) mismatch(dist Dist) (diff, kind string) {
	var diffs []string
	if d.sha512 != nil {
		got := "sha512-" + base64.StdEncoding.EncodeToString(d.sha512.Sum(nil))
		if want := wantSHA512(dist.Integrity); got != want {
			diffs = append(diffs, fmt.Sprintf("sha512 expected %s got %s", want, got))
			kind = "sha512"
		}
	}
	if d.sha1 != nil {
		got := hex.EncodeToString(d.sha1.Sum(nil))
		if want := strings.ToLower(dist.Shasum); got != want {
			diffs = append(diffs, fmt.Sprintf("sha1 expected %s got %s", want, got))
			if kind == "" {
				kind = "sha1"
			}
		}
	}
	return strings.Join(diffs, ", "), kind
}

// wantSHA512 is the sha512 entry of an SRI string ("" when none): npm
// writes one, SRI allows several separated by spaces, with ?options.
func wantSHA512(integrity string) string {
	for _, f := range strings.Fields(integrity) {
		if strings.HasPrefix(f, "sha512-") {
			f, _, _ = strings.Cut(f, "?")
			return f
		}
	}
	return ""
}
