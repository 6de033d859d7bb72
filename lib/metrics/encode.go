package metrics

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// Encode appends the line protocol of points to dst, one line per point,
// nanosecond timestamps, tags and fields in key order so the same point always
// encodes to the same bytes.
//
// What line protocol cannot carry is left out rather than failing the batch:
//   - a tag with an empty value (InfluxDB reads a missing tag as empty anyway);
//   - a field whose value is NaN, ±Inf, a string that is not UTF-8, or an
//     unsigned integer above math.MaxInt64;
//   - a point left with no fields (not an error: a check may have nothing to say);
//   - a point whose measurement, tag or field key is invalid (empty, control
//     characters, trailing backslash) or whose field has an unsupported type:
//     these are reported in the returned error, naming the point, while every
//     other point is still appended.
//
// Line breaks and tabs in string fields become spaces: the encoder escapes
// a newline as \n, which InfluxDB 2.x reads back as a newline but 1.x
// stores as a backslash and an n.
//
// Unsigned integers are written as signed ("i"): InfluxDB 1.x refuses the
// "u" suffix and fails the whole batch, and a field must keep one type in
// a measurement forever, so they cannot switch to "u" on 2.x either.
//
// A zero Time writes no timestamp, so the server stamps the line on arrival.
func Encode(dst []byte, points []Point) ([]byte, error) {
	var e encoder
	var errs []error
	for i := range points {
		var err error
		if dst, _, err = e.appendPoint(dst, &points[i]); err != nil {
			errs = append(errs, fmt.Errorf("point %d: %w", i, err))
		}
	}
	return dst, errors.Join(errs...)
}

// encoder keeps the scratch space of a run of appendPoint calls.
type encoder struct {
	lp     lineprotocol.Encoder
	keys   []string
	fields []field
}

type field struct {
	key string
	val lineprotocol.Value
}

// appendPoint appends one point's line to dst. wrote is false when the point
// had no field worth writing or could not be encoded (then err says why, and
// dst is unchanged).
func (e *encoder) appendPoint(dst []byte, p *Point) (out []byte, wrote bool, err error) {
	e.fields = e.fields[:0]
	e.keys = sortedKeys(e.keys, p.Fields)
	for _, k := range e.keys {
		v, ok, err := fieldValue(p.Fields[k])
		if err != nil {
			return dst, false, fmt.Errorf("measurement %q, field %q: %w", p.Measurement, k, err)
		}
		if ok {
			e.fields = append(e.fields, field{k, v})
		}
	}
	if len(e.fields) == 0 {
		return dst, false, nil
	}
	// A fresh buffer state per point: after a failed line the encoder would
	// otherwise blame the next line and start it with a blank line.
	e.lp.SetPrecision(lineprotocol.Nanosecond)
	e.lp.SetBuffer(dst)
	e.lp.StartLine(p.Measurement)
	for _, k := range sortedKeys(e.keys, p.Tags) {
		if v := p.Tags[k]; v != "" {
			e.lp.AddTag(k, v)
		}
	}
	for _, f := range e.fields {
		e.lp.AddField(f.key, f.val)
	}
	e.lp.EndLine(p.Time)
	if err := e.lp.Err(); err != nil {
		// The encoder has already cut the partial line from the buffer.
		return e.lp.Bytes(), false, fmt.Errorf("measurement %q: %w", p.Measurement, err)
	}
	return e.lp.Bytes(), true, nil
}

func sortedKeys[V any](dst []string, m map[string]V) []string {
	dst = dst[:0]
	for k := range m {
		dst = append(dst, k)
	}
	slices.Sort(dst)
	return dst
}

// fieldValue converts a Go value to a line-protocol value. ok is false for
// values that exist but cannot be written (NaN, ±Inf, invalid UTF-8); err is
// set for types that are a programming error.
func fieldValue(x any) (v lineprotocol.Value, ok bool, err error) {
	switch x := x.(type) {
	case int64:
		return lineprotocol.IntValue(x), true, nil
	case int:
		return lineprotocol.IntValue(int64(x)), true, nil
	case int32:
		return lineprotocol.IntValue(int64(x)), true, nil
	case uint64:
		return unsignedValue(x)
	case uint:
		return unsignedValue(uint64(x))
	case uint32:
		return lineprotocol.IntValue(int64(x)), true, nil
	case float64:
		v, ok := lineprotocol.FloatValue(x)
		return v, ok, nil
	case float32:
		v, ok := lineprotocol.FloatValue(float64(x))
		return v, ok, nil
	case bool:
		return lineprotocol.BoolValue(x), true, nil
	case string:
		if !utf8.ValidString(x) {
			return v, false, nil
		}
		if strings.ContainsAny(x, "\r\n\t") {
			x = lineBreaks.Replace(x)
		}
		v, ok := lineprotocol.StringValue(x)
		return v, ok, nil
	}
	return v, false, fmt.Errorf("unsupported value type %T", x)
}

var lineBreaks = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ", "\t", " ")

func unsignedValue(x uint64) (lineprotocol.Value, bool, error) {
	if x > math.MaxInt64 {
		return lineprotocol.Value{}, false, nil
	}
	return lineprotocol.IntValue(int64(x)), true, nil
}

// decode parses line protocol with nanosecond timestamps back into points:
// how the spool turns a batch file into what a Sink takes.
func decode(data []byte) ([]Point, error) {
	dec := lineprotocol.NewDecoderWithBytes(data)
	var points []Point
	for dec.Next() {
		m, err := dec.Measurement()
		if err != nil {
			return nil, err
		}
		p := Point{Measurement: string(m), Fields: map[string]any{}}
		for {
			k, v, err := dec.NextTag()
			if err != nil {
				return nil, err
			}
			if k == nil {
				break
			}
			if p.Tags == nil {
				p.Tags = map[string]string{}
			}
			p.Tags[string(k)] = string(v)
		}
		for {
			k, v, err := dec.NextField()
			if err != nil {
				return nil, err
			}
			if k == nil {
				break
			}
			p.Fields[string(k)] = v.Interface()
		}
		if p.Time, err = dec.Time(lineprotocol.Nanosecond, time.Time{}); err != nil {
			return nil, err
		}
		points = append(points, p)
	}
	return points, dec.Err()
}
