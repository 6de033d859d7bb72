package httpclient

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/registry-checks/registry-checks/lib/nagios"
)

func TestCause(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{&nagios.Problem{Msg: "GET http://o1:8080/a/-/a-1.0.0.tgz: connection refused"}, "connection refused"},
		{&nagios.Problem{Msg: "GET https://cdn/x: DNS lookup of cdn failed: no such host"}, "DNS lookup of cdn failed: no such host"},
		{&nagios.Problem{Msg: "timeout after 1s waiting for response headers of GET http://o1:8080/a.tgz"}, "timeout after 1s waiting for response headers"},
		{&nagios.Problem{Msg: "timeout after 1s waiting for the body of GET http://o1:8080/a.tgz (20 bytes read)"}, "timeout after 1s waiting for the body"},
		{&nagios.Problem{Msg: "timeout after 10s waiting for GET http://db1:5984/registry"}, "timeout after 10s"},
		{StatusProblem(&StatusError{Method: "GET", URL: "http://db1:5984/registry/x/x.tgz", Code: 404, Reason: "not_found: Document is missing attachment"}), "404 Not Found"},
		{StatusProblem(&StatusError{Method: "GET", URL: "http://db1:5984/r/_design/s/_view/v", Code: 500, Reason: "os_process_error: {exit_status,1}"}), "500 Internal Server Error"},
		{errors.New("something else"), "something else"},
		{nil, ""},
	} {
		assert.Equal(t, tt.want, Cause(tt.err))
	}
}
