// Package docs_test keeps the examples of README.md and docs/ true: Nagios
// object examples are verified by nagios4 -v against the stock Debian
// configuration plus the shipped objects, and docs/quickstart.md is followed
// word for word on this machine (quickstart_test.go).
package docs_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/nrpe/nrpetest"
	"github.com/registry-checks/registry-checks/test/docexamples"
	"github.com/registry-checks/registry-checks/test/stackenv"
)

// block is one example of a page: a fenced code block (its info string as
// lang) or an indented block.
type block struct {
	file string
	line int
	lang string
	text string
}

func blocks(t *testing.T, file string) []block {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	var out []block
	var cur *block
	indented := func() {
		if cur != nil && cur.lang == "indented" {
			out = append(out, *cur)
			cur = nil
		}
	}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		l := sc.Text()
		switch {
		case cur != nil && cur.lang != "indented" && strings.HasPrefix(l, "```"):
			out = append(out, *cur)
			cur = nil
		case cur != nil && cur.lang != "indented":
			cur.text += l + "\n"
		case strings.HasPrefix(l, "```"):
			indented()
			cur = &block{file: file, line: n, lang: strings.TrimSpace(strings.TrimPrefix(l, "```"))}
		case strings.HasPrefix(l, "    ") && (cur != nil || strings.TrimSpace(l) != ""):
			if cur == nil {
				cur = &block{file: file, line: n, lang: "indented"}
			}
			cur.text += strings.TrimPrefix(l, "    ") + "\n"
		case strings.TrimSpace(l) == "" && cur != nil:
			cur.text += "\n"
		default:
			indented()
		}
	}
	indented()
	return out
}

func pages(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.md")
	require.NoError(t, err)
	return append([]string{"../README.md"}, files...)
}

var nagiosObject = regexp.MustCompile(`(?ms)^[ \t]*define\s+\w+\s*\{.*?^[ \t]*\}`)

var nagiosDefine = regexp.MustCompile(`(?m)^\s*define\s+(host|service|command|hostgroup|servicegroup|contact)\s*\{`)

// TestNagiosExamplesOnStockDebian runs nagios4 -v on every Nagios object
// example of the docs, each with the stock Debian configuration
// (/etc/nagios4, as nagios4-common installs it, whose generic-host has no
// max_check_attempts) and the shipped objects: an example that only works
// with a test-made template fails here.
func TestNagiosExamplesOnStockDebian(t *testing.T) {
	nrpetest.NeedProgram(t, "/usr/sbin/nagios4", "nagios4-core")
	stock, err := os.ReadFile("/etc/nagios4/nagios.cfg")
	if err != nil {
		t.Skipf("no stock Nagios configuration: %v", err)
	}
	shipped, err := filepath.Abs("../nrpe/nagios/registry-checks.cfg")
	require.NoError(t, err)
	n := 0
	for _, page := range pages(t) {
		for _, b := range blocks(t, page) {
			if !nagiosDefine.MatchString(b.text) || !strings.Contains(b.text, "host_name") {
				continue
			}
			n++
			t.Run(filepath.Base(b.file)+":"+strconv.Itoa(b.line), func(t *testing.T) {
				// Nagios reads its files as nagios_user (nagios in the stock file).
				dir := nrpetest.PublicTempDir(t)
				site := filepath.Join(dir, "example.cfg")
				// The object definitions alone: a shell example writes them with a here-document.
				objs := strings.Join(nagiosObject.FindAllString(b.text, -1), "\n")
				require.NoError(t, os.WriteFile(site, []byte(objs+"\n"), 0o644))
				main := string(stock) + "\ncfg_file=" + shipped + "\ncfg_file=" + site + "\n"
				require.NoError(t, os.WriteFile(filepath.Join(dir, "nagios.cfg"), []byte(main), 0o644))
				out, err := exec.Command("/usr/sbin/nagios4", "-v", filepath.Join(dir, "nagios.cfg")).CombinedOutput()
				require.NoError(t, err, "nagios4 -v with the stock configuration rejects the example at %s:%d:\n%s\n%s", b.file, b.line, objs, out)
				assert.Regexp(t, `Total Warnings:\s+0`, string(out))
				assert.Regexp(t, `Total Errors:\s+0`, string(out))
			})
		}
	}
	assert.Greater(t, n, 0, "no Nagios example found")
}

