// Package floorargs reads the arguments of bench/compare's two floors,
// check_http's syntax or check_dummy's, without linking net/http (the
// raw-socket floor must not).
package floorargs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Args are the check_http options the floors take.
type Args struct {
	Host, Port, Path, Auth string
	Timeout                time.Duration
}

// Parse reads args for the program called name. When it returns done, the
// program has nothing more to do than exit with code: it was given
// check_dummy's "N text" (printed), or a bad option (reported).
func Parse(name string, args []string) (a Args, code int, done bool) {
	if len(args) > 0 && len(args[0]) == 1 && args[0][0] >= '0' && args[0][0] <= '3' {
		fmt.Println(name, "-", strings.Join(args[1:], " "))
		return a, int(args[0][0] - '0'), true
	}
	a = Args{Host: "127.0.0.1", Port: "80", Path: "/", Timeout: 10 * time.Second}
	for i := 0; i+1 < len(args); i += 2 {
		switch v := args[i+1]; args[i] {
		case "-I":
			a.Host = v
		case "-p":
			a.Port = v
		case "-u":
			a.Path = v
		case "-a":
			a.Auth = v
		case "-t":
			s, err := strconv.Atoi(v)
			if err != nil {
				fmt.Println(name, "UNKNOWN - bad -t:", v)
				return a, 3, true
			}
			a.Timeout = time.Duration(s) * time.Second
		default:
			fmt.Println(name, "UNKNOWN - unknown option", args[i])
			return a, 3, true
		}
	}
	return a, 0, false
}
