package cdnlog

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFormats(t *testing.T) {
	at := time.Date(2026, 11, 30, 11, 55, 4, 0, time.UTC)
	cases := []struct {
		name   string
		format Format
		fields Fields
		line   string
		want   Record
		err    string
	}{
		{"varnishncsa default", NCSA, nil,
			`127.0.0.1 - - [30/Nov/2026:11:55:04 +0000] "GET http://localhost:18080/left-pad/-/left-pad-1.3.0.tgz HTTP/1.1" 200 1234 "-" "npm/10.2.0 node/v20"`,
			Record{Time: at, Method: "GET", URL: []byte("http://localhost:18080/left-pad/-/left-pad-1.3.0.tgz"), Status: 200, Bytes: 1234}, ""},
		{"varnishncsa with hitmiss and %D", NCSA, nil,
			`10.0.0.1 - bob [30/Nov/2026:12:55:04 +0100] "HEAD /x HTTP/1.1" 304 - "-" "curl" miss 2500`,
			Record{Time: at, Method: "HEAD", URL: []byte("/x"), Status: 304, Bytes: -1, Cache: CacheMiss, TTS: 2500 * time.Microsecond, HasTTS: true}, ""},
		{"fastly apache-style with syslog prefix", Fastly, nil,
			`<134>2026-11-30T11:55:04Z cache-fra19123 registry[326211]: 192.0.2.1 - - [30/Nov/2026:11:55:04 +0000] "GET /lodash HTTP/1.1" 503 43`,
			Record{Time: at, Method: "GET", URL: []byte("/lodash"), Status: 503, Bytes: 43}, ""},
		{"fastly json example", FastlyJSON, nil,
			`{"timestamp":"2026-11-30T11:55:04","client_ip":"192.0.2.1","request":"GET","url":"/a/-/a-1.0.0.tgz","status":"200","cache_status":"HIT-CLUSTER","time_elapsed":1500,"response_body_size":900}`,
			Record{Time: at, Method: "GET", URL: []byte("/a/-/a-1.0.0.tgz"), Status: 200, Bytes: 900, Cache: CacheHit, TTS: 1500 * time.Microsecond, HasTTS: true}, ""},
		{"custom json", JSON, Fields{"url": "req.path", "status": "code", "time": "ts", "tts": "secs"},
			`{"ts":1796039704,"req":{"path":"/b"},"code":404,"secs":0.25}`,
			Record{Time: at, Method: "GET", URL: []byte("/b"), Status: 404, Bytes: -1, TTS: 250 * time.Millisecond, HasTTS: true}, ""},
		{"auto reads json", Auto, nil,
			`{"timestamp":"2026-11-30T11:55:04Z","url":"/c","status":500}`,
			Record{Time: at, Method: "GET", URL: []byte("/c"), Status: 500, Bytes: -1}, ""},
		{"auto reads ncsa", Auto, nil,
			`::1 - - [30/Nov/2026:11:55:04 +0000] "GET /d HTTP/1.0" 200 5`,
			Record{Time: at, Method: "GET", URL: []byte("/d"), Status: 200, Bytes: 5}, ""},
		{"torn line", NCSA, nil, `::1 - - [30/Nov/2026:11:55:04 +0000] "GET /d HT`, Record{}, `no "request"`},
		{"bad time", NCSA, nil, `::1 - - [30/Nov/2026:1:55:04 +0000] "GET /d HTTP/1.0" 200 5`, Record{}, "time"},
		{"bad status", NCSA, nil, `::1 - - [30/Nov/2026:11:55:04 +0000] "GET /d HTTP/1.0" abc 5`, Record{}, "status"},
		{"json without status", FastlyJSON, nil, `{"timestamp":"2026-11-30T11:55:04Z","url":"/c"}`, Record{}, "status"},
		{"json in ncsa format", NCSA, nil, `{"url":"/c","status":200}`, Record{}, "time"},
		{"not json", JSON, Fields{"url": "u", "status": "s"}, `{"u":`, Record{}, "JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := NewParser(c.format, c.fields)
			require.NoError(t, err)
			var r Record
			err = p.Parse([]byte(c.line), &r)
			if c.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.err)
				return
			}
			require.NoError(t, err)
			assert.True(t, c.want.Time.Equal(r.Time), "time %s", r.Time)
			r.Time = c.want.Time
			assert.Equal(t, c.want, r)
		})
	}
}

