package replication

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseEndpoint(t *testing.T) {
	u, c, s := ParseEndpoint(json.RawMessage(`"http://admin:s3cret@127.0.0.1:15984/registry/"`))
	assert.Equal(t, "http://127.0.0.1:15984/registry", u)
	assert.Equal(t, "admin", c.User)
	assert.Equal(t, "s3cret", c.Password)
	assert.Contains(t, s, "s3cret")

	u, c, _ = ParseEndpoint(json.RawMessage(`{"url":"http://127.0.0.1:15984/registry","auth":{"basic":{"username":"mirror","password":"pw-123"}}}`))
	assert.Equal(t, "http://127.0.0.1:15984/registry", u)
	assert.Equal(t, "mirror", c.User)
	assert.Equal(t, "pw-123", c.Password)
}

func TestSourceEndpoint(t *testing.T) {
	d := parseDoc("_replicator", "r", json.RawMessage(`{"_id":"r","source":"http://admin:s3cret@db1:5984/registry","target":"registry"}`))
	var r Replication
	r.attachDoc(&d)
	u, c := r.SourceEndpoint()
	assert.Equal(t, "http://db1:5984/registry", u)
	assert.Equal(t, "s3cret", c.Password)
}
