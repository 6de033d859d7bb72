package httpprobe

import (
	"bytes"
	"context"
	"crypto/sha512"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/registry-checks/registry-checks/lib/httpclient"
)

// BenchmarkTarballProbe streams a 4 MiB tarball through a sha512 hash, the
// hot path of check_tarball_origin: memory per op must stay far below the
// body size (nothing is buffered).
func BenchmarkTarballProbe(b *testing.B) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	defer srv.Close()
	hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
	if err != nil {
		b.Fatal(err)
	}
	p := New(hc)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		h := sha512.New()
		resp, err := p.Do(context.Background(), Request{URL: srv.URL + "/x.tgz", MaxBytes: 8 << 20, Body: h})
		if err != nil || resp.Bytes != int64(len(body)) {
			b.Fatal(err, resp.Bytes)
		}
	}
}
