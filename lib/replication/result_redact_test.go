package replication

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// The grouped first line clips names to fit: a secret in a document id is
// redacted before that cut, so no prefix of it is left for Render's
// redactor to miss.
func TestGroupedSummaryRedactsBeforeCut(t *testing.T) {
	const pass = "Sup3rSecret-doc"
	red := &secret.Redactor{}
	red.Add(pass)
	rep := Report{Replications: []Replication{
		{DocID: strings.Repeat("a", 50) + pass, Database: "_replicator", State: Crashing, Status: nagios.CRITICAL,
			Cause: Cause{What: CauseSourceUnreachable, Server: "http://db1:5984"}, Reason: "source unreachable (connection refused)", red: red},
		{DocID: strings.Repeat("b", 50) + pass, Database: "_replicator", State: Failed, Status: nagios.CRITICAL,
			Cause: Cause{What: "filter missing on source"}, Reason: "filter missing on source", red: red},
	}}
	res := rep.Result()
	assert.Contains(t, res.Summary, "2 of 2 replications failing: 1 source unreachable (http://db1:5984; aaaa")
	assert.NotContains(t, res.Summary, "Sup3rS")
	out := nagios.Render("COUCH_REPLICATION", res, nagios.RenderOptions{Redact: red.Redact})
	assert.NotContains(t, out, "Sup3rS")
}
