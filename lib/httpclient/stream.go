package httpclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
)

// DecodeStream decodes the one JSON value of r into v (a pointer), like
// json.NewDecoder(r).Decode(v), with the same result for a well-formed
// answer, but without holding the whole answer in memory: json.Decoder
// buffers a whole value before decoding it, so a 16 MiB answer costs
// 16 MiB of buffer and more while it grows. Here the top level is walked
// token by token:
//
//   - a list is decoded one element at a time, appended to v's slice;
//   - an object is decoded one key at a time into v's struct field or map
//     entry, and a field or map holding a list or an object is itself
//     walked one element (one entry) at a time: _scheduler/docs' docs, a
//     packument's versions;
//   - a key v does not have is skipped token by token.
//
// So the buffer holds one element at a time (a replication, a version),
// and an answer padded with megabytes of unknown keys costs nothing. A
// value of the wrong kind is a *json.UnmarshalTypeError, as with Decode;
// a string or number longer than MaxJSONToken, a *TokenTooLargeError.
// Trailing data after the value is ignored, as Decode does.
func DecodeStream(r io.Reader, v any) error {
	dec := json.NewDecoder(GuardJSON(r, 0))
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return dec.Decode(v)
	}
	return streamValue(dec, rv.Elem(), "", 0)
}

// maxStreamDepth is how deep streamValue walks before handing a value to
// Decode whole: the top level and its direct containers.
const maxStreamDepth = 2

func streamValue(dec *json.Decoder, dst reflect.Value, field string, depth int) error {
	if depth >= maxStreamDepth || !streamable(dst) {
		err := dec.Decode(dst.Addr().Interface())
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			// Decode saw this value alone: name the field from the top.
			te.Field = joinField(field, te.Field)
			te.Offset = dec.InputOffset()
		}
		return err
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('['):
		if dst.Kind() != reflect.Slice {
			return typeError("array", dst, field, dec)
		}
		if dst.IsNil() {
			dst.Set(reflect.MakeSlice(dst.Type(), 0, 0))
		} else {
			dst.SetLen(0) // as Decode does: reset, then append
		}
		for dec.More() {
			elem := reflect.New(dst.Type().Elem()).Elem()
			if err := streamValue(dec, elem, field, depth+1); err != nil {
				return err
			}
			dst.Set(reflect.Append(dst, elem))
		}
		_, err = dec.Token() // ]
		return err
	case json.Delim('{'):
		switch dst.Kind() {
		case reflect.Struct:
			return streamStruct(dec, dst, field, depth)
		case reflect.Map:
			return streamMap(dec, dst, field, depth)
		}
		return typeError("object", dst, field, dec)
	case nil:
		dst.SetZero() // as Decode does for null into a slice, map or pointer
		return nil
	}
	kind := "number"
	switch tok.(type) {
	case string:
		kind = "string"
	case bool:
		kind = "bool"
	}
	return typeError(kind, dst, field, dec)
}

// streamable says whether dst is a kind streamValue walks; anything else
// (a string, a number, a pointer, a type with its own UnmarshalJSON) is
// decoded whole.
func streamable(dst reflect.Value) bool {
	if dst.Addr().Type().Implements(unmarshalerType) {
		return false
	}
	switch dst.Kind() {
	case reflect.Struct:
		return true
	case reflect.Slice:
		return dst.Type().Elem().Kind() != reflect.Uint8 // []byte is base64, decoded whole
	case reflect.Map:
		return dst.Type().Key().Kind() == reflect.String
	}
	return false
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func streamStruct(dec *json.Decoder, dst reflect.Value, field string, depth int) error {
	fields := fieldsOf(dst.Type())
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		idx, ok := fields.exact[key]
		if !ok {
			idx, ok = fields.folded[strings.ToLower(key)]
		}
		if !ok {
			if err := skipValue(dec); err != nil {
				return err
			}
			continue
		}
		if err := streamValue(dec, dst.FieldByIndex(idx), joinField(field, key), depth+1); err != nil {
			return err
		}
	}
	_, err := dec.Token() // }
	return err
}

