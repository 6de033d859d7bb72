package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const pw = "hunter2-Pa55"

func writeFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "creds")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	require.NoError(t, os.Chmod(p, mode)) // WriteFile's mode is masked by umask
	return p
}

func TestLoadFileFormats(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    Credentials
		wantErr string
	}{
		{"one line", "admin:" + pw + "\n", Credentials{User: "admin", Password: pw}, ""},
		{"one line no newline", "admin:" + pw, Credentials{User: "admin", Password: pw}, ""},
		{"password with colon and equals", "admin:a:b=c", Credentials{User: "admin", Password: "a:b=c"}, ""},
		{"one line after comments", "# the couch admin\n\nadmin:" + pw + "\r\n", Credentials{User: "admin", Password: pw}, ""},
		{"key value", "# comment\nuser=admin\n\npassword=" + pw + "\n", Credentials{User: "admin", Password: pw}, ""},
		{"username key, spaces, quotes", "username = admin\npassword = \"" + pw + "\"\n", Credentials{User: "admin", Password: pw}, ""},
		{"token only", "token='tok-123456'\n", Credentials{Token: "tok-123456"}, ""},
		{"empty", "\n# nothing\n", Credentials{}, "contains no credentials"},
		{"bare secret", pw + "\n", Credentials{}, "line 1 is neither user:password nor key=value"},
		{"two bare lines", "admin\n" + pw + "\n", Credentials{}, "has 2 lines"},
		{"unknown key in kv file", "user=admin\n" + pw + "\n", Credentials{}, "line 2 is not one of"},
		{"password without user", "password=" + pw + "\n", Credentials{}, "no user= line"},
		{"empty user", ":" + pw, Credentials{}, "user before ':' is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, tt.content, 0o600)
			got, err := LoadFile(p)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Contains(t, err.Error(), p, "the message names the file")
				assert.NotContains(t, err.Error(), pw, "the message never shows the content")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestLoadFileRefusesOpenModes(t *testing.T) {
	if os.Geteuid() == 0 {
		// Root reads any file, but the mode check does not depend on who reads.
		t.Log("running as root; the mode check still applies")
	}
	tests := []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o700, true},
		{0o640, true}, // group-readable: root:nagios, root:telegraf
		{0o440, true},
		{0o660, false},
		{0o650, false},
		{0o604, false},
		{0o620, false},
		{0o602, false},
		{0o644, false},
		{0o666, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%04o", tt.mode), func(t *testing.T) {
			p := writeFile(t, "admin:"+pw, tt.mode)
			c, err := LoadFile(p)
			if tt.ok {
				require.NoError(t, err)
				assert.Equal(t, "admin", c.User)
				return
			}
			require.Error(t, err)
			msg := err.Error()
			assert.Contains(t, msg, "open to others or writable by its group")
			assert.Contains(t, msg, fmt.Sprintf("mode %04o", tt.mode))
			assert.Contains(t, msg, "chmod 600 "+p)
			assert.NotContains(t, msg, pw)
			assert.Equal(t, Credentials{}, c)
		})
	}
}

func TestLoadFileMissingAndDirectory(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadFile(filepath.Join(dir, "nope"))
	require.Error(t, err)
	assert.Equal(t, "credentials file "+filepath.Join(dir, "nope")+": no such file or directory", err.Error())

	_, err = LoadFile(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a regular file")
}

func TestFromLookup(t *testing.T) {
	env := map[string]string{"COUCHDB_USER": "admin", "COUCHDB_PASSWORD": pw, "TOK": "t0ken"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	assert.Equal(t, Credentials{User: "admin", Password: pw}, FromLookup(lookup, "COUCHDB_USER", "COUCHDB_PASSWORD", ""))
	assert.Equal(t, Credentials{Token: "t0ken"}, FromLookup(lookup, "", "", "TOK"))
	assert.Equal(t, Credentials{}, FromLookup(lookup, "NOPE_USER", "NOPE_PASS", "NOPE_TOKEN"))
}

func TestOr(t *testing.T) {
	tests := []struct {
		name        string
		c, fallback Credentials
		want        Credentials
	}{
		{"empty takes fallback", Credentials{}, Credentials{User: "a", Password: "p"}, Credentials{User: "a", Password: "p"}},
		{"user only gets password", Credentials{User: "a"}, Credentials{Password: "p"}, Credentials{User: "a", Password: "p"}},
		{"same user gets password", Credentials{User: "a"}, Credentials{User: "a", Password: "p"}, Credentials{User: "a", Password: "p"}},
		{"other user's password not mixed in", Credentials{User: "a"}, Credentials{User: "b", Password: "p"}, Credentials{User: "a"}},
		{"complete wins", Credentials{User: "a", Password: "x"}, Credentials{User: "a", Password: "p"}, Credentials{User: "a", Password: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.c.Or(tt.fallback))
		})
	}
}

func TestCredentialsNeverPrintSecrets(t *testing.T) {
	c := Credentials{User: "admin", Password: pw, Token: "tok-abcdef"}
	type holder struct {
		Name  string
		Creds Credentials
		Ptr   *Credentials
	}
	h := holder{"x", c, &c}
	outs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%10v", "%d"} {
		outs[verb] = fmt.Sprintf(verb, c)
		outs[verb+" ptr"] = fmt.Sprintf(verb, &c)
		outs[verb+" nested"] = fmt.Sprintf(verb, h)
	}
	outs["Sprint"] = fmt.Sprint(c, &c, h)
	outs["Println"] = fmt.Sprintln(c)
	j, err := json.Marshal(h)
	require.NoError(t, err)
	outs["json"] = string(j)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("connect", "creds", c)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("connect", "creds", c)
	outs["slog"] = buf.String()
	for name, out := range outs {
		assert.NotContains(t, out, pw, name)
		assert.NotContains(t, out, "tok-abcdef", name)
	}
	assert.Equal(t, "user=admin password=xxxxx token=xxxxx", fmt.Sprintf("%v", c))
	assert.Contains(t, outs["%+v nested"], "user=admin")
	assert.Contains(t, outs["slog"], "admin")
	assert.Equal(t, "(no credentials)", Credentials{}.String())
}

