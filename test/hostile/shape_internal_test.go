package hostile

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestShapeMangling pins what the null-leaves and wrong-types bodies are
// made of: the object or list at the top keeps its kind, the damage is
// inside.
func TestShapeMangling(t *testing.T) {
	body := obj{"a": "x", "n": 1.0, "b": true, "o": obj{"k": "v"}, "l": list{"s", 2.0}}
	assert.Equal(t, obj{"a": nil, "n": nil, "b": nil, "o": obj{"k": nil}, "l": list{nil, nil}}, nullLeaves(body))
	assert.Equal(t, obj{"a": 5, "n": "5", "b": "true", "o": list{5}, "l": obj{"0": 5, "1": "5"}}, wrongTypes(body))
	assert.Equal(t, list{nil, list{nil}}, nullLeaves(list{"x", list{1.0}}))
	assert.Equal(t, list{5, obj{"0": "5"}}, wrongTypes(list{"x", list{1.0}}))
	assert.Nil(t, nullLeaves("x"))
	assert.Equal(t, 5, wrongTypes("x"))
}
