package plugin

import "github.com/registry-checks/registry-checks/lib/nagios"

// ParseState reads a state option (ok, warning, critical, unknown; any
// case), as --timeout-state: anything else is CRITICAL.
func ParseState(s string) nagios.Status { return parseState(s) }
