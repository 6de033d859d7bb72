package stack

import (
	"strings"
	"testing"
	"time"

	"github.com/registry-checks/registry-checks/test/stackenv"
)

// The stack's Nagios runs the shipped check_couch_promotion service
// template once per replica (host variable _COUCH_PRIMARY_URL): both
// replicas could take over from the primary.
func TestNagiosRunsPromotionServicesIntegration(t *testing.T) {
	env := stackenv.Need(t, "NAGIOS_STATUS_FILE")
	for _, host := range []string{"registry-replica1", "registry-replica2"} {
		eventually(t, 60*time.Second, "service couch-promotion of "+host+" OK in "+env["NAGIOS_STATUS_FILE"]+" (are the binaries built? make build)", func() bool {
			s := stackenv.NagiosService(env["NAGIOS_STATUS_FILE"], host, "couch-promotion")
			return s["current_state"] == "0" && strings.HasPrefix(s["plugin_output"], "PROMOTION OK - ")
		})
	}
}
