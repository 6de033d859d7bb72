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
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) > 0 && len(args[0]) == 1 && args[0][0] >= '0' && args[0][0] <= '3' {
		fmt.Println("RAWFLOOR -", strings.Join(args[1:], " "))
		return int(args[0][0] - '0')
	}
	host, port, path, auth, timeout := "127.0.0.1", "80", "/", "", 10*time.Second
	for i := 0; i+1 < len(args); i += 2 {
		switch v := args[i+1]; args[i] {
		case "-I":
			host = v
		case "-p":
			port = v
		case "-u":
			path = v
		case "-a":
			auth = v
		case "-t":
			s, err := strconv.Atoi(v)
			if err != nil {
				fmt.Println("RAWFLOOR UNKNOWN - bad -t:", v)
				return 3
			}
			timeout = time.Duration(s) * time.Second
		default:
			fmt.Println("RAWFLOOR UNKNOWN - unknown option", args[i])
			return 3
		}
	}
	start := time.Now()
	addr := net.JoinHostPort(host, port)
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		fmt.Println("RAWFLOOR CRITICAL -", err)
		return 2
	}
	defer c.Close()
	_ = c.SetDeadline(start.Add(timeout))
	req := "GET " + path + " HTTP/1.0\r\nHost: " + addr + "\r\n"
	if auth != "" {
		req += "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(auth)) + "\r\n"
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
