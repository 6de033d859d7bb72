package secret

import (
	"encoding/base64"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

// ScrubPatterns masks the credentials text can be seen to carry without
// knowing them: the base64 after "Basic " when it decodes to user:password,
// the token after "Bearer ", and the password of a URL's userinfo. It is
// the net under the Redactor for what no option or document told the run:
// a server that echoes another client's Authorization header, an error
// that quotes a URL with its password.
func ScrubPatterns(s string) string {
	if hasFold(s, "basic", "Basic", "BASIC") {
		s = basicPattern().ReplaceAllStringFunc(s, func(m string) string {
			sub := basicPattern().FindStringSubmatch(m)
			if !isBasicCredential(sub[2]) {
				return m
			}
			return sub[1] + Mask
		})
	}
	if hasFold(s, "bearer", "Bearer", "BEARER") {
		s = bearerPattern().ReplaceAllString(s, "${1}"+Mask)
	}
	if strings.Contains(s, "://") && strings.Contains(s, "@") {
		s = textUserinfoPattern().ReplaceAllString(s, "${1}:"+Mask+"@")
	}
	return s
}

// hasFold reports whether s contains one of the spellings of a word: a
// cheap test before a regular expression.
func hasFold(s string, spellings ...string) bool {
	for _, w := range spellings {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func isBasicCredential(b64 string) bool {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if dec, err := enc.DecodeString(b64); err == nil {
			// "Basic authentication" decodes too: only printable
			// user:password text counts.
			return strings.Contains(string(dec), ":") && utf8.Valid(dec) && Sanitize(string(dec)) == string(dec)
		}
	}
	return false
}

// The patterns are compiled on first use: most runs print no such text
// (see BENCHMARKS.md on start-up).
var (
	basicPattern = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)(basic(?:\s+|%20|\+))([A-Za-z0-9+/_-]{4,}={0,2})`)
	})
	bearerPattern = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)(bearer(?:\s+|%20|\+))[A-Za-z0-9._~+/-]{8,}=*`)
	})
	// textUserinfoPattern finds user:password@ after // in free text: no
	// blank inside, so two URLs of one message are never joined.
	textUserinfoPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(//[^/@:?#\s]*):[^/?#@\s]*@`) })
)

// Sanitize makes text a server (or anyone but this program) controls fit
// for one line of output, one log field or one chat message: control
// characters (C0 with tab, CR and LF, DEL, C1 with NEL), the Unicode line
// and paragraph separators and the bidirectional overrides that reorder
// what a terminal shows each become a space, and bytes that are not UTF-8
// become U+FFFD. It does not redact: see Redactor.Redact.
func Sanitize(s string) string {
	clean := true
	for i, r := range s {
		if unsafeRune(r) || (r == utf8.RuneError && !validAt(s, i)) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unsafeRune(r) {
			return ' '
		}
		return r
	}, s)
}

func validAt(s string, i int) bool {
	r, size := utf8.DecodeRuneInString(s[i:])
	return r != utf8.RuneError || size == 3
}

func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r == '\u2028', r == '\u2029':
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069', r == '\u200e', r == '\u200f', r == '\u061c':
		return true
	}
	return false
}
