package stackenv

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// NagiosBlocks parses the "kind {" ... "}" blocks of a Nagios status.dat
// text (servicestatus, programstatus, ...) into key=value maps.
func NagiosBlocks(status, kind string) []map[string]string {
	var out []map[string]string
	var cur map[string]string
	for _, line := range strings.Split(status, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == kind+" {":
			cur = map[string]string{}
		case line == "}" && cur != nil:
			out = append(out, cur)
			cur = nil
		case cur != nil:
			if k, v, ok := strings.Cut(line, "="); ok {
				cur[k] = v
			}
		}
	}
	return out
}

// NagiosService is the servicestatus block of service svc on host (any
// host when host is "") in the status.dat at path; nil when Nagios has not
// written it (yet).
func NagiosService(path, host, svc string) map[string]string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	for _, blk := range NagiosBlocks(string(b), "servicestatus") {
		if blk["service_description"] == svc && (host == "" || blk["host_name"] == host) {
			return blk
		}
	}
	return nil
}

// NagiosCommand writes one external command (e.g.
// "SCHEDULE_FORCED_SVC_CHECK;host;service;TIME") into Nagios's command
// file, NAGIOS_CMD_FILE of the stack's env.
func NagiosCommand(file, cmd string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "[%d] %s\n", time.Now().Unix(), cmd)
	return err
}
