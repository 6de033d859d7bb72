package httpclient

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/registry-checks/registry-checks/lib/secret"
)

// CheckURL says, as a bad-argument message naming option, why raw is not
// an http:// or https:// URL with a host, or returns nil. Checked before
// the run: net/http's own complaint ("unsupported protocol scheme \"\"")
// would come back as a probe failure of a URL nobody can reach.
func CheckURL(option, raw string) error {
	u, err := url.Parse(raw)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return nil
	}
	shown := raw
	if err != nil || u.User != nil || u.RawQuery != "" {
		shown = secret.RedactURL(raw) // it re-encodes; only where a secret may hide
	}
	return fmt.Errorf("%s %s: not an http:// or https:// URL with a host", option, strconv.Quote(shown))
}