// Every fenced block says what it is, so that none escapes the tests by
// accident: sh (commands), nagios, icinga2, nrpe, toml (Telegraf), text
// (output), influxql (InfluxDB 1.x statements).
func TestFencedBlocksHaveALanguage(t *testing.T) {
	known := map[string]bool{"sh": true, "nagios": true, "icinga2": true, "nrpe": true, "toml": true, "text": true, "json": true, "influxql": true, "indented": true}
	for _, page := range pages(t) {
		for _, b := range blocks(t, page) {
			assert.True(t, known[b.lang], "%s:%d: fenced block without a known language (%q): write ```sh, ```nagios, ```icinga2, ```nrpe, ```toml, ```influxql or ```text", b.file, b.line, b.lang)
		}
	}
}

// One credentials path everywhere: every credentials file an example names
// is the one the package ships.
func TestOneCredentialsPath(t *testing.T) {
	re := regexp.MustCompile(`credentials-file[ =]([^ \x60\n]+)`)
	for _, page := range pages(t) {
		for _, b := range blocks(t, page) {
			for _, m := range re.FindAllStringSubmatch(b.text, -1) {
				if strings.HasPrefix(m[1], "$") || m[1] == "PATH" {
					continue // a variable: Nagios's $_HOSTCOUCH_CREDENTIALS$
				}
				assert.Equal(t, "/etc/registry-checks/couch.cred", m[1], "%s:%d", b.file, b.line)
			}
		}
	}
}

// Every NRPE line of the docs runs a shipped binary with options it has.
func TestNRPEExamplesUseRealOptions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries: skipped under -short")
	}
	bin := nrpetest.BuildBinaries(t)
	known := map[string]map[string]bool{}
	opts := func(b string) map[string]bool {
		if known[b] == nil {
			out, _ := exec.Command(filepath.Join(bin, b), "--help").Output()
			known[b] = map[string]bool{}
			for _, l := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(l, "  -") {
					for _, o := range regexp.MustCompile(`--[a-z0-9-]+`).FindAllString(l, -1) {
						known[b][o] = true
					}
				}
			}
		}
		return known[b]
	}
	n := 0
	for _, page := range pages(t) {
		for _, b := range blocks(t, page) {
			if b.lang != "nrpe" {
				continue
			}
			for _, c := range nrpetest.ParseNRPE([]byte(b.text)) {
				words := strings.Fields(c.Line)
				name := filepath.Base(words[0])
				o := opts(name)
				require.NotEmpty(t, o, "%s:%d: %s is not a binary of the suite", b.file, b.line, name)
				n++
				for _, w := range words[1:] {
					if strings.HasPrefix(w, "--") {
						k, _, _ := strings.Cut(w, "=")
						assert.True(t, o[k], "%s:%d: %s has no option %s", b.file, b.line, name, k)
					}
				}
			}
		}
	}
	assert.Greater(t, n, 0)
}