func TestSplitURL(t *testing.T) {
	tests := []struct {
		raw     string
		clean   string
		creds   Credentials
		wantErr string
	}{
		{"http://127.0.0.1:5984", "http://127.0.0.1:5984", Credentials{}, ""},
		{"http://admin:" + pw + "@db2:5984/", "http://db2:5984/", Credentials{User: "admin", Password: pw}, ""},
		{"https://admin@db2:6984/x?y=1", "https://db2:6984/x?y=1", Credentials{User: "admin"}, ""},
		{"http://ad%40min:p%2Fw%3Ax@db2:5984", "http://db2:5984", Credentials{User: "ad@min", Password: "p/w:x"}, ""},
		{"http://admin:" + pw + "@db 2:5984", "", Credentials{}, "invalid URL http://admin:xxxxx@db 2:5984"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			clean, creds, err := SplitURL(tt.raw)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), pw)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.clean, clean)
			assert.Equal(t, tt.creds, creds)
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"http://db2:5984/_up", "http://db2:5984/_up"},
		{"http://admin:" + pw + "@db2:5984/_up", "http://admin:xxxxx@db2:5984/_up"},
		{"http://admin@db2:5984/", "http://admin@db2:5984/"},
		{"http://influx:8086/write?db=m&u=writer&p=" + pw, "http://influx:8086/write?db=m&u=writer&p=xxxxx"},
		{"http://x/api/v2/write?org=o&bucket=b&token=" + pw + "&precision=s", "http://x/api/v2/write?org=o&bucket=b&token=xxxxx&precision=s"},
		{"http://x/?api_key=" + pw + "&Password=" + pw + "&access_token=" + pw, "http://x/?api_key=xxxxx&Password=xxxxx&access_token=xxxxx"},
		{"http://x/?keyword=npm", "http://x/?keyword=xxxxx"}, // over-redaction is the safe side
		{"http://admin:" + pw + "@db 2:5984/?token=" + pw, "http://admin:xxxxx@db 2:5984/?token=xxxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got := RedactURL(tt.raw)
			assert.Equal(t, tt.want, got)
			assert.NotContains(t, got, pw)
		})
	}
}

func TestRedactor(t *testing.T) {
	var r Redactor
	assert.Equal(t, "nothing registered", r.Redact("nothing registered"))
	r.Add("ab") // too short: ignored, see MinSecretLen
	r.Add("s3cret")
	r.Add("s3cret-longer")
	r.Add("p@ss w/rd")
	r.AddCredentials(Credentials{User: "admin", Password: "pa:ss\"x", Token: "tok-xyz"})
	tests := []struct{ in, want string }{
		{"CRITICAL - login s3cret failed", "CRITICAL - login xxxxx failed"},
		{"s3cret-longer and s3cret", "xxxxx and xxxxx"},
		{"url http://u:p%40ss+w%2Frd@h/ and p%40ss%20w%2Frd", "url http://u:xxxxx@h/ and xxxxx"},
		{`json {"password":"pa:ss\"x"}`, `json {"password":"xxxxx"}`},
		{"token tok-xyz", "token xxxxx"},
		{"Authorization: Basic YWRtaW46cGE6c3MieA==", "Authorization: Basic xxxxx"},
		{"ab stays, OK", "ab stays, OK"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, r.Redact(tt.in), tt.in)
	}
}

