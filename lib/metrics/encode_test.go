package metrics

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ExampleEncode() {
	points := []Point{{
		Measurement: "couch_replication",
		Tags:        map[string]string{"target": "db2", "source": "db1", "doc_id": "registry"},
		Fields: map[string]any{
			"state":       int64(0),
			"lag_seconds": 1.5,
			"running":     true,
			"message":     `caught up, "ok"`,
		},
		Time: time.Unix(1700000000, 123456789),
	}}
	lp, err := Encode(nil, points)
	fmt.Print(string(lp), err)
	// Output:
	// couch_replication,doc_id=registry,source=db1,target=db2 lag_seconds=1.5,message="caught up, \"ok\"",running=true,state=0i 1700000000123456789
	// <nil>
}

func ExampleEncode_dropped() {
	points := []Point{
		{Measurement: "origin", Tags: map[string]string{"host": "o1", "zone": ""},
			Fields: map[string]any{"latency": math.NaN(), "bytes": uint64(512)},
			Time:   time.Unix(1700000000, 0)},
		{Measurement: "origin", Fields: map[string]any{"latency": math.Inf(1)}},
		{Measurement: "cdn edge", Fields: map[string]any{"hits": 3}, Time: time.Unix(1700000001, 0)},
	}
	lp, err := Encode(nil, points)
	fmt.Print(string(lp), err)
	// Output:
	// origin,host=o1 bytes=512i 1700000000000000000
	// cdn\ edge hits=3i 1700000001000000000
	// <nil>
}

func TestEncode(t *testing.T) {
	ts := time.Unix(0, 42)
	tests := []struct {
		name    string
		points  []Point
		want    string
		wantErr string
	}{
		{name: "no points", want: ""},
		{name: "zero time writes no timestamp",
			points: []Point{{Measurement: "m", Fields: map[string]any{"v": 1.0}}},
			want:   "m v=1\n"},
		{name: "every value type",
			points: []Point{{Measurement: "m", Fields: map[string]any{
				"a": int64(-1), "b": 2, "c": int32(3), "d": uint64(4), "e": uint(5), "f": uint32(6),
				"g": 0.25, "h": float32(0.5), "i": false, "j": "x"}, Time: ts}},
			want: "m a=-1i,b=2i,c=3i,d=4i,e=5i,f=6i,g=0.25,h=0.5,i=false,j=\"x\" 42\n"},
		{name: "unsigned beyond int64 is dropped",
			points: []Point{{Measurement: "m", Fields: map[string]any{"big": uint64(math.MaxInt64) + 1, "max": uint64(math.MaxInt64)}, Time: ts}},
			want:   "m max=9223372036854775807i 42\n"},
		{name: "escaping",
			points: []Point{{Measurement: "m,x", Tags: map[string]string{"t k": "v=1,2"}, Fields: map[string]any{"f=": `a\b`}, Time: ts}},
			want:   `m\,x,t\ k=v\=1\,2 f\=="a\\b" 42` + "\n"},
		{name: "no fields is skipped silently",
			points: []Point{{Measurement: "m", Tags: map[string]string{"t": "v"}}, {Measurement: "n", Fields: map[string]any{"v": 1}, Time: ts}},
			want:   "n v=1i 42\n"},
		{name: "only invalid values is skipped silently",
			points: []Point{{Measurement: "m", Fields: map[string]any{"a": math.NaN(), "b": math.Inf(-1), "c": "\xff"}, Time: ts}},
			want:   ""},
		{name: "unsupported type rejects the point, keeps the others",
			points: []Point{
				{Measurement: "a", Fields: map[string]any{"v": 1}, Time: ts},
				{Measurement: "b", Fields: map[string]any{"v": time.Second}, Time: ts},
				{Measurement: "c", Fields: map[string]any{"v": 2}, Time: ts},
			},
			want:    "a v=1i 42\nc v=2i 42\n",
			wantErr: `point 1: measurement "b", field "v": unsupported value type time.Duration`},
		{name: "invalid measurement rejects the point, keeps the others",
			points: []Point{
				{Measurement: "", Fields: map[string]any{"v": 1}, Time: ts},
				{Measurement: "c", Fields: map[string]any{"v": 2}, Time: ts},
			},
			want:    "c v=2i 42\n",
			wantErr: `point 0: measurement "": invalid measurement ""`},
		{name: "newline in a tag value rejects the point",
			points: []Point{
				{Measurement: "a", Tags: map[string]string{"t": "x\ny"}, Fields: map[string]any{"v": 1}, Time: ts},
				{Measurement: "b", Fields: map[string]any{"v": 2}, Time: ts},
			},
			want:    "b v=2i 42\n",
			wantErr: `point 0: measurement "a": invalid tag value t="x\ny"`},
		{name: "line breaks and tabs in a string field become spaces",
			points: []Point{{Measurement: "a", Fields: map[string]any{"s": "x\ny\r\nz\tw\r"}, Time: ts}},
			want:   "a s=\"x y z w \" 42\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode([]byte{}, tt.points)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Equal(t, tt.wantErr, err.Error())
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.want, string(got))
		})
	}
}

func TestEncodeAppendsToDst(t *testing.T) {
	got, err := Encode([]byte("x v=0i\n"), []Point{{Measurement: "y", Fields: map[string]any{"v": 1}}})
	require.NoError(t, err)
	assert.Equal(t, "x v=0i\ny v=1i\n", string(got))
}

func TestEncodeIsDeterministic(t *testing.T) {
	p := []Point{{Measurement: "m",
		Tags:   map[string]string{"z": "1", "a": "2", "m": "3", "b": "4"},
		Fields: map[string]any{"z": 1, "a": 2, "m": 3, "b": 4, "y": 5}, Time: time.Unix(1, 0)}}
	first, err := Encode(nil, p)
	require.NoError(t, err)
	assert.Equal(t, "m,a=2,b=4,m=3,z=1 a=2i,b=4i,m=3i,y=5i,z=1i 1000000000\n", string(first))
	for range 50 {
		again, err := Encode(nil, p)
		require.NoError(t, err)
		require.Equal(t, string(first), string(again))
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	in := []Point{
		{Measurement: "m x", Tags: map[string]string{"a": "1 2", "b": "c,d"},
			Fields: map[string]any{"i": int64(-3), "f": 0.1, "b": true, "s": "q\"uo\\te"},
			Time:   time.Unix(1700000000, 999)},
		{Measurement: "n", Fields: map[string]any{"v": 1.0}, Time: time.Unix(0, 1)},
	}
	lp, err := Encode(nil, in)
	require.NoError(t, err)
	out, err := decode(lp)
	require.NoError(t, err)
	require.Len(t, out, 2)
	for i := range in {
		assert.Equal(t, in[i].Measurement, out[i].Measurement)
		assert.Equal(t, len(in[i].Tags), len(out[i].Tags))
		for k, v := range in[i].Tags {
			assert.Equal(t, v, out[i].Tags[k])
		}
		assert.Equal(t, in[i].Fields, out[i].Fields)
		assert.True(t, in[i].Time.Equal(out[i].Time))
	}
	again, err := Encode(nil, out)
	require.NoError(t, err)
	assert.Equal(t, string(lp), string(again))
}

func TestDecodeRejectsGarbage(t *testing.T) {
	_, err := decode([]byte("m v=1i 1\nthis is not line protocol\n"))
	require.Error(t, err)
}
