// Command rawfloor is the second floor of bench/compare: the same GET as
// gofloor, written on a raw TCP socket (HTTP/1.0, no net/http), so that
// the report can tell what Go's runtime costs from what net/http costs.
// It takes check_http's option syntax like gofloor, and check_dummy's on
// the --version row.
//
// Bench-only: no TLS, no redirects, no chunked bodies; the password comes
// in argv like check_http's here.
package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/registry-checks/registry-checks/bench/compare/internal/floorargs"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	a, code, done := floorargs.Parse("RAWFLOOR", args)
	if done {
		return code
	}
	start := time.Now()
	addr := net.JoinHostPort(a.Host, a.Port)
	c, err := net.DialTimeout("tcp", addr, a.Timeout)
	if err != nil {
		fmt.Println("RAWFLOOR CRITICAL -", err)
		return 2
	}
	defer c.Close()
	_ = c.SetDeadline(start.Add(a.Timeout))
	req := "GET " + a.Path + " HTTP/1.0\r\nHost: " + addr + "\r\n"
	if a.Auth != "" {
		req += "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(a.Auth)) + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		fmt.Println("RAWFLOOR CRITICAL - sending:", err)
		return 2
	}
	// HTTP/1.0: the server closes the connection after the answer.
	answer, err := io.ReadAll(c)
	if err != nil {
		fmt.Println("RAWFLOOR CRITICAL - reading:", err)
		return 2
	}
	status, _, _ := bytes.Cut(answer, []byte("\r\n"))
	fields := strings.Fields(string(status))
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "HTTP/") {
		fmt.Printf("RAWFLOOR CRITICAL - not an HTTP answer: %.40q\n", answer)
		return 2
	}
	state, code := "OK", 0
	if n, _ := strconv.Atoi(fields[1]); n >= 400 || n == 0 {
		state, code = "CRITICAL", 2
	}
	fmt.Printf("RAWFLOOR %s - %s, %d bytes | time=%.6fs\n", state, status, len(answer), time.Since(start).Seconds())
	return code
}
