// Package stack holds the integration tests of the local registry stack
// (test/stack/stack up): they prove that the servers the checks are tested
// against behave like a real registry (replication, origin fallback, CDN
// caching, NRPE, Nagios) before any check relies on them.
package stack