func streamMap(dec *json.Decoder, dst reflect.Value, field string, depth int) error {
	if dst.IsNil() {
		dst.Set(reflect.MakeMap(dst.Type()))
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		elem := reflect.New(dst.Type().Elem()).Elem()
		if err := streamValue(dec, elem, joinField(field, key), depth+1); err != nil {
			return err
		}
		dst.SetMapIndex(reflect.ValueOf(key).Convert(dst.Type().Key()), elem)
	}
	_, err := dec.Token() // }
	return err
}

func joinField(parent, key string) string {
	if parent == "" {
		return key
	}
	if key == "" {
		return parent
	}
	return parent + "." + key
}

// skipValue reads one value token by token: the buffer never holds more
// than one token (one string) of it.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

func typeError(value string, dst reflect.Value, field string, dec *json.Decoder) error {
	return &json.UnmarshalTypeError{Value: value, Type: dst.Type(), Offset: dec.InputOffset(), Field: field}
}

// structFields maps JSON keys to field indexes the way encoding/json
// does: the tag name, else the field name; an exact match first, then a
// case-insensitive one.
type structFields struct {
	exact  map[string][]int
	folded map[string][]int
}

var fieldCache sync.Map // reflect.Type -> *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{exact: map[string][]int{}, folded: map[string][]int{}}
	addFields(f, t, nil)
	fieldCache.Store(t, f)
	return f
}

func addFields(f *structFields, t reflect.Type, index []int) {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		idx := append(append([]int(nil), index...), i)
		if sf.Anonymous && name == "" {
			ft := sf.Type
			if ft.Kind() == reflect.Struct {
				addFields(f, ft, idx)
			}
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if _, dup := f.exact[name]; !dup {
			f.exact[name] = idx
		}
		if _, dup := f.folded[strings.ToLower(name)]; !dup {
			f.folded[strings.ToLower(name)] = idx
		}
	}
}

// MaxJSONToken bounds one JSON string or number in an answer. Decoding
// holds a whole token in memory, and more while its buffer grows: an
// answer that is one 8 MiB string (a gzip bomb of "xxx...") would cost
// several times that. CouchDB's answers have no such token: document ids,
// reasons and URLs are short, and a packument's readme is cut at 64 KiB.
const MaxJSONToken = 1 << 20

// TokenTooLargeError is the read error of a JSON answer with a string or
// number longer than Limit bytes.
type TokenTooLargeError struct {
	Limit  int64
	Offset int64 // where the token began
}

func (e *TokenTooLargeError) Error() string {
	return fmt.Sprintf("a JSON string or number at byte %d is longer than %s", e.Offset, sizeString(e.Limit))
}

// tokenGuard passes a JSON text through and fails on a token longer than
// limit: it follows strings (and their escapes) and literals byte by byte.
type tokenGuard struct {
	r      io.Reader
	limit  int64
	off    int64 // bytes read so far
	start  int64 // offset of the current token
	n      int64 // bytes of the current token
	inStr  bool
	escape bool
	err    error
}

// GuardJSON wraps r so that reading fails with *TokenTooLargeError on a
// string or number longer than limit bytes (MaxJSONToken when limit is 0).
func GuardJSON(r io.Reader, limit int64) io.Reader {
	if limit <= 0 {
		limit = MaxJSONToken
	}
	if g, ok := r.(*tokenGuard); ok && g.limit <= limit {
		return g
	}
	return &tokenGuard{r: r, limit: limit}
}

func (g *tokenGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(p)
	for i, c := range p[:n] {
		switch {
		case g.inStr:
			switch {
			case g.escape:
				g.escape = false
			case c == '\\':
				g.escape = true
			case c == '"':
				g.inStr = false
				g.n = 0
				continue
			}
			g.n++
		case c == '"':
			g.inStr, g.n, g.start = true, 1, g.off+int64(i)
		case c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r':
			g.n = 0
		default:
			if g.n == 0 {
				g.start = g.off + int64(i)
			}
			g.n++
		}
		if g.n > g.limit {
			g.err = &TokenTooLargeError{Limit: g.limit, Offset: g.start}
			g.off += int64(i)
			return i, g.err
		}
	}
	g.off += int64(n)
	return n, err
}
