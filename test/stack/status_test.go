package stack

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestServiceState(t *testing.T) {
	status := "servicestatus {\n\thost_name=h\n\tservice_description=a\n\tcurrent_state=2\n\t}\n" +
		"servicestatus {\n\thost_name=h\n\tservice_description=ab\n\tcurrent_state=0\n\t}\n"
	cases := []struct{ service, want string }{
		{"a", "2"},
		{"ab", "0"},
		{"b", ""},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, serviceState(status, tc.service), tc.service)
	}
}