func TestNewParserErrors(t *testing.T) {
	_, err := NewParser(JSON, Fields{"url": "u"})
	assert.ErrorContains(t, err, "--field url=KEY and --field status=KEY")
	_, err = NewParser("apache", nil)
	assert.ErrorContains(t, err, "--format")
	_, _, err = ParseFieldSpec("colour=c")
	assert.ErrorContains(t, err, "unknown part")
	_, _, err = ParseFieldSpec("status")
	assert.ErrorContains(t, err, "part=key")
}

func TestTarball(t *testing.T) {
	cases := []struct{ path, pkg, ver string }{
		{"/left-pad/-/left-pad-1.3.0.tgz", "left-pad", "1.3.0"},
		{"/@babel/core/-/core-7.24.0.tgz", "@babel/core", "7.24.0"},
		{"/@babel%2fcore/-/core-7.24.0.tgz", "@babel/core", "7.24.0"},
		{"/@babel%2Fcore/-/core-7.24.0-beta.1.tgz", "@babel/core", "7.24.0-beta.1"},
		{"/a-b/-/a-b-0.0.1-rc.1+build.5.tgz", "a-b", "0.0.1-rc.1+build.5"},
		{"/left-pad", "", ""},
		{"/left-pad/-/right-pad-1.0.0.tgz", "", ""},
		{"/left-pad/-/left-pad-latest.tgz", "", ""},
		{"/left-pad/-/left-pad-.tgz", "", ""},
		{"/left-pad/-/sub/left-pad-1.0.0.tgz", "", ""},
		{"/@scope/-/scope-1.0.0.tgz", "", ""},
		{"/a/b/-/b-1.0.0.tgz", "", ""},
		{"/-/left-pad-1.0.0.tgz", "", ""},
	}
	for _, c := range cases {
		pkg, ver, ok := Tarball([]byte(c.path))
		assert.Equal(t, c.pkg != "", ok, c.path)
		assert.Equal(t, c.pkg, pkg, c.path)
		assert.Equal(t, c.ver, ver, c.path)
	}
	assert.Equal(t, "/x/-/x-1.0.0.tgz", string(Path([]byte("https://cdn.example:443/x/-/x-1.0.0.tgz?token=abc"))))
	assert.Equal(t, "/", string(Path([]byte("http://host"))))
}

// The flat scanner must read what encoding/json reads, and refuse what it
// refuses.
func TestJSONFastPathMatchesEncodingJSON(t *testing.T) {
	lines := []string{
		`{"timestamp":"2026-11-30T11:55:04Z","url":"\/a\/-\/a-1.0.0.tgz","status":200}`,
		`{ "url" : "/b?q=\u00e9" , "status" : "404", "timestamp" : 1796039704.5, "extra": {"x": [1, "}"]}}`,
		`{"url":"/c","status":500,"timestamp":"2026-11-30 11:55:04","cache_status":null,"response_body_size":true}`,
		`{"url":"/c","status":500,"timestamp":"2026-11-30T11:55:04+01:00"}`,
		`{"url":"/d","status":200,"timestamp":"2026-11-30T11:55:04"} trailing`,
		`{"url":"/d","status":200,"timestamp":"2026-11-30T11:55:04"`,
		`{"url":"/d" "status":200}`,
		`{}`,
		`[]`,
	}
	fast, err := NewParser(FastlyJSON, nil)
	require.NoError(t, err)
	for _, l := range lines {
		slow, _ := NewParser(FastlyJSON, nil)
		slow.nested = true // forces encoding/json
		var a, b Record
		ea, eb := fast.Parse([]byte(l), &a), slow.Parse([]byte(l), &b)
		assert.Equal(t, eb == nil, ea == nil, "%s: fast %v, encoding/json %v", l, ea, eb)
		assert.True(t, a.Time.Equal(b.Time), l)
		a.Time, b.Time = time.Time{}, time.Time{}
		assert.Equal(t, b, a, l)
	}
}
