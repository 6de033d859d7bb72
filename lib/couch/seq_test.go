package couch

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSeqNumber(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    int64
		wantErr string
	}{
		{"1.x integer", `1234`, 1234, ""},
		{"pouchdb zero", `0`, 0, ""},
		{"3.x opaque", `"52-g1AAAACfeJzLYWBgYMpgTmEQSs4vTc5ISTJ0MDQy1zMAQsMckFwi"`, 52, ""},
		{"3.x zero string", `"0"`, 0, ""},
		{"2.0 array", `[40053, "g1AAAAFTeJzLYWBgYMlgTmFQ"]`, 40053, ""},
		{"array of string", `["7-abc", "x"]`, 7, ""},
		{"spaces", ` 9 `, 9, ""},
		{"null", `null`, 0, "no sequence"},
		{"empty", ``, 0, "no sequence"},
		{"opaque without number", `"g1AAAA"`, 0, "does not start with a number"},
		{"negative", `-1`, 0, "not a non-negative integer"},
		{"float", `1.5`, 0, "not a non-negative integer"},
		{"empty array", `[]`, 0, "not a [N, ...] array"},
		{"object", `{"a":1}`, 0, "neither a number, a string nor an array"},
		{"bool", `true`, 0, "neither a number, a string nor an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SeqNumber(json.RawMessage(tt.raw))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSeqInStruct(t *testing.T) {
	var v struct {
		A, B, C, D Seq
	}
	require.NoError(t, json.Unmarshal([]byte(`{"A": 5, "B": "6-x", "C": [7, "y"], "D": null}`), &v))
	for want, s := range map[int64]Seq{5: v.A, 6: v.B, 7: v.C} {
		n, err := s.Number()
		require.NoError(t, err)
		assert.Equal(t, want, n)
	}
	assert.True(t, v.D.IsZero())
	assert.Equal(t, "6-x", v.B.String())
	assert.Equal(t, "5", v.A.String())
	out, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{"A": 5, "B": "6-x", "C": [7, "y"], "D": null}`, string(out))
}

func TestErrorTextAndOneLine(t *testing.T) {
	var e struct{ Error ErrorText }
	require.NoError(t, json.Unmarshal([]byte(`{"Error": "{replication_auth_error,\n    {session_request_failed,\"http://127.0.0.1:15984/_session\",\"admin\",\n        {conn_failed,{error,econnrefused}}}}"}`), &e))
	assert.Equal(t, `{replication_auth_error, {session_request_failed,"http://127.0.0.1:15984/_session","admin", {conn_failed,{error,econnrefused}}}}`, e.Error.Line())
	require.NoError(t, json.Unmarshal([]byte(`{"Error": {"reason": "x"}}`), &e))
	assert.Equal(t, `{"reason": "x"}`, string(e.Error))
	assert.Equal(t, "a b", OneLine("  a\n\t b \r\n"))
}

func TestTimestamp(t *testing.T) {
	tests := []struct {
		raw  string
		want time.Time
	}{
		{`"2026-11-26T02:42:26Z"`, time.Date(2026, 11, 26, 2, 42, 26, 0, time.UTC)},
		{`"2015-06-01T12:00:00+02:00"`, time.Date(2015, 6, 1, 10, 0, 0, 0, time.UTC)},
		{`1795660941`, time.Unix(1795660941, 0)},
		{`null`, time.Time{}},
	}
	for _, tt := range tests {
		var ts Timestamp
		require.NoError(t, json.Unmarshal([]byte(tt.raw), &ts), tt.raw)
		assert.True(t, tt.want.Equal(ts.Time), "%s: got %v", tt.raw, ts.Time)
	}
	var ts Timestamp
	assert.Error(t, json.Unmarshal([]byte(`"yesterday"`), &ts))
}
