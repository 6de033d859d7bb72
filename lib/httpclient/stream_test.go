package httpclient

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type streamRow struct {
	ID   string         `json:"id"`
	N    int            `json:"n"`
	Info map[string]any `json:"info"`
}

type streamDoc struct {
	Total    int                  `json:"total_rows"`
	Rows     []streamRow          `json:"rows"`
	Versions map[string]streamRow `json:"versions"`
	Tags     map[string]string    `json:"dist-tags"`
	Raw      json.RawMessage      `json:"raw"`
	Name     string
}

// DecodeStream gives what json.Decoder.Decode gives for well-formed input.
func TestDecodeStreamSameAsDecode(t *testing.T) {
	for _, in := range []string{
		`{"total_rows":2,"rows":[{"id":"a","n":1,"info":{"x":[1,2]}},{"id":"b"}],"versions":{"1.0.0":{"id":"v"}},"dist-tags":{"latest":"1.0.0"},"raw":{"k":[1]},"name":"N"}`,
		`{"ROWS":[],"unknown":{"deep":[{"a":[1,{"b":null}]}]},"total_rows":0}`,
		`{"rows":null,"versions":null}`,
		`null`,
		`{}`,
	} {
		var want, got streamDoc
		require.NoError(t, json.NewDecoder(strings.NewReader(in)).Decode(&want), in)
		require.NoError(t, DecodeStream(strings.NewReader(in), &got), in)
		assert.Equal(t, want, got, in)
	}
	var want, got []streamRow
	in := `[{"id":"a"},{"id":"b","n":2}]`
	require.NoError(t, json.Unmarshal([]byte(in), &want))
	require.NoError(t, DecodeStream(strings.NewReader(in), &got))
	assert.Equal(t, want, got)
}

// A value of the wrong kind is a *json.UnmarshalTypeError naming the field
// from the top, and TypeErrorText says it without Go's names.
func TestDecodeStreamTypeErrors(t *testing.T) {
	for in, want := range map[string]string{
		`[1]`:                           "a list where an object belongs",
		`{"rows":{}}`:                   "rows: an object where a list belongs",
		`{"rows":[{"id":5}]}`:           "rows.id: a number where a string belongs",
		`{"versions":{"1":{"n":"x"}}}`:  "versions.1.n: a string where an integer belongs",
		`{"total_rows":"many"}`:         "total_rows: a string where an integer belongs",
		`"text"`:                        "a string where an object belongs",
		`{"dist-tags":{"latest":true}}`: "dist-tags.latest: true or false where a string belongs",
	} {
		var d streamDoc
		err := DecodeStream(strings.NewReader(in), &d)
		var te *json.UnmarshalTypeError
		require.True(t, errors.As(err, &te), "%s: %v", in, err)
		assert.Equal(t, want, TypeErrorText(te), in)
	}
}

// Unknown keys are skipped token by token: a megabyte of padding costs
// the decoder one token at a time, not the whole answer.
func TestDecodeStreamSkipsPadding(t *testing.T) {
	in := `{"padding":[` + strings.Repeat(`"xxxxxxxxxxxxxxxx",`, 1<<16) + `0],"total_rows":1,"rows":[{"id":"a"}]}`
	var d streamDoc
	require.NoError(t, DecodeStream(strings.NewReader(in), &d))
	assert.Equal(t, 1, d.Total)
	assert.Equal(t, "a", d.Rows[0].ID)
}

// One string or number longer than the guard's limit fails the read; the
// guard follows escapes, so \" does not end a string early.
func TestGuardJSON(t *testing.T) {
	long := strings.Repeat("x", 100)
	for in, wantErr := range map[string]bool{
		`{"a":"` + long + `"}`:                                true,
		`{"a":` + strings.Repeat("1", 100) + `}`:              true,
		`["` + long[:60] + `","` + long[:60] + `"]`:           false,
		`{"` + long[:40] + `\"` + long[:40] + `":1}`:          true,
		`{"a":"` + long[:30] + `\\","b":"` + long[:60] + `"}`: false,
	} {
		_, err := io.ReadAll(GuardJSON(strings.NewReader(in), 64))
		var te *TokenTooLargeError
		assert.Equal(t, wantErr, errors.As(err, &te), in)
	}
	var v any
	err := DecodeStream(strings.NewReader(`{"padding":"`+strings.Repeat("x", MaxJSONToken+1)+`"}`), &v)
	var te *TokenTooLargeError
	require.True(t, errors.As(err, &te), "%v", err)
	assert.Equal(t, "a JSON string or number at byte 11 is longer than 1 MiB", te.Error())
}
