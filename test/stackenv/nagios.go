package stackenv

import (
	"os"
	"strings"
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
