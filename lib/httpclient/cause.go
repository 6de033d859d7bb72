package httpclient

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/registry-checks/registry-checks/lib/nagios"
)

// Cause is the short form of an error for a first line that already names
// the object and where it was fetched: the status of an HTTP answer
// ("404 Not Found", without the server's own text), or the problem's
// message without its "METHOD URL: " ("connection refused", "timeout after
// 2s waiting for response headers"). The full message, URL and server text
// included, belongs in the long output.
func Cause(err error) string {
	if err == nil {
		return ""
	}
	var se *StatusError
	if errors.As(err, &se) && se.Code >= 400 {
		return fmt.Sprintf("%d %s", se.Code, http.StatusText(se.Code))
	}
	msg := nagios.AsProblem(err).Msg
	if loc := wherePrefix().FindStringIndex(msg); loc != nil {
		msg = msg[loc[1]:]
	}
	if loc := whereInside().FindStringIndex(msg); loc != nil {
		// "timeout after 10s waiting for GET URL" is "timeout after 10s".
		msg = strings.TrimSuffix(strings.TrimSpace(msg[:loc[0]]), " waiting") + msg[loc[1]:]
	}
	// How far a trickling body got is for the long output.
	if loc := bytesRead().FindStringIndex(msg); loc != nil {
		msg = msg[:loc[0]]
	}
	return msg
}

var bytesRead = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(` \(\d+ bytes read\)$`) })

// wherePrefix is the "METHOD URL: " every Classify message starts with;
// whereInside the " of METHOD URL" or " for METHOD URL" of a timeout's.
var (
	wherePrefix = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Z]+ [a-z][a-z0-9+.-]*://\S*: `) })
	whereInside = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`( of| for)? [A-Z]+ [a-z][a-z0-9+.-]*://\S*`)
	})
)
