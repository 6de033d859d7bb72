package cdnlog

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// scanFlat calls fn with each top-level key and raw value of a JSON
// object, without allocating: the fast path for log lines, which are flat
// objects of strings and numbers. A string value is given without its
// quotes and still escaped (escaped reports backslashes in it); nested
// objects and arrays are given raw. It returns false when line is not a
// well-formed object as far as it looked; the caller then falls back to
// encoding/json, which also validates.
func scanFlat(line []byte, fn func(key, val []byte, str, escaped bool)) bool {
	i := skipWS(line, 0)
	if i >= len(line) || line[i] != '{' {
		return false
	}
	i = skipWS(line, i+1)
	if i < len(line) && line[i] == '}' {
		return skipWS(line, i+1) == len(line)
	}
	for {
		if i >= len(line) || line[i] != '"' {
			return false
		}
		kEnd, kEsc := stringEnd(line, i+1)
		if kEnd < 0 || kEsc {
			return false
		}
		key := line[i+1 : kEnd]
		i = skipWS(line, kEnd+1)
		if i >= len(line) || line[i] != ':' {
			return false
		}
		i = skipWS(line, i+1)
		if i >= len(line) {
			return false
		}
		var val []byte
		str, esc := false, false
		switch c := line[i]; {
		case c == '"':
			end, e := stringEnd(line, i+1)
			if end < 0 {
				return false
			}
			val, str, esc = line[i+1:end], true, e
			i = end + 1
		case c == '{' || c == '[':
			end := nestedEnd(line, i)
			if end < 0 {
				return false
			}
			val = line[i:end]
			i = end
		default:
			j := i
			for j < len(line) && line[j] != ',' && line[j] != '}' && line[j] != ' ' && line[j] != '\t' {
				j++
			}
			val = line[i:j]
			if len(val) == 0 {
				return false
			}
			i = j
		}
		fn(key, val, str, esc)
		i = skipWS(line, i)
		if i >= len(line) {
			return false
		}
		if line[i] == '}' {
			return skipWS(line, i+1) == len(line)
		}
		if line[i] != ',' {
			return false
		}
		i = skipWS(line, i+1)
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// stringEnd returns the index of the closing quote of a string starting
// at i (after the opening quote), and whether it holds escapes.
func stringEnd(b []byte, i int) (int, bool) {
	esc := false
	for i < len(b) {
		switch b[i] {
		case '\\':
			esc = true
			i += 2
			continue
		case '"':
			return i, esc
		}
		if b[i] < 0x20 {
			return -1, esc
		}
		i++
	}
	return -1, esc
}

// nestedEnd returns the index after the object or array starting at i.
func nestedEnd(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			end, _ := stringEnd(b, i+1)
			if end < 0 {
				return -1
			}
			i = end
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
		i++
	}
	return -1
}

// jsonValue turns a raw value from scanFlat into what encoding/json would
// have given in a map[string]any: string, float64, bool, nil, or (for
// nested values) the decoded value.
func jsonValue(val []byte, str, escaped bool) (any, bool) {
	if str {
		if !escaped {
			return string(val), true
		}
		s, err := strconv.Unquote(`"` + string(val) + `"`)
		if err != nil {
			// JSON escapes that Go's syntax does not share (\/).
			var out string
			if json.Unmarshal(append(append([]byte{'"'}, val...), '"'), &out) != nil {
				return nil, false
			}
			return out, true
		}
		return s, true
	}
	switch {
	case bytes.Equal(val, []byte("null")):
		return nil, true
	case bytes.Equal(val, []byte("true")):
		return true, true
	case bytes.Equal(val, []byte("false")):
		return false, true
	case val[0] == '{' || val[0] == '[':
		var v any
		if json.Unmarshal(val, &v) != nil {
			return nil, false
		}
		return v, true
	}
	f, err := strconv.ParseFloat(string(val), 64)
	if err != nil {
		return nil, false
	}
	return f, true
}
