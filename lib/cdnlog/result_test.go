package cdnlog

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/metrics"
	"github.com/registry-checks/registry-checks/lib/secret"
)

func TestFormatting(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 12408: "12,408", 1234567: "1,234,567", -4500: "-4,500"} {
		assert.Equal(t, want, thousands(n))
	}
	assert.Equal(t, "0.02%", pct(0.02))
	assert.Equal(t, "91.3%", pct(91.26))
	assert.Equal(t, "n/a", pct(math.NaN()))
	assert.Equal(t, "61s", roundDur(61*time.Second))
	assert.Equal(t, "1h0m", roundDur(59*time.Minute+50*time.Second))
	assert.Equal(t, "41h33m", roundDur(41*time.Hour+33*time.Minute+10*time.Second))
}

func TestSamplesDropQueryStrings(t *testing.T) {
	a := NewAggregate(Limits{Samples: 2})
	a.Bad([]byte("GET /x?token=s3cret&a=1 HTTP/1.1\x00tail"), errors.New("bad"))
	a.Bad([]byte("second"), errors.New("bad"))
	a.Bad([]byte("third"), errors.New("bad"))
	assert.Equal(t, int64(3), a.Unparsable)
	assert.Len(t, a.Samples, 2)
	assert.Equal(t, `GET /x?… HTTP/1.1\x00tail`, a.Samples[0].Line)
	assert.NotContains(t, a.Samples[0].Line, "s3cret")
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Add(time.Duration(i) * time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 500 * time.Millisecond, 0.95: 950 * time.Millisecond, 0.99: 990 * time.Millisecond} {
		got := h.Quantile(q)
		assert.InEpsilon(t, float64(want), float64(got), 0.05, "p%v: %s", q*100, got)
	}
	assert.Equal(t, time.Duration(-1), (*Histogram)(nil).Quantile(0.5))
}

// Two lines of one minute, a download and a partial one: the points of a
// run whose state has sequence number 7.
func ExampleAggregate_Points() {
	p, _ := NewParser(NCSA, nil)
	a := NewAggregate(Limits{})
	var r Record
	for _, l := range []string{
		`192.0.2.1 - - [30/Nov/2026:11:55:04 +0000] "GET /left-pad/-/left-pad-1.3.0.tgz HTTP/1.1" 200 1234 "-" "npm" hit 532`,
		`192.0.2.2 - - [30/Nov/2026:11:55:09 +0000] "GET /left-pad/-/left-pad-1.3.0.tgz HTTP/1.1" 206 10 "-" "npm" miss 1532`,
	} {
		p.Parse([]byte(l), &r)
		a.Add(&r)
	}
	body, _ := metrics.Encode(nil, a.Points(7, "cache1:/var/log/varnish/varnishncsa.log"))
	fmt.Fprint(os.Stdout, string(body))
	// Output:
	// cdn_requests,source=cache1:/var/log/varnish/varnishncsa.log bytes=1244i,downloads=1i,downloads_partial=1i,hit_ratio=50,hits=1i,misses=1i,passes=0i,ratio_4xx=0,ratio_5xx=0,requests=2i,status_1xx=0i,status_2xx=2i,status_3xx=0i,status_4xx=0i,status_5xx=0i,status_other=0i,tts_p50=0.000546414,tts_p95=0.001598406,tts_p99=0.001598406 1796039700000000007
	// cdn_downloads,package=left-pad,source=cache1:/var/log/varnish/varnishncsa.log,version=1.3.0 count=1i,partial=1i 1796039700000000007
}

// A registered secret that straddles the sample's 160-character cut is
// masked whole, not left as a prefix the redactor no longer recognises;
// a userinfo password is scrubbed; a field in the reason is quoted once.
func TestSamplesRedactedBeforeTheCut(t *testing.T) {
	const tok = "Zk3sekr1tT0ken-0123456789abcdef"
	red := &secret.Redactor{}
	red.Add(tok)
	a := NewAggregate(Limits{Samples: 3, Redactor: red})
	a.Bad([]byte(strings.Repeat("a", 150)+tok+" tail"), errors.New("bad"))
	a.Bad([]byte(`GET http://alice:hunter2@cdn.example/x HTTP/1.1`), errors.New("bad"))
	p, _ := NewParser(NCSA, nil)
	var r Record
	line := []byte(`192.0.2.1 - - [30/Nov/2026:11:55:04 +0000] "GET /x HTTP/1.1" ` + tok + ` 12`)
	err := p.Parse(line, &r)
	require.Error(t, err)
	a.Bad(line, err)
	require.Len(t, a.Samples, 3)
	for _, s := range a.Samples {
		for i := 4; i <= len(tok); i++ {
			assert.NotContains(t, s.Line+s.Reason, tok[:i])
		}
	}
	assert.Equal(t, strings.Repeat("a", 150)+secret.Mask+" tail", a.Samples[0].Line)
	assert.NotContains(t, a.Samples[1].Line, "hunter2")
	assert.Equal(t, `status "`+secret.Mask+`" is not a number`, a.Samples[2].Reason)
}
