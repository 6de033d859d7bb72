// Package secret loads credentials (files, environment, URL userinfo) and
// keeps them out of everything the suite prints: Credentials format
// themselves redacted, URLs are printed through RedactURL, and a Redactor
// scrubs every registered secret from the final output as a last line of
// defense.
package secret

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Mask replaces a secret wherever one would have been shown.
const Mask = "xxxxx"

// Credentials are what a request authenticates with: HTTP basic auth (User,
// Password) or a bearer token (Token).
//
// Every fmt verb, slog and encoding/json print the redacted form, so a
// Credentials value logged by accident shows no secret (slog's handlers
// go through Format and MarshalJSON: a LogValue method would link log/slog
// into every binary, whose start-up is most of a check's time). fmt can only call
// those methods on exported fields, so keep Credentials in exported struct
// fields (an unexported field is printed by reflection, unredacted).
type Credentials struct {
	User     string
	Password string
	Token    string
}

// IsZero reports whether no credential at all is set.
func (c Credentials) IsZero() bool { return c == Credentials{} }

// Secrets returns the values a Redactor must never let through.
func (c Credentials) Secrets() []string {
	var s []string
	if c.Password != "" {
		s = append(s, c.Password)
	}
	if c.Token != "" {
		s = append(s, c.Token)
	}
	return s
}

// CredentialSecrets are c's Secrets plus the base64 of user:password that
// an Authorization header carries, in every spelling AddCredentials
// registers (padded and not, both alphabets): what to register with a
// Redactor (Add each) when the credentials travel as strings.
func CredentialSecrets(c Credentials) []string {
	s := c.Secrets()
	if c.User != "" && c.Password != "" {
		s = append(s, base64Forms(c.User+":"+c.Password)...)
	}
	return s
}

// Or fills the fields c lacks from fallback, the lower-precedence source.
// A fallback for another user is not mixed in: its password belongs to
// that user, not to c.User.
func (c Credentials) Or(fallback Credentials) Credentials {
	if c.User != "" && fallback.User != "" && c.User != fallback.User {
		return c
	}
	if c.User == "" {
		c.User = fallback.User
	}
	if c.Password == "" {
		c.Password = fallback.Password
	}
	if c.Token == "" {
		c.Token = fallback.Token
	}
	return c
}

// String is the redacted form: the user is named (messages need it), the
// password and token only show whether they are set.
func (c Credentials) String() string {
	if c.IsZero() {
		return "(no credentials)"
	}
	var parts []string
	if c.User != "" {
		parts = append(parts, "user="+c.User)
	}
	if c.Password != "" {
		parts = append(parts, "password="+Mask)
	}
	if c.Token != "" {
		parts = append(parts, "token="+Mask)
	}
	return strings.Join(parts, " ")
}

// GoString keeps %#v redacted too.
func (c Credentials) GoString() string { return "secret.Credentials{" + c.String() + "}" }

// Format makes every verb (%v %+v %#v %s %q %x ...) print the redacted
// form, since fmt would otherwise print the fields for %+v.
func (c Credentials) Format(f fmt.State, verb rune) {
	s := c.String()
	switch {
	case verb == 'v' && f.Flag('#'):
		s = c.GoString()
	case verb == 'q':
		s = fmt.Sprintf("%q", s)
	}
	_, _ = io.WriteString(f, s)
}

// MarshalJSON keeps credentials that end up in a JSON dump redacted.
func (c Credentials) MarshalJSON() ([]byte, error) {
	m := map[string]string{}
	if c.User != "" {
		m["user"] = c.User
	}
	if c.Password != "" {
		m["password"] = Mask
	}
	if c.Token != "" {
		m["token"] = Mask
	}
	return json.Marshal(m)
}

// maxFileSize bounds what LoadFile reads: a credentials file is a line or
// three, anything bigger is the wrong file.
const maxFileSize = 64 << 10

// LoadFile reads credentials from path. Two formats are accepted:
//
//	admin:s3cret                      one line, user:password (split at the first colon)
//
//	# comments and blank lines are ignored
//	user=admin                        (or username=)
//	password=s3cret
//	token=eyJ...
//
// The key=value form is recognised by a line starting with one of those
// keys followed by '='. Keys and values are trimmed of surrounding blanks
// and a value may be wrapped in matching single or double quotes.
//
// A file that group or others may read or write is refused, like ssh does
// with keys: a credentials file readable by everyone is a leak already.
// Error messages name the file and the line, never its content.
func LoadFile(path string) (Credentials, error) {
	data, err := readPrivate(path, "credentials file")
	if err != nil {
		return Credentials{}, err
	}
	c, err := parse(data)
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials file %s: %w", path, err)
	}
	return c, nil
}

