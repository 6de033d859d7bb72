package stackenv

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNagiosBlocks(t *testing.T) {
	status := "programstatus {\n\tnagios_pid=42\n\t}\n" +
		"servicestatus {\n\thost_name=h\n\tservice_description=a\n\tcurrent_state=2\n\t}\n" +
		"servicestatus {\n\thost_name=h\n\tservice_description=ab\n\tcurrent_state=0\n\tplugin_output=X OK - a=b\n\t}\n"
	state := func(service string) string {
		for _, b := range NagiosBlocks(status, "servicestatus") {
			if b["service_description"] == service {
				return b["current_state"]
			}
		}
		return ""
	}
	cases := []struct{ service, want string }{
		{"a", "2"},
		{"ab", "0"},
		{"b", ""},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, state(tc.service), tc.service)
	}
	assert.Equal(t, []map[string]string{{"nagios_pid": "42"}}, NagiosBlocks(status, "programstatus"))
	assert.Equal(t, "X OK - a=b", NagiosBlocks(status, "servicestatus")[1]["plugin_output"], "only the first = splits")
}