// exampleHosts maps the docs' example names to the stack's.
// exampleSecrets writes the notification commands' secret files into
// dir, with a receiver that is never called (the examples flush an empty
// queue), and returns their paths.
func exampleSecrets(t *testing.T, dir string) (hook, key string) {
	hook, key = filepath.Join(dir, "chat-webhook"), filepath.Join(dir, "pagerduty-routing-key")
	require.NoError(t, os.WriteFile(hook, []byte("http://127.0.0.1:9/hook\n"), 0o600))
	require.NoError(t, os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef\n"), 0o600))
	return hook, key
}

func exampleHosts(env map[string]string, extra ...string) *strings.Replacer {
	return strings.NewReplacer(append(extra,
		"http://db1:5984", env["COUCH_PRIMARY_URL"],
		"http://db2:5984", env["COUCH_REPLICA1_URL"],
		"http://127.0.0.1:5984", env["COUCH_REPLICA1_URL"],
		"https://registry.example.com", env["CDN_URL"],
		"http://origin1:8081", env["ORIGIN1_URL"],
		"http://origin2:8081", env["ORIGIN2_URL"],
		"/etc/registry-checks/couch.cred", env["COUCH_CREDENTIALS_FILE"],
		"/opt/couchdb/data", env["STACK_DIR"],
		// the examples' package, as the stack seeds it (the first
		// match wins: the tarball and version before the name)
		"left-pad/-/left-pad-1.3.0.tgz", "left-pad-lite/-/left-pad-lite-1.2.0.tgz",
		"left-pad@1.3.0", "left-pad-lite@1.2.0",
		"left-pad", "left-pad-lite",
		"/var/log/varnish/varnishncsa.log", env["CDN_ACCESS_LOG"],
		"http://influx:8086", env["INFLUX_URL"],
	)...)
}

// TestBinaryExamplesRunAgainstStackIntegration runs every command of a
// suite binary in the docs' sh blocks against the local stack (example host
// names replaced by the stack's): each must be accepted (no "bad
// arguments"), exit 0-3, print the first word its example output shows,
// and print every perfdata label the example shows.
func TestBinaryExamplesRunAgainstStackIntegration(t *testing.T) {
	env := stackenv.Need(t, "STACK_DIR", "COUCH_PRIMARY_URL", "COUCH_REPLICA1_URL", "COUCH_CREDENTIALS_FILE", "ORIGIN1_URL", "ORIGIN2_URL", "CDN_URL")
	bin := nrpetest.BuildBinaries(t)
	binaries := map[string]bool{}
	for _, p := range nrpetest.Binaries {
		binaries[filepath.Base(p)] = true
	}
	hook, key := exampleSecrets(t, t.TempDir())
	hosts := exampleHosts(env, "/etc/registry-checks/chat-webhook", hook, "/etc/registry-checks/pagerduty-routing-key", key)
	n := 0
	for _, page := range pages(t) {
		for _, b := range blocks(t, page) {
			if b.lang != "sh" {
				continue
			}
			text := strings.ReplaceAll(b.text, "\\\n", " ")
			ls := strings.Split(strings.TrimSpace(text), "\n")
			words := strings.Fields(ls[0])
			if len(words) == 0 || !binaries[words[0]] {
				continue
			}
			n++
			t.Run(filepath.Base(b.file)+":"+strconv.Itoa(b.line), func(t *testing.T) {
				args, err := docexamples.ShellWords(hosts.Replace(strings.Join(words[1:], " ")))
				require.NoError(t, err)
				out, err := exec.Command(filepath.Join(bin, words[0]), args...).Output()
				if ee, ok := err.(*exec.ExitError); ok {
					assert.LessOrEqual(t, ee.ExitCode(), 3)
				} else {
					require.NoError(t, err)
				}
				first, _, _ := strings.Cut(string(out), "\n")
				t.Logf("%s on the stack: %s", words[0], first)
				assert.NotContains(t, first, "bad arguments", "%s:%d: the example's options are refused", b.file, b.line)
				if len(ls) > 1 {
					// The example's own output: same plugin name, and
					// every perfdata label it shows is one the binary
					// prints (the pages show states the stack is not in:
					// a full disk, a crashed job; the metrics are the
					// same in every state).
					want := strings.Fields(ls[1])[0]
					assert.True(t, strings.HasPrefix(first, want+" "), "%s:%d: example output starts with %q, the binary prints %q", b.file, b.line, want, first)
					printed := docexamples.PerfLabels(string(out))
					for l := range docexamples.PerfLabels(strings.Join(ls[1:], "\n")) {
						assert.True(t, printed[l], "%s:%d: the example shows the perfdata label %s, which the binary does not print: %s", b.file, b.line, l, out)
					}
				}
			})
		}
	}
	assert.Greater(t, n, 0)
}

// The EXAMPLES of every binary's --help run against the stack too, and
// the output each shows is compared with what the binary prints there
// (docexamples.MatchOutput).
func TestHelpExamplesRunAgainstStackIntegration(t *testing.T) {
	env := stackenv.Need(t, "STACK_DIR", "COUCH_PRIMARY_URL", "COUCH_REPLICA1_URL", "COUCH_CREDENTIALS_FILE", "ORIGIN1_URL", "ORIGIN2_URL", "CDN_URL", "CDN_ACCESS_LOG", "INFLUX_URL")
	bin := nrpetest.BuildBinaries(t)
	secrets := t.TempDir()
	hook, key := exampleSecrets(t, secrets)
	// check_cdn_log's examples are a first run and a later one: they read
	// a log of their own, which gains 1,000 lines of CDN traffic before
	// every run but the first.
	cdnLog, cdnState := filepath.Join(secrets, "varnishncsa.log"), t.TempDir()
	require.NoError(t, os.WriteFile(cdnLog, nil, 0o644))
	hosts := exampleHosts(env, "/etc/registry-checks/chat-webhook", hook, "/etc/registry-checks/pagerduty-routing-key", key,
		"/var/log/varnish/varnishncsa.log", cdnLog, "/var/lib/registry-checks", cdnState)
	n := 0
	runs := map[string]int{}
	for _, p := range nrpetest.Binaries {
		name := filepath.Base(p)
		help, _ := exec.Command(filepath.Join(bin, name), "--help").Output()
		ls := strings.Split(string(help), "\n")
		for i := 0; i < len(ls); i++ {
			if !strings.HasPrefix(ls[i], "  $ ") {
				continue
			}
			cmdline := strings.TrimPrefix(ls[i], "  $ ")
			for i+1 < len(ls) && strings.HasPrefix(ls[i+1], "      ") {
				i++
				cmdline += " " + strings.TrimSpace(ls[i])
			}
			var shown []string
			for i+1 < len(ls) && strings.HasPrefix(ls[i+1], "  ") && !strings.HasPrefix(ls[i+1], "  $ ") {
				i++
				shown = append(shown, strings.TrimPrefix(ls[i], "  "))
			}
			require.NotEmpty(t, shown, "%s --help: example %q shows no output", name, cmdline)
			words, err := docexamples.ShellWords(hosts.Replace(cmdline))
			require.NoError(t, err)
			require.Equal(t, name, words[0], "an example of %s runs another binary", name)
			n++
			if runs[name]++; name == "check_cdn_log" && runs[name] > 1 {
				var lines strings.Builder
				at := time.Now().Add(-time.Minute).UTC()
				for i := range 1000 {
					// varnishncsa's lines as the stack writes them: 70%
					// tarballs, one in 500 a 503, nine in ten cache hits
					path, status, cache := "/left-pad/-/left-pad-1.3.0.tgz", 200, "hit"
					if i%10 >= 7 {
						path = "/left-pad"
					}
					if i%500 == 499 {
						status = 503
					}
					if i%10 == 3 {
						cache = "miss"
					}
					fmt.Fprintf(&lines, "127.0.0.1 - - [%s] \"GET http://registry.example.com%s HTTP/1.1\" %d 326 \"-\" \"npm/10.2.4\" %s 92\n",
						at.Add(time.Duration(i)*50*time.Millisecond).Format("02/Jan/2006:15:04:05 -0700"), path, status, cache)
				}
				f, err := os.OpenFile(cdnLog, os.O_APPEND|os.O_WRONLY, 0)
				require.NoError(t, err)
				_, err = f.WriteString(lines.String())
				require.NoError(t, errors.Join(err, f.Close()))
			}
			out, _ := exec.Command(filepath.Join(bin, name), words[1:]...).Output()
			first, _, _ := strings.Cut(string(out), "\n")
			t.Logf("%s: %s", cmdline, first)
			assert.NotContains(t, first, "bad arguments", "%s --help example refused: %s", name, cmdline)
			// The output shown is the product's (docexamples.MatchOutput:
			// the same words, perfdata labels and thresholds; numbers and
			// hosts are the stack's), paths of the example's world
			// replaced by the stack's.
			if name == "check_couch_replication" {
				// Compared line by line with the product's output on
				// captured CouchDB 3.4.3 answers, whose replication
				// names the example shows (help_examples_test.go).
				continue
			}
			if !stackenv.RealCouchDB(env) && (strings.Contains(name, "couch") || strings.HasPrefix(name, "promote_")) {
				// The examples show what CouchDB 3 makes them print:
				// PouchDB Server gives no sizes and no through_seq.
				want := strings.Fields(shown[0])[0]
				assert.True(t, strings.HasPrefix(first, want+" "), "%s --help example prints %q", name, first)
				continue
			}
			assert.NoError(t, docexamples.MatchOutput(hosts.Replace(strings.Join(shown, "\n")), string(out)), "%s --help example: %s", name, cmdline)
		}
	}
	assert.GreaterOrEqual(t, n, len(nrpetest.Binaries))
}

// TestIcingaExamplesOnStockDebian validates every Icinga 2 example with
// icinga2 daemon -C on a copy of the stock Debian /etc/icinga2, the shipped
// commands in zones.d/global-templates (as docs/integration.md says) and
// the example at the path its first line names
// ("// /etc/icinga2/zones.d/master/registry.conf"). An example under
// zones.d/<zone>/ runs as that zone's node (-DNodeName=<zone>), as on a
// master set up by icinga2 node wizard: command_endpoint outside a zone
// fails here as on a real master.
func TestIcingaExamplesOnStockDebian(t *testing.T) {
	nrpetest.NeedProgram(t, "/usr/sbin/icinga2", "icinga2-bin")
	if _, err := os.Stat("/etc/icinga2/icinga2.conf"); err != nil {
		t.Skipf("no stock Icinga 2 configuration: %v", err)
	}
	shipped, err := os.ReadFile("../nrpe/icinga2/registry-checks.conf")
	require.NoError(t, err)
	where := regexp.MustCompile(`^// /etc/icinga2/(\S+\.conf)\n`)
	n := 0
	for _, page := range pages(t) {
		for _, b := range blocks(t, page) {
			if b.lang != "icinga2" {
				continue
			}
			n++
			t.Run(filepath.Base(b.file)+":"+strconv.Itoa(b.line), func(t *testing.T) {
				m := where.FindStringSubmatch(b.text)
				require.NotNil(t, m, "%s:%d: an Icinga 2 example starts with the file it goes to: // /etc/icinga2/...", b.file, b.line)
				dir := nrpetest.PublicTempDir(t)
				etc := filepath.Join(dir, "etc")
				out, err := exec.Command("cp", "-a", "/etc/icinga2", etc).CombinedOutput()
				require.NoError(t, err, "%s", out)
				require.NoError(t, os.MkdirAll(filepath.Join(etc, "zones.d/global-templates"), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(etc, "zones.d/global-templates/registry-checks.conf"), shipped, 0o644))
				require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(etc, m[1])), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(etc, m[1]), []byte(b.text), 0o644))
				args := []string{"daemon", "-C", "-c", filepath.Join(etc, "icinga2.conf"), "-DZonesDir=" + filepath.Join(etc, "zones.d")}
				for k, d := range map[string]string{"DataDir": "lib", "LogDir": "log", "CacheDir": "cache", "SpoolDir": "spool", "InitRunDir": "run"} {
					p := filepath.Join(dir, "var", d)
					require.NoError(t, os.MkdirAll(p, 0o777))
					require.NoError(t, os.Chmod(p, 0o777))
					args = append(args, "-D"+k+"="+p)
				}
				if parts := strings.Split(m[1], "/"); len(parts) == 3 && parts[0] == "zones.d" && parts[1] != "global-templates" {
					args = append(args, "-DNodeName="+parts[1])
				}
				out, err = exec.Command("/usr/sbin/icinga2", args...).CombinedOutput()
				require.NoError(t, err, "icinga2 daemon -C on the stock configuration rejects %s:%d:\n%s", b.file, b.line, out)
				assert.NotContains(t, string(out), "warning/config")
			})
		}
	}
	assert.Greater(t, n, 0, "no Icinga 2 example found")
}

