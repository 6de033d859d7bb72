// Package version holds the suite's version, set at link time by the
// Makefile (-X) and otherwise read from the module's build information.
package version

import "runtime/debug"

// Version is overridden with -ldflags "-X .../lib/version.Version=v1.2.3".
var Version = ""

// String returns the version to show in --version and the User-Agent.
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}

// UserAgent is the User-Agent every HTTP request of the suite sends.
func UserAgent() string { return "registry-checks/" + String() }
