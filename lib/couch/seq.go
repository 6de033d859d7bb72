package couch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Seq is a CouchDB update sequence as the server sent it. Its shape
// depends on the server: an integer (1.x, PouchDB, view _info in every
// version), an opaque string "N-g1AAAA..." (2.x, 3.x) or, in early 2.0, an
// array [N, "opaque"]. Number gives the comparable part.
type Seq json.RawMessage

// UnmarshalJSON keeps the raw value whatever its shape.
func (s *Seq) UnmarshalJSON(b []byte) error {
	*s = append((*s)[:0], b...)
	return nil
}

// MarshalJSON returns the raw value.
func (s Seq) MarshalJSON() ([]byte, error) {
	if len(s) == 0 {
		return []byte("null"), nil
	}
	return s, nil
}

// IsZero reports whether the sequence is absent or null.
func (s Seq) IsZero() bool { return len(s) == 0 || string(s) == "null" }

// Number is SeqNumber of s.
func (s Seq) Number() (int64, error) { return SeqNumber(json.RawMessage(s)) }

// String is the sequence as text, without JSON quotes.
func (s Seq) String() string {
	var str string
	if json.Unmarshal(s, &str) == nil {
		return str
	}
	return string(s)
}

// SeqNumber returns the comparable number of a sequence: the integer
// itself (1.x, PouchDB), N of "N-opaque" (2.x/3.x; N is the sum of the
// shards' sequences, comparable only between sequences of the same
// database) or N of [N, ...] (early 2.0).
func SeqNumber(raw json.RawMessage) (int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, errors.New("no sequence (null)")
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, fmt.Errorf("sequence %s: %w", short(raw), err)
		}
		num, _, _ := strings.Cut(s, "-")
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("sequence %s does not start with a number", short(raw))
		}
		return n, nil
	case '[':
		var arr []json.RawMessage
		if err := json.Unmarshal(raw, &arr); err != nil || len(arr) == 0 {
			return 0, fmt.Errorf("sequence %s: not a [N, ...] array", short(raw))
		}
		return SeqNumber(arr[0])
	default:
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return 0, fmt.Errorf("sequence %s is neither a number, a string nor an array", short(raw))
		}
		i, err := n.Int64()
		if err != nil || i < 0 {
			return 0, fmt.Errorf("sequence %s is not a non-negative integer", short(raw))
		}
		return i, nil
	}
}

// short quotes a value the server sent, in an error: whole when it is
// short (the run's redactor sees it whole where the message is printed),
// else only its size and kind. Never a prefix: this package does not know
// the run's secrets, and a cut value could end inside one.
func short(raw []byte) string {
	if len(raw) <= 40 {
		return string(raw)
	}
	kind := "value"
	switch raw[0] {
	case '"':
		kind = "string"
	case '[':
		kind = "array"
	case '{':
		kind = "object"
	}
	return fmt.Sprintf("(a %d-byte %s)", len(raw), kind)
}

// ErrorText is an error the server reports inside a document, such as
// info.error of _scheduler/docs: usually a printed Erlang term with line
// breaks and indentation. It is kept raw; Line gives one line. A value that
// is not a JSON string is kept as its JSON text.
type ErrorText string

// UnmarshalJSON accepts a string or any other JSON value.
func (e *ErrorText) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*e = ErrorText(s)
		return nil
	}
	if string(b) == "null" {
		*e = ""
		return nil
	}
	*e = ErrorText(b)
	return nil
}

// Line is the error on one line.
func (e ErrorText) Line() string { return OneLine(string(e)) }

// OneLine folds every run of whitespace into one space, which turns a
// pretty-printed Erlang term into one readable line:
// "{replication_auth_error,\n    {session_request_unauthorized,...}}"
// becomes "{replication_auth_error, {session_request_unauthorized,...}}".
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Timestamp is a time the server sends as an ISO-8601 string (2.x, 3.x)
// or as integer epoch seconds (_active_tasks, some 1.x fields).
type Timestamp struct{ time.Time }

// UnmarshalJSON accepts an RFC 3339 string, epoch seconds or null.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	switch {
	case s == "null" || s == `""`:
		t.Time = time.Time{}
		return nil
	case strings.HasPrefix(s, `"`):
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		tm, err := time.Parse(time.RFC3339, str)
		if err != nil {
			return fmt.Errorf("timestamp %q is not RFC 3339", str)
		}
		t.Time = tm
		return nil
	default:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("timestamp %s is neither a string nor epoch seconds", short(b))
		}
		sec := int64(f)
		t.Time = time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
		return nil
	}
}

// MarshalJSON writes RFC 3339, or null for the zero time.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.Time.Format(time.RFC3339))
}