// LoadValueFile reads a file that holds one secret value, such as a chat
// webhook URL (whose path is the secret) or a token, under LoadFile's
// rules: a regular file of mode 600 or 640 (or stricter), at most 64 KiB. Blank
// lines and # comments are ignored; exactly one line must remain, which
// is returned trimmed. Errors name the file, never its content.
func LoadValueFile(path string) (string, error) {
	data, err := readPrivate(path, "secret file")
	if err != nil {
		return "", err
	}
	var value string
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxFileSize+1)
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		value = t
		n++
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("secret file %s: %w", path, err)
	}
	if n != 1 {
		return "", fmt.Errorf("secret file %s has %d non-comment lines; want exactly one (the value)", path, n)
	}
	return value, nil
}

// readPrivate reads a file of secrets, refusing one that others may use in
// any way or that its group may write or execute (like ssh does with keys:
// such a file is a leak already). Group read is allowed: 0640 root:nagios or
// root:telegraf is how one file is shared with the user that runs the checks
// without giving it the file. what names the kind of file in errors.
func readPrivate(path, what string) ([]byte, error) {
	// Stat before opening: opening a FIFO blocks until someone writes to
	// it, and the run would end at -t with no reason given.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s %s is not a regular file (%s)", what, path, fileKind(fi.Mode()))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, unwrapPathError(err))
	}
	defer f.Close()
	// Stat the open file, not the path, so the mode checked is the mode of
	// the content read.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, unwrapPathError(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s %s is not a regular file", what, path)
	}
	if perm := fi.Mode().Perm(); perm&0o037 != 0 {
		return nil, fmt.Errorf("%s %s is open to others or writable by its group (mode %04o); refusing to use it: run chmod 600 %s (or chmod 640 for a group that only reads it)", what, path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, unwrapPathError(err))
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s %s is larger than %d KiB; it is not a %s", what, path, maxFileSize>>10, what)
	}
	return data, nil
}

// unwrapPathError drops the *PathError wrapper, whose text repeats the path.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

type line struct {
	n    int
	text string
}

func parse(data []byte) (Credentials, error) {
	var lines []line
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxFileSize+1)
	n := 0
	for sc.Scan() {
		n++
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		lines = append(lines, line{n, t})
	}
	if err := sc.Err(); err != nil {
		return Credentials{}, err
	}
	if len(lines) == 0 {
		return Credentials{}, errors.New("contains no credentials (want user:password or user=/password=/token= lines)")
	}
	kv := false
	for _, l := range lines {
		if _, _, ok := knownKey(l.text); ok {
			kv = true
			break
		}
	}
	if !kv {
		if len(lines) > 1 {
			return Credentials{}, fmt.Errorf("has %d lines but no user=/password=/token= keys; the one-line form is user:password", len(lines))
		}
		user, pass, ok := strings.Cut(lines[0].text, ":")
		if !ok {
			return Credentials{}, fmt.Errorf("line %d is neither user:password nor key=value", lines[0].n)
		}
		user = strings.TrimSpace(user)
		if user == "" {
			return Credentials{}, fmt.Errorf("line %d: the user before ':' is empty", lines[0].n)
		}
		return Credentials{User: user, Password: pass}, nil
	}
	var c Credentials
	for _, l := range lines {
		key, val, ok := knownKey(l.text)
		if !ok {
			// The key is not named: a line that is not key=value may well be
			// a bare secret.
			return Credentials{}, fmt.Errorf("line %d is not one of user=, username=, password=, token=", l.n)
		}
		switch key {
		case "user", "username":
			c.User = val
		case "password":
			c.Password = val
		case "token":
			c.Token = val
		}
	}
	if c.IsZero() {
		return Credentials{}, errors.New("sets no user, password or token")
	}
	if c.Password != "" && c.User == "" {
		return Credentials{}, errors.New("sets a password but no user= line")
	}
	return c, nil
}

func knownKey(t string) (key, val string, ok bool) {
	k, v, found := strings.Cut(t, "=")
	if !found {
		return "", "", false
	}
	k = strings.ToLower(strings.TrimSpace(k))
	switch k {
	case "user", "username", "password", "token":
	default:
		return "", "", false
	}
	return k, unquote(strings.TrimSpace(v)), true
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// FromEnv reads a user and password from the named environment variables
// (either name may be empty).
func FromEnv(userVar, passVar string) Credentials {
	return FromLookup(os.LookupEnv, userVar, passVar, "")
}

// FromLookup is FromEnv with the lookup function given (os.LookupEnv, or a
// map in tests) and an optional token variable.
func FromLookup(lookup func(string) (string, bool), userVar, passVar, tokenVar string) Credentials {
	get := func(name string) string {
		if name == "" {
			return ""
		}
		v, _ := lookup(name)
		return v
	}
	return Credentials{User: get(userVar), Password: get(passVar), Token: get(tokenVar)}
}

// fileKind names what a path is when it is not a regular file.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a plain file"
}
