package plugin

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// FuzzRedactThenCut: for any secret, any place of the output it is echoed
// in (summary, long output, a sub, a perfdata label
// and the summary nagios.Aggregate writes), any of its forms
// (raw, the base64 of user:password after "Basic ", URL- and
// JSON-escaped) at any position, and any --output-limit from 20 to 4096,
// the printed output holds neither the secret, nor any 6-byte piece of it,
// nor any of its base64 user:password form; and neither does a server
// reason cut by Redactor.Clip. The seeds run with every go test; make fuzz
// searches further.
func FuzzRedactThenCut(f *testing.F) {
	f.Add("Sup3rSecretPassw0rd", "monitor", uint16(5), uint16(40), uint8(0), uint8(0))
	f.Add("Sup3rSecretPassw0rd", "monitor", uint16(37), uint16(61), uint8(1), uint8(0))
	f.Add("p@ss w/rd:&?=#", "admin", uint16(300), uint16(4096), uint8(2), uint8(1))
	f.Add("\"quoted\\pass<>&\"", "admin", uint16(2), uint16(20), uint8(4), uint8(2))
	f.Add("ünïcødé-pässwörd", "ops", uint16(90), uint16(150), uint8(3), uint8(3))
	f.Add("short", "u", uint16(0), uint16(0), uint8(1), uint8(1))
	f.Add("a|b=c'd;e", "monitor", uint16(64), uint16(100), uint8(0), uint8(3))
	f.Add("pipe|in  the\tpass", "monitor", uint16(10), uint16(300), uint8(0), uint8(4))
	f.Fuzz(func(t *testing.T, rawSecret, rawUser string, pos, rawLimit uint16, form, where uint8) {
		pass, user := fuzzSecret(rawSecret), fuzzUser(rawUser)
		limit := 20 + int(rawLimit)%(4096-20+1)
		b64 := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
		j, _ := json.Marshal(pass)
		echo := []string{pass, "Basic " + b64, url.QueryEscape(pass), url.PathEscape(pass), strings.Trim(string(j), `"`)}[int(form)%5]

		red := &secret.Redactor{}
		red.AddCredentials(secret.Credentials{User: user, Password: pass})
		const filler = "replication registry->db2 crashing: source unreachable, retried 5 times; "
		text := strings.Repeat(filler, 1+int(pos)/len(filler))
		at := int(pos) % len(text)
		with := text[:at] + "echo-" + echo + "-end " + text[at:]
		without := text[:at] + "echo--end " + text[at:]

		build := func(s string) nagios.Result {
			r := nagios.Result{Status: nagios.CRITICAL, Summary: "1 of 2 replications failing", Long: []string{"node http://db1:5984"},
				Subs: []nagios.Result{{Name: "registry->db3", Status: nagios.OK, Summary: "running"}}}
			switch where % 5 {
			case 0:
				r.Summary = s
			case 1:
				r.Long = append(r.Long, s)
			case 2:
				r.Subs = append(r.Subs, nagios.Result{Name: "_replicator/" + s, Status: nagios.CRITICAL, Summary: s})
			case 3:
				r.Perf = []nagios.Perf{{Label: s, Value: 1}}
			case 4:
				// As the checks build it: the summary names the failing sub.
				r = nagios.Aggregate("replications", []nagios.Result{
					{Name: "registry->db3", Status: nagios.OK, Summary: "running"},
					{Name: "_replicator/" + s, Status: nagios.CRITICAL, Summary: s, Long: []string{s}},
				})
			}
			return r
		}
		out := render("COUCH_REPLICATION", build(with), 1, limit, red)
		ref := render("COUCH_REPLICATION", build(without), 1, limit, red)
		if len(out) > limit {
			t.Fatalf("output of %d bytes over the limit %d", len(out), limit)
		}
		assertNoLeak(t, out, ref, pass, b64)

		for _, n := range []int{limit % 300, 200} {
			clipped := red.Clip(with, n)
			assertNoLeak(t, clipped, red.Clip(without, n)+without, pass, b64)
		}
	})
}

// assertNoLeak fails when out holds a 6-byte piece of one of the forms
// that the same output without the secret (ref) does not hold: a piece of
// "replication" in a password is no leak when the output says replication.
func assertNoLeak(t *testing.T, out, ref string, forms ...string) {
	t.Helper()
	for _, f := range forms {
		for i := 0; i+6 <= len(f); i++ {
			p := f[i : i+6]
			if strings.Contains(out, p) && !strings.Contains(ref, p) {
				t.Fatalf("output holds %q, a piece of %q:\n%s", p, f, out)
			}
		}
	}
}

// fuzzSecret makes a password of 8 to 64 bytes from the fuzzer's bytes:
// valid UTF-8, no control character (a password is typed), no 'x' (the
// mask is xxxxx, and a password of x's is found in every masked output).
func fuzzSecret(raw string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(raw, "") {
		if r < 0x20 || r == 0x7f || r == 'x' || (r >= 0x80 && r < 0xa0) || secret.Sanitize(string(r)) != string(r) || r == '\uFFFD' {
			continue
		}
		if b.Len()+len(string(r)) > 64 {
			break
		}
		b.WriteRune(r)
	}
	s := b.String()
	for len(s) < 8 {
		s += "Q7#k"
	}
	return s
}

// fuzzUser makes a user name: letters, as people name monitoring users.
func fuzzUser(raw string) string {
	var b strings.Builder
	for _, r := range raw {
		if (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') && r != 'x' && b.Len() < 16 {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "monitor"
	}
	return b.String()
}
