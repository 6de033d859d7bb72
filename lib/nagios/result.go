// Package nagios is the plugin contract: states, Nagios ranges, performance
// data and the result of a check, rendered the way Nagios reads it.
package nagios

import "github.com/mackerelio/checkers"

// Status is a Nagios state; its integer value is the exit code.
type Status = checkers.Status

// The four states, in order of badness except UNKNOWN (see Worse).
const (
	OK       = checkers.OK
	WARNING  = checkers.WARNING
	CRITICAL = checkers.CRITICAL
	UNKNOWN  = checkers.UNKNOWN
)

// Result is what a check returns: a state, a one-line summary, long-output
// lines and performance data. A check over many objects (replications,
// databases, origins) returns one Result per object in Subs and lets
// Aggregate derive the top-level state and summary.
//
// Measurement and Tags say where the Result's numbers go in line protocol:
// every Result with a Measurement becomes one point whose fields are its
// Perf values (by Perf.Field) plus the state as an integer field "state".
type Result struct {
	Name        string // the object, e.g. "registry->db2"; used in aggregated summaries
	Status      Status
	Summary     string
	Long        []string
	Verbose     []string // long-output lines shown only from -v, after Long: raw server errors
	Perf        []Perf
	Measurement string
	Tags        map[string]string
	Subs        []Result
}

// Perf is one performance-data item and the line-protocol field it becomes.
type Perf struct {
	Label   string   // Nagios label; unique within the output
	Field   string   // line-protocol field key; Label when empty
	Value   float64  // ignored when Unknown
	Unknown bool     // printed as U; the field is left out of line protocol
	UOM     string   // "", s, ms, us, %, B, KB, MB, TB, c
	Warn    string   // range as the user gave it
	Crit    string   // range as the user gave it
	Min     *float64 // optional
	Max     *float64 // optional
	Integer bool     // a count: printed without decimals, an int64 field
}
