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
	"strconv"
	"strings"
	"time"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) > 0 && len(args[0]) == 1 && args[0][0] >= '0' && args[0][0] <= '3' {
		fmt.Println("GOFLOOR -", strings.Join(args[1:], " "))
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
				fmt.Println("GOFLOOR UNKNOWN - bad -t:", v)
				return 3
			}
			timeout = time.Duration(s) * time.Second
		default:
			fmt.Println("GOFLOOR UNKNOWN - unknown option", args[i])
			return 3
		}
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+net.JoinHostPort(host, port)+path, nil)
	if err != nil {
		fmt.Println("GOFLOOR UNKNOWN -", err)
		return 3
	}
	if user, pass, ok := strings.Cut(auth, ":"); ok {
		req.SetBasicAuth(user, pass)
	}
	start := time.Now()
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
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
