package tarball

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // npm's shasum
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSpec(t *testing.T) {
	tests := []struct{ spec, name, version string }{
		{"left-pad", "left-pad", ""},
		{"left-pad@1.0.0", "left-pad", "1.0.0"},
		{"@scope/pkg", "@scope/pkg", ""},
		{"@scope/pkg@2.0.0-beta.1", "@scope/pkg", "2.0.0-beta.1"},
	}
	for _, tt := range tests {
		n, v := ParseSpec(tt.spec)
		assert.Equal(t, tt.name, n, tt.spec)
		assert.Equal(t, tt.version, v, tt.spec)
	}
}

func TestWantSHA512(t *testing.T) {
	assert.Equal(t, "sha512-abc==", wantSHA512("sha512-abc=="))
	assert.Equal(t, "sha512-abc==", wantSHA512("sha1-xyz sha512-abc==?opt"))
	assert.Equal(t, "", wantSHA512("sha1-xyz"))
	assert.Equal(t, "", wantSHA512(""))
}

func packument() *Packument {
	return &Packument{
		DistTags: map[string]string{"latest": "1.0.0"},
		Versions: map[string]Version{
			"1.0.0":       {Dist: Dist{Tarball: "https://r.example/p/-/p-1.0.0.tgz", Shasum: "aa"}},
			"2.0.0-rc.1":  {Dist: Dist{Tarball: "https://r.example/p/-/p-2.0.0-rc.1.tgz", Integrity: "sha512-x"}},
			"0.9.0":       {Dist: Dist{Tarball: "https://r.example/p/-/p-0.9.0.tgz"}},
			"0.8.0":       {Dist: Dist{Shasum: "aa"}},
			"0.7.0-sha1":  {Dist: Dist{Tarball: "https://r.example/p/-/p-0.7.0.tgz", Integrity: "sha1-abc"}},
			"3.0.0-weird": {Dist: Dist{Tarball: "https://r.example/%40scope%2Fp/-/p-3.0.0.tgz", Shasum: "aa"}},
		},
		Time: map[string]string{
			"created": "2024-01-01T00:00:00Z", "modified": "2024-09-01T00:00:00Z",
			"1.0.0": "2024-02-01T00:00:00.000Z", "2.0.0-rc.1": "2024-05-01T00:00:00.000Z", "9.9.9": "2024-08-01T00:00:00Z",
		},
		Attachments: map[string]Attachment{"p-1.0.0.tgz": {Length: 1234}},
	}
}

func TestLatestPublished(t *testing.T) {
	p := packument()
	assert.Equal(t, "2.0.0-rc.1", p.latestPublished(), "the newest publish that is still a version, not dist-tags.latest")
	p.Time = nil
	assert.Equal(t, "1.0.0", p.latestPublished())
}

func TestTarget(t *testing.T) {
	tests := []struct {
		version, wantPath, wantErr string
		wantLength                 int64
	}{
		{version: "", wantPath: "/p/-/p-1.0.0.tgz", wantLength: 1234},
		{version: "2.0.0-rc.1", wantPath: "/p/-/p-2.0.0-rc.1.tgz", wantLength: -1},
		{version: "3.0.0-weird", wantPath: "/%40scope%2Fp/-/p-3.0.0.tgz", wantLength: -1},
		{version: "5.0.0", wantErr: "package p has no version 5.0.0"},
		{version: "0.9.0", wantErr: "p@0.9.0 has neither a sha512 dist.integrity nor dist.shasum"},
		{version: "0.7.0-sha1", wantErr: "neither a sha512 dist.integrity nor dist.shasum"},
		{version: "0.8.0", wantErr: "p@0.8.0 has no dist.tarball"},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			got, err := packument().Target("p", tt.version)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantPath, got.Path)
			assert.Equal(t, tt.wantLength, got.Length)
		})
	}
}

func TestDigests(t *testing.T) {
	body := []byte("the tarball")
	s512 := sha512.Sum512(body)
	s1 := sha1.Sum(body) //nolint:gosec // npm's shasum
	good := Dist{Integrity: "sha512-" + base64.StdEncoding.EncodeToString(s512[:]), Shasum: hex.EncodeToString(s1[:])}
	tests := []struct {
		name string
		dist Dist
		body []byte
		want []string
		kind string // the digest the first line names
	}{
		{name: "both match", dist: good, body: body},
		{name: "sha512 only, matches", dist: Dist{Integrity: good.Integrity}, body: body},
		{name: "sha1 only, upper-case hex, matches", dist: Dist{Shasum: strings.ToUpper(good.Shasum)}, body: body},
		{name: "corrupt", dist: good, body: bytes.ToUpper(body), want: []string{"sha512 expected " + good.Integrity + " got sha512-", "sha1 expected " + good.Shasum + " got "}, kind: "sha512"},
		{name: "truncated, sha1 only", dist: Dist{Shasum: good.Shasum}, body: body[:5], want: []string{"sha1 expected " + good.Shasum + " got "}, kind: "sha1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDigests(tt.dist)
			_, _ = d.Write(tt.body)
			m, kind := d.mismatch(tt.dist)
			assert.Equal(t, tt.kind, kind)
			if len(tt.want) == 0 {
				assert.Empty(t, m)
			}
			for _, w := range tt.want {
				assert.Contains(t, m, w)
			}
		})
	}
}
