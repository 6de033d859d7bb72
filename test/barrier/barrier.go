// Package barrier lets a test prove that requests are made together, not
// one after another, without timing them: a fake server holds each request
// at a Barrier until every request of the group has arrived. Requests made
// in turn never get past the first, which gives up after Bound.
package barrier

import (
	"sync"
	"time"
)

// Bound is how long a caller waits for the others of its group. It only
// runs out when the code under test is wrong, so it can be generous.
const Bound = 3 * time.Second

// Barrier lets n callers through together.
type Barrier struct {
	n       int
	mu      sync.Mutex
	arrived []string
	all     chan struct{}
}

// New is a barrier for n callers.
func New(n int) *Barrier { return &Barrier{n: n, all: make(chan struct{})} }

// Wait counts the caller (named what, for Arrived) and waits until all n
// have arrived (true) or Bound passes (false).
func (b *Barrier) Wait(what string) bool {
	b.mu.Lock()
	b.arrived = append(b.arrived, what)
	if len(b.arrived) == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
		return true
	case <-time.After(Bound):
		return false
	}
}

// Arrived names the callers that have arrived so far, in order.
func (b *Barrier) Arrived() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.arrived...)
}