func TestRedactorConcurrent(t *testing.T) {
	var r Redactor
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() { defer wg.Done(); r.Add(fmt.Sprintf("secret-%d", i)) }()
		go func() { defer wg.Done(); _ = r.Redact("secret-1 secret-2") }()
	}
	wg.Wait()
	got := r.Redact("secret-0 secret-7")
	assert.Equal(t, "xxxxx xxxxx", got)
	assert.False(t, strings.Contains(got, "secret"))
}

func TestRedactorForms(t *testing.T) {
	var r Redactor
	r.AddCredentials(Credentials{User: "monitor", Password: "p@ss/w<rd>&"})
	for _, in := range []string{
		"p@ss/w<rd>&",
		"p%40ss%2Fw%3Crd%3E%26", "p%40ss%2fw%3crd%3e%26", // upper- and lower-case escapes
		`p@ss/w\u003crd\u003e\u0026`, // encoding/json's escaping
		"Basic " + base64.StdEncoding.EncodeToString([]byte("monitor:p@ss/w<rd>&")),
		base64.RawURLEncoding.EncodeToString([]byte("monitor:p@ss/w<rd>&")),
	} {
		got := r.Redact("echo " + in + " end")
		assert.NotContains(t, got, "ss/w", in)
		assert.Contains(t, got, "xxxxx", in)
	}
	assert.Equal(t, "authentication failed for user monitor", r.Redact("authentication failed for user monitor"), "the user alone is no secret")
}

func TestRedactorAddURL(t *testing.T) {
	var r Redactor
	r.AddURL("https://ops:Fastly-Secret-1@cdn.example/-/ping?token=T0ken-Value&x=1")
	r.AddURL("http://broken:Br0ken-Secret@[::1/x") // does not parse
	r.AddURL("no url at all")
	got := r.Redact("Fastly-Secret-1 T0ken-Value Br0ken-Secret x=1 " + base64.StdEncoding.EncodeToString([]byte("ops:Fastly-Secret-1")))
	assert.Equal(t, "xxxxx xxxxx xxxxx x=1 xxxxx", got)
}

func TestScrubPatterns(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte("someone:else's-pass"))
	tests := []struct{ in, want string }{
		{"auth=[Basic " + b64 + "]", "auth=[Basic xxxxx]"},
		{"authorization: BASIC " + b64, "authorization: BASIC xxxxx"},
		{"Basic authentication required", "Basic authentication required"},
		{"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc", "Authorization: Bearer xxxxx"},
		{"source http://admin:hunter22@db1:5984/registry and http://db2/", "source http://admin:xxxxx@db1:5984/registry and http://db2/"},
		{"mail me@example.com at http://db1/", "mail me@example.com at http://db1/"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ScrubPatterns(tt.in), tt.in)
		var nilRedactor *Redactor
		assert.Equal(t, tt.want, nilRedactor.Redact(tt.in), "a nil Redactor scrubs too")
	}
}

func TestClipRedactsBeforeTheCut(t *testing.T) {
	var r Redactor
	r.Add("Sup3rSecret")
	for n := 0; n < 40; n++ {
		got := r.Clip("reason: echo-Sup3rSecret-end", n)
		assert.LessOrEqual(t, len(got), n)
		assert.NotContains(t, got, "Sup3r", n)
	}
	assert.Equal(t, "héllo...", Cut("héllo wörld", 9), "cut at a rune boundary")
	assert.Equal(t, "short", Cut("short", 5))
}

func TestSanitize(t *testing.T) {
	assert.Equal(t, "plain text", Sanitize("plain text"))
	assert.Equal(t, "a b c d e f g h", Sanitize("a\nb\rc\td\x00e\u2028f\u0085g\u202eh"))
	assert.Equal(t, "bad \uFFFD byte", Sanitize("bad \xff byte"))
	assert.Equal(t, "ünïcødé stays", Sanitize("ünïcødé stays"))
}

// CredentialSecrets, each given to Add, redact what AddCredentials does:
// the basic-auth base64 in every spelling, not only the padded standard
// one (an unpadded or URL-alphabet copy would otherwise slip by).
func TestCredentialSecretsMatchAddCredentials(t *testing.T) {
	c := Credentials{User: "monitor", Password: "pa?ss>w0rd~~"}
	var viaAdd, viaList Redactor
	viaAdd.AddCredentials(c)
	for _, s := range CredentialSecrets(c) {
		viaList.Add(s)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		text := "echoed (" + enc.EncodeToString([]byte(c.User+":"+c.Password)) + ") end"
		assert.Equal(t, viaAdd.Redact(text), viaList.Redact(text))
		assert.Equal(t, "echoed (xxxxx) end", viaList.Redact(text))
	}
}
