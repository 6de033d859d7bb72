package replicationtest

import "github.com/registry-checks/registry-checks/lib/replication/internal/synthnode"

// SynthNode is the synthetic CouchDB 2.1+ node of the scale benchmarks
// (lib/replication/internal/synthnode), for the benchmarks outside
// lib/replication: thousands of replications, and the write side a
// restart needs.
type SynthNode = synthnode.Node

// NewSynthNode is synthnode.New: n replications reading sources distinct
// source databases, pages of pageSize, served at base.
func NewSynthNode(n, sources, pageSize int, base string) *SynthNode {
	return synthnode.New(n, sources, pageSize, base)
}
