package secret

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// SplitURL removes the user:password@ part from raw and returns the URL
// without it plus the credentials it held. A URL without userinfo comes
// back unchanged with zero Credentials. The error never quotes raw, which
// may hold a password.
func SplitURL(raw string) (clean string, creds Credentials, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", Credentials{}, fmt.Errorf("invalid URL %s: %v", RedactURL(raw), err)
	}
	if u.User == nil {
		return raw, Credentials{}, nil
	}
	creds.User = u.User.Username()
	creds.Password, _ = u.User.Password()
	u.User = nil
	return u.String(), creds, nil
}

// RedactURL returns raw fit for printing: a password in the userinfo
// becomes xxxxx (the user stays, messages need it) and the values of query
// parameters that carry secrets (token, password, key, p as in InfluxDB
// 1.x's u=&p=, ...) become xxxxx. A URL that does not parse is redacted by
// pattern, so even a broken --url is safe to echo.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		s := userinfoPattern().ReplaceAllString(raw, "${1}:"+Mask+"@")
		if i := strings.IndexByte(s, '?'); i >= 0 {
			s = s[:i+1] + redactQuery(s[i+1:])
		}
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), Mask)
	}
	if u.RawQuery != "" {
		u.RawQuery = redactQuery(u.RawQuery)
	}
	return u.String()
}

// userinfoPattern is compiled on first use: every binary links this
// package and most runs never need it (see BENCHMARKS.md on start-up).
var userinfoPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(//[^/@:?#]*):[^/?#]*@`) })

// brokenUserinfo captures the user and password of userinfoPattern.
var brokenUserinfo = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`//([^/@:?#]*):([^/?#]*)@`) })

// redactQuery keeps parameter order and spelling, replacing only values.
func redactQuery(q string) string {
	parts := strings.Split(q, "&")
	for i, p := range parts {
		name, _, hasValue := strings.Cut(p, "=")
		if !hasValue {
			continue
		}
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if secretParam(name) {
			parts[i] = p[:strings.IndexByte(p, '=')+1] + Mask
		}
	}
	return strings.Join(parts, "&")
}

func secretParam(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "p", "pw", "pass", "pwd", "sig", "auth":
		return true
	}
	for _, w := range []string{"token", "password", "passwd", "secret", "key", "signature", "credential", "auth"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}
