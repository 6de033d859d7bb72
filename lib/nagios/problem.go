package nagios

import (
	"errors"
	"fmt"
)

// Problem is an error that already knows which Nagios state it means. The
// lib packages that talk to the network (httpclient, couch) return their
// failures as *Problem so that errors become states in one place, with one
// vocabulary: refused/DNS/5xx CRITICAL, 401/403 and undecodable answers
// UNKNOWN, a timeout whatever --timeout-state says.
type Problem struct {
	Status  Status
	Msg     string // one line, names the thing, the place and the cause; no secrets
	Timeout bool   // the deadline ran out; the run path applies --timeout-state
	Err     error  // the cause, for errors.Is/As; never printed
}

func (p *Problem) Error() string { return p.Msg }
func (p *Problem) Unwrap() error { return p.Err }

// Problemf builds a Problem with a formatted message.
func Problemf(st Status, format string, args ...any) *Problem {
	return &Problem{Status: st, Msg: fmt.Sprintf(format, args...)}
}

// AsProblem returns err as a *Problem; an error of unknown kind is UNKNOWN
// with its text, since the plugin cannot say what it means.
func AsProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	return &Problem{Status: UNKNOWN, Msg: err.Error(), Err: err}
}
