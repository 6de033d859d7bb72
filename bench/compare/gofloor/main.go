// Command gofloor is the Go floor of bench/compare: the least a Go program
// can do for one of our checks' jobs, one net/http GET, with check_http's
// option syntax so it takes the standard plugin's arguments unchanged.
// It is what every Go check pays before doing anything of its own (the
// runtime, net/http and crypto/tls initialisation, a goroutine per
// connection), so "ours / go floor" is the part of a check's time that is
// the suite's, and "go floor / check_http" the part that is Go's.
//
//	gofloor -I 127.0.0.1 -p 18080 -u /_ping [-a user:password] [-t 10]
//	gofloor 3 text      (check_dummy's syntax: prints text, exits 3)
//
// Bench-only: it takes the password in argv like check_http does here.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/registry-checks/registry-checks/bench/compare/internal/floorargs"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	a, code, done := floorargs.Parse("GOFLOOR", args)
	if done {
		return code
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+net.JoinHostPort(a.Host, a.Port)+a.Path, nil)
	if err != nil {
		fmt.Println("GOFLOOR UNKNOWN -", err)
		return 3
	}
	if user, pass, ok := strings.Cut(a.Auth, ":"); ok {
		req.SetBasicAuth(user, pass)
	}
	start := time.Now()
	resp, err := (&http.Client{Timeout: a.Timeout}).Do(req)
	if err != nil {
		fmt.Println("GOFLOOR CRITICAL -", err)
		return 2
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		fmt.Println("GOFLOOR CRITICAL - reading the body:", err)
		return 2
	}
	state, code := "OK", 0
	if resp.StatusCode >= 400 {
		state, code = "CRITICAL", 2
	}
	fmt.Printf("GOFLOOR %s - %s, %d bytes | time=%.6fs size=%dB\n", state, resp.Status, n, time.Since(start).Seconds(), n)
	return code
}
