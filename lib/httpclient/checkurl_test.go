package httpclient

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckURL(t *testing.T) {
	tests := []struct {
		raw  string
		want string // "" for a valid URL
	}{
		{"http://127.0.0.1:18081", ""},
		{"https://cdn.example/pkg/-/pkg-1.0.0.tgz", ""},
		{"x y", `--origin "x y": not an http:// or https:// URL with a host`},
		{"127.0.0.1:18080/debug-mini", `--origin "127.0.0.1:18080/debug-mini": not an http:// or https:// URL with a host`},
		{"ftp://host/x", `--origin "ftp://host/x": not an http:// or https:// URL with a host`},
		{"http:///path", `--origin "http:///path": not an http:// or https:// URL with a host`},
		{"http://u:" + password + "@[::1", `--origin "http://u:xxxxx@[::1": not an http:// or https:// URL with a host`},
	}
	for _, tt := range tests {
		err := CheckURL("--origin", tt.raw)
		if tt.want == "" {
			assert.NoError(t, err, tt.raw)
			continue
		}
		if assert.Error(t, err, tt.raw) {
			assert.Equal(t, tt.want, err.Error())
			assert.NotContains(t, err.Error(), password)
		}
	}
}