// An NRPE command of the docs named like one the package ships is the
// shipped line, word for word: the docs showed -t 15 where the file has
// -t 20.
func TestNRPEExamplesAreTheShippedLines(t *testing.T) {
	b, err := os.ReadFile("../nrpe/nrpe.d/registry-checks.cfg")
	require.NoError(t, err)
	shipped := map[string]string{}
	for _, c := range nrpetest.ParseNRPE(b) {
		shipped[c.Name] = c.Line
	}
	n := 0
	for _, page := range pages(t) {
		for _, bl := range blocks(t, page) {
			if bl.lang != "nrpe" {
				continue
			}
			for _, c := range nrpetest.ParseNRPE([]byte(bl.text)) {
				want, ok := shipped[c.Name]
				if !ok {
					continue // a command of the operator's own, an example
				}
				n++
				assert.Equal(t, want, c.Line, "%s:%d: command[%s] differs from nrpe/nrpe.d/registry-checks.cfg", bl.file, bl.line, c.Name)
			}
		}
	}
	assert.Greater(t, n, 0)
}

// The example at the top of the shipped Nagios file (comments) passes
// nagios4 -v with the stock Debian configuration and the file itself: the
// stock generic-host has no max_check_attempts.
func TestShippedNagiosFileExampleOnStockDebian(t *testing.T) {
	nrpetest.NeedProgram(t, "/usr/sbin/nagios4", "nagios4-core")
	stock, err := os.ReadFile("/etc/nagios4/nagios.cfg")
	if err != nil {
		t.Skipf("no stock Nagios configuration: %v", err)
	}
	shipped, err := filepath.Abs("../nrpe/nagios/registry-checks.cfg")
	require.NoError(t, err)
	b, err := os.ReadFile(shipped)
	require.NoError(t, err)
	var example strings.Builder
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "# Example:"):
			in = true
		case in && !strings.HasPrefix(l, "#"):
			in = false
		case in:
			example.WriteString(strings.TrimPrefix(strings.TrimPrefix(l, "#"), " ") + "\n")
		}
	}
	objs := strings.Join(nagiosObject.FindAllString(example.String(), -1), "\n")
	require.Contains(t, objs, "define host", "no example found in %s", shipped)
	dir := nrpetest.PublicTempDir(t)
	site := filepath.Join(dir, "example.cfg")
	require.NoError(t, os.WriteFile(site, []byte(objs+"\n"), 0o644))
	main := string(stock) + "\ncfg_file=" + shipped + "\ncfg_file=" + site + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nagios.cfg"), []byte(main), 0o644))
	out, err := exec.Command("/usr/sbin/nagios4", "-v", filepath.Join(dir, "nagios.cfg")).CombinedOutput()
	require.NoError(t, err, "nagios4 -v rejects the example of %s:\n%s\n%s", shipped, objs, out)
	assert.Regexp(t, `Total Errors:\s+0`, string(out))
}
