// Package nrpe_test checks the monitoring configuration shipped in nrpe/
// against the real programs: NRPE (the stack's), Nagios 4 and Icinga 2.
package nrpe_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/nrpe/nrpetest"
	"github.com/registry-checks/registry-checks/test/stackenv"
)

const (
	nrpeFile    = "nrpe.d/registry-checks.cfg"
	nagiosFile  = "nagios/registry-checks.cfg"
	icingaFile  = "icinga2/registry-checks.conf"
	telegrafCfg = "telegraf/registry-checks.conf"
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return b
}

func TestNRPEFileFixedCommands(t *testing.T) {
	cmds := nrpetest.ParseNRPE(read(t, nrpeFile))
	active := map[string]nrpetest.Command{}
	commented := 0
	for _, c := range cmds {
		words := strings.Fields(c.Line)
		require.NotEmpty(t, words, c.Name)
		assert.True(t, strings.HasPrefix(words[0], nrpetest.PluginDir+"/"), "%s runs %s, not a binary in %s", c.Name, words[0], nrpetest.PluginDir)
		assert.NotRegexp(t, `://[^/\s]*@`, c.Line, "%s: credentials belong in a file, never on the command line", c.Name)
		if c.Commented {
			commented++
			assert.Contains(t, c.Line, "$ARG1$", "%s: a commented variant is the argument-passing one", c.Name)
			continue
		}
		assert.NotContains(t, c.Line, "$ARG", "%s: active commands must work with dont_blame_nrpe=0", c.Name)
		active[c.Name] = c
	}
	for _, p := range nrpetest.Binaries {
		if nrpetest.IsNotifier(p) {
			continue // run by Nagios on its own host, never through NRPE
		}
		b := filepath.Base(p)
		c, ok := active[b]
		if assert.True(t, ok, "no fixed NRPE command for %s", b) {
			assert.Equal(t, nrpetest.PluginDir+"/"+b, strings.Fields(c.Line)[0])
		}
	}
	assert.GreaterOrEqual(t, commented, len(nrpetest.Binaries)-len(nrpetest.Notifiers), "a commented argument-passing variant per binary")
}

// helpOptions is the set of --long options a binary's --help lists.
func helpOptions(t *testing.T, bin string) map[string]bool {
	t.Helper()
	out, _ := exec.Command(bin, "--help").Output() // exit 3 by contract
	opts := map[string]bool{}
	for _, m := range regexp.MustCompile(`--[a-z0-9-]+`).FindAllString(string(out), -1) {
		opts[m] = true
	}
	require.NotEmpty(t, opts, "%s --help", bin)
	return opts
}

// Every option any shipped file passes to a binary must exist: a typo
// would make the check UNKNOWN ("bad arguments") in production only.
func TestShippedOptionsExist(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries: skipped under -short")
	}
	bin := nrpetest.BuildBinaries(t)
	known := map[string]map[string]bool{}
	for _, p := range nrpetest.Binaries {
		b := filepath.Base(p)
		known[b] = helpOptions(t, filepath.Join(bin, b))
	}
	check := func(where, binary string, words []string) {
		opts, ok := known[binary]
		if !assert.True(t, ok, "%s: %s is not a binary of the suite", where, binary) {
			return
		}
		for _, w := range words {
			if strings.HasPrefix(w, "--") {
				name, _, _ := strings.Cut(w, "=")
				assert.True(t, opts[name], "%s: %s has no option %s", where, binary, name)
			}
		}
	}
	for _, c := range nrpetest.ParseNRPE(read(t, nrpeFile)) {
		words := strings.Fields(c.Line)
		check(nrpeFile+" "+c.Name, filepath.Base(words[0]), words[1:])
	}
	// Nagios command_line: $USER1$/binary ...
	nagiosCmd := regexp.MustCompile(`(?m)^\s*command_line\s+\$USER1\$/(\S+)(.*)$`)
	for _, m := range nagiosCmd.FindAllStringSubmatch(string(read(t, nagiosFile)), -1) {
		if m[1] != "check_nrpe" {
			check(nagiosFile, m[1], strings.Fields(m[2]))
		}
	}
	// Icinga 2: the argument keys of each command object.
	for binary, args := range icingaArguments(t, string(read(t, icingaFile))) {
		check(icingaFile, binary, args)
	}
	for _, cmd := range nrpetest.TelegrafCommands(string(read(t, telegrafCfg))) {
		words := strings.Fields(cmd)
		check(telegrafCfg, filepath.Base(words[0]), words[1:])
	}
}

// icingaArguments returns, per binary, the option keys of its command
// object, the template's shared ones included.
func icingaArguments(t *testing.T, conf string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	var shared []string
	var cur string
	inTemplate := false
	sc := bufio.NewScanner(strings.NewReader(conf))
	obj := regexp.MustCompile(`^(object|template) (CheckCommand|EventCommand|NotificationCommand) "`)
	cmd := regexp.MustCompile(`command = \[ PluginDir \+ "/(\S+)" \]`)
	key := regexp.MustCompile(`^\s*"(--[a-z0-9-]+)" = \{`)
	var keys []string
	for sc.Scan() {
		line := sc.Text()
		if m := obj.FindStringSubmatch(line); m != nil {
			inTemplate = m[1] == "template"
			cur, keys = "", nil
		}
		if m := cmd.FindStringSubmatch(line); m != nil {
			cur = m[1]
		}
		if m := key.FindStringSubmatch(line); m != nil {
			keys = append(keys, m[1])
		}
		if line == "}" {
			if inTemplate && shared == nil {
				shared = keys
			} else if cur != "" {
				// A binary may have several objects (host and service notifications).
				out[cur] = append(append(out[cur], shared...), keys...)
			}
			cur, keys, inTemplate = "", nil, false
		}
	}
	require.NotEmpty(t, shared, "the shared argument template")
	return out
}

// Every option of every binary has an Icinga 2 argument: the ITL style
// this file follows exposes the whole command line.
func TestIcingaCoversEveryOption(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries: skipped under -short")
	}
	bin := nrpetest.BuildBinaries(t)
	args := icingaArguments(t, string(read(t, icingaFile)))
	for _, p := range nrpetest.Binaries {
		b := filepath.Base(p)
		have := map[string]bool{"--help": true, "--version": true, "--output": true}
		for _, a := range args[b] {
			have[a] = true
		}
		for o := range helpOptions(t, filepath.Join(bin, b)) {
			assert.True(t, have[o], "%s: %s has no argument for %s", icingaFile, b, o)
		}
	}
}

// The committed Icinga 2 file is what packaging/mkicinga writes from the
// binaries' own man pages: regenerate it when an option changes.
func TestIcingaFileIsGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries: skipped under -short")
	}
	bin := nrpetest.BuildBinaries(t)
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "run", "./packaging/mkicinga", "-bin", bin)
	cmd.Dir = nrpetest.RepoRoot(t)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "mkicinga: %s", stderr.String())
	assert.Equal(t, string(out), string(read(t, icingaFile)),
		"%s is stale: make build && go run ./packaging/mkicinga -bin build > nrpe/%s", icingaFile, icingaFile)
}

func TestIcingaITLStyle(t *testing.T) {
	conf := string(read(t, icingaFile))
	for _, p := range nrpetest.Binaries {
		b := filepath.Base(p)
		assert.Contains(t, conf, `command = [ PluginDir + "/`+b+`" ]`)
	}
	assert.Contains(t, conf, `object EventCommand "restart_couch_replication"`)
	for _, n := range []string{"notify-chat-service", "notify-chat-host", "notify-pagerduty-service", "notify-pagerduty-host"} {
		assert.Contains(t, conf, `object NotificationCommand "`+n+`"`)
	}
	assert.Regexp(t, `(?s)object NotificationCommand "notify-pagerduty-service" \{.*?"--notification-type" = \{\s*value = "\$notification.type\$".*?"--service" = \{\s*value = "\$service.name\$"`, conf)
	assert.Contains(t, conf, `value = "$service.state$"`)
	assert.Contains(t, conf, `value = "$service.state_type$"`)
	assert.Contains(t, conf, `value = "$service.check_attempt$"`)
	// Every argument has a description, and either a value or a set_if.
	blocks := regexp.MustCompile(`"--[a-z0-9-]+" = \{([^}]*)\}`).FindAllStringSubmatch(conf, -1)
	require.Greater(t, len(blocks), 100)
	for _, b := range blocks {
		assert.Contains(t, b[1], "description = ", b[0])
		assert.True(t, strings.Contains(b[1], "value = ") != strings.Contains(b[1], "set_if = "), b[0])
	}
	assert.Contains(t, conf, "required = true", "the required options (--origin, --db) say so")
	assert.Regexp(t, `(?s)template Service "registry-couch-replication" \{[^}]*max_check_attempts = 3[^}]*event_command = "restart_couch_replication"`, conf)
}

// nagiosObjects parses "define TYPE { key value ... }" blocks.
func nagiosObjects(t *testing.T, conf string) []map[string]string {
	t.Helper()
	var out []map[string]string
	var cur map[string]string
	sc := bufio.NewScanner(strings.NewReader(conf))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "define "):
			cur = map[string]string{"define": strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, "define "), "{"))}
		case line == "}":
			out = append(out, cur)
			cur = nil
		case cur != nil:
			k, v, _ := strings.Cut(line, " ")
			cur[k] = strings.TrimSpace(v)
		}
	}
	return out
}

func TestNagiosReplicationServiceWiring(t *testing.T) {
	objs := nagiosObjects(t, string(read(t, nagiosFile)))
	byName := map[string]map[string]string{}
	commands := map[string]string{}
	for _, o := range objs {
		switch o["define"] {
		case "service":
			byName[o["name"]] = o
		case "command":
			commands[o["command_name"]] = o["command_line"]
		}
	}
	for _, b := range []string{"check_couch_replication", "check_couch_disk", "check_couch_views", "check_tarball_origin", "check_fastly", "check_cdn_log", "restart_couch_replication"} {
		assert.Contains(t, commands[b], "$USER1$/"+b+" ", "direct command %s", b)
	}
	assert.Contains(t, commands["check_nrpe_registry"], "$USER1$/check_nrpe ")
	for _, tpl := range []string{"registry-couch-replication", "registry-couch-disk", "registry-couch-views", "registry-tarball-origin", "registry-fastly", "registry-cdn-log"} {
		for _, name := range []string{tpl, tpl + "-nrpe"} {
			require.Contains(t, byName, name, "service template %s", name)
			assert.Equal(t, "0", byName[name]["register"], name)
		}
		assert.NotEmpty(t, byName[tpl]["check_interval"], tpl)
		assert.NotEmpty(t, byName[tpl]["retry_interval"], tpl)
		assert.Contains(t, byName[tpl+"-nrpe"]["check_command"], "check_nrpe_registry!")
	}
	repl := byName["registry-couch-replication"]
	assert.Equal(t, "restart_couch_replication", repl["event_handler"])
	assert.Equal(t, "1", repl["event_handler_enabled"])
	assert.GreaterOrEqual(t, repl["max_check_attempts"], "3", "the second failure must be SOFT")
	assert.Contains(t, commands["restart_couch_replication"], "--state $SERVICESTATE$ --state-type $SERVICESTATETYPE$ --attempt $SERVICEATTEMPT$")
	assert.Equal(t, "restart_couch_replication_nrpe", byName["registry-couch-replication-nrpe"]["event_handler"])
}

// nagiosWrapper is the minimum around the shipped objects that Nagios needs
// to verify them: a period, a contact, base templates, and one host and
// service per shipped template, so every template and command is resolved.
const nagiosWrapper = `define timeperiod {
    timeperiod_name 24x7
    alias           always
    sunday          00:00-24:00
    monday          00:00-24:00
    tuesday         00:00-24:00
    wednesday       00:00-24:00
    thursday        00:00-24:00
    friday          00:00-24:00
    saturday        00:00-24:00
}
define command {
    command_name notify-none
    command_line /bin/true
}
define contact {
    contact_name                  admin
    host_notification_period      24x7
    service_notification_period   24x7
    host_notification_options     n
    service_notification_options  n
    host_notification_commands    notify-none
    service_notification_commands notify-none
}
define host {
    name                generic-host
    register            0
    check_period        24x7
    max_check_attempts  3
    contacts            admin
    notification_period 24x7
}
define service {
    name                generic-service
    register            0
    check_period        24x7
    contacts            admin
    notification_period 24x7
}
define host {
    use        registry-couch-node,generic-host
    host_name  db2
    address    127.0.0.1
    _COUCH_URL http://127.0.0.1:25984
}
`

func TestNagiosVerifiesObjectsIntegration(t *testing.T) {
	nrpetest.NeedProgram(t, "/usr/sbin/nagios4", "nagios4-core")
	dir := t.TempDir()
	objs := nagiosObjects(t, string(read(t, nagiosFile)))
	var services strings.Builder
	services.WriteString(nagiosWrapper)
	n := 0
	for _, o := range objs {
		if o["define"] != "service" || o["name"] == "" {
			continue
		}
		n++
		args := ""
		switch {
		case strings.HasPrefix(o["name"], "registry-tarball-origin") && !strings.HasSuffix(o["name"], "-nrpe"):
			args = "\n    check_command check_tarball_origin!--origin http://127.0.0.1:18081"
		case strings.HasPrefix(o["name"], "registry-fastly") && !strings.HasSuffix(o["name"], "-nrpe"):
			args = "\n    check_command check_fastly!-u http://127.0.0.1:18080/_ping"
		case strings.HasPrefix(o["name"], "registry-cdn-log") && !strings.HasSuffix(o["name"], "-nrpe"):
			args = "\n    check_command check_cdn_log!--log /var/log/varnish/varnishncsa.log"
		}
		services.WriteString("define service {\n    use " + o["name"] + ",generic-service\n    host_name db2\n    service_description " + o["name"] + args + "\n}\n")
	}
	require.Greater(t, n, 5)
	abs, err := filepath.Abs(nagiosFile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "site.cfg"), []byte(services.String()), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "resource.cfg"), []byte("$USER1$=/usr/lib/nagios/plugins\n"), 0o600))
	main := strings.Join([]string{
		"cfg_file=" + abs,
		"cfg_file=" + filepath.Join(dir, "site.cfg"),
		"resource_file=" + filepath.Join(dir, "resource.cfg"),
		"log_file=" + filepath.Join(dir, "nagios.log"),
		"status_file=" + filepath.Join(dir, "status.dat"),
		"lock_file=" + filepath.Join(dir, "nagios.lock"),
		"temp_file=" + filepath.Join(dir, "nagios.tmp"),
		"check_result_path=" + dir,
		"nagios_user=root", "nagios_group=root",
		"illegal_macro_output_chars=`~$&|'\"<>", "",
	}, "\n")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nagios.cfg"), []byte(main), 0o644))
	out, err := exec.Command("/usr/sbin/nagios4", "-v", filepath.Join(dir, "nagios.cfg")).CombinedOutput()
	t.Logf("nagios4 -v:\n%s", out)
	require.NoError(t, err, "nagios4 -v rejects the shipped objects")
	assert.Regexp(t, `Total Warnings:\s+0`, string(out))
	assert.Regexp(t, `Total Errors:\s+0`, string(out))
	assert.Regexp(t, `Checked \d+ services`, string(out))
}

func TestIcingaValidatesConfigIntegration(t *testing.T) {
	nrpetest.NeedProgram(t, "/usr/sbin/icinga2", "icinga2-bin")
	dir := nrpetest.PublicTempDir(t)
	abs, err := filepath.Abs(icingaFile)
	require.NoError(t, err)
	conf := `const PluginDir = "/usr/lib/nagios/plugins"
const NodeName = "registry-checks-test"
const ZoneName = "registry-checks-test"
include <itl>
include "` + abs + `"
object Host "db2" {
  address = "127.0.0.1"
  check_command = "dummy"
  vars.couchdb = true
}
apply Service "couch-replication" {
  import "registry-couch-replication"
  vars.couch_replication_heartbeat_db = "heartbeat"
  vars.couch_replication_doc_id = [ "registry-from-primary" ]
  assign where host.vars.couchdb
}
apply Service "couch-disk" {
  import "registry-couch-disk"
  vars.couch_disk_data_dir = "/opt/couchdb/data"
  assign where host.vars.couchdb
}
apply Service "couch-views" {
  import "registry-couch-views"
  assign where host.vars.couchdb
}
apply Service "tarball-origin" {
  import "registry-tarball-origin"
  vars.tarball_origin_origin = [ "http://127.0.0.1:18081", "http://127.0.0.1:18082" ]
  assign where host.vars.couchdb
}
apply Service "fastly" {
  import "registry-fastly"
  vars.fastly_url = [ "http://127.0.0.1:18080/_ping" ]
  assign where host.vars.couchdb
}
apply Service "cdn-log" {
  import "registry-cdn-log"
  vars.cdn_log_log = [ "/var/log/varnish/varnishncsa.log" ]
  assign where host.vars.couchdb
}
`
	path := filepath.Join(dir, "icinga2.conf")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o644))
	out, err := exec.Command("/usr/sbin/icinga2", "daemon", "-C", "-c", path).CombinedOutput()
	t.Logf("icinga2 daemon -C:\n%s", out)
	require.NoError(t, err, "icinga2 daemon -C rejects the shipped file")
	assert.Contains(t, string(out), "Instantiated 6 Services")
	assert.Contains(t, string(out), "Instantiated 1 EventCommand")
	assert.Contains(t, string(out), "Instantiated 4 NotificationCommands")
	assert.NotContains(t, string(out), "warning/")
}

// The stack's NRPE serves every shipped command, rendered with the stack's
// URLs and credentials file, and check_nrpe gets OK from each against the
// healthy stack (retried for a while: other tests stop nodes briefly).
func TestNRPEServesShippedCommandsIntegration(t *testing.T) {
	env := stackenv.Need(t, "STACK_DIR", "NRPE_HOST", "NRPE_PORT", "CHECK_NRPE", "COUCH_PRIMARY_URL", "COUCH_REPLICA1_URL",
		"COUCH_CREDENTIALS_FILE", "ORIGIN1_URL", "CDN_URL", "CDN_ACCESS_LOG")
	bin := nrpetest.BuildBinaries(t)
	cmds := nrpetest.ParseNRPE(read(t, nrpeFile))
	rendered := nrpetest.Render(t, cmds, nrpetest.StackSite(env), bin)
	t.Logf("rendered NRPE commands:\n%s", rendered)
	nrpetest.InstallNRPE(t, env, "registry-checks-repo", rendered)

	prefix := map[string]string{
		"check_couch_replication":   "COUCH_REPLICATION OK - ",
		"check_couch_disk":          "COUCH_DISK OK - ",
		"check_couch_views":         "COUCH_VIEWS OK - ",
		"check_tarball_origin":      "TARBALL_ORIGIN OK - ",
		"check_fastly":              "FASTLY OK - ",
		"check_cdn_log":             "CDN_LOG OK - ",
		"restart_couch_replication": "RESTART_COUCH_REPLICATION OK - ",
		"check_couch_promotion":     "PROMOTION OK - ",
		"promote_couch_replica":     "PROMOTE_COUCH_REPLICA OK - plan: ",
	}
	n := 0
	for _, c := range cmds {
		if c.Commented {
			continue
		}
		n++
		out := nrpetest.ExpectState(t, env, c.Name, 0, 90*time.Second)
		t.Logf("check_nrpe -c %s: %s", c.Name, firstLine(out))
		assert.True(t, strings.HasPrefix(out, prefix[c.Name]), "check_nrpe -c %s: %s", c.Name, out)
		assert.NotContains(t, out, env["COUCH_ADMIN_PASSWORD"])
	}
	assert.Equal(t, len(prefix), n)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func TestTelegrafSample(t *testing.T) {
	conf := string(read(t, telegrafCfg))
	cmds := nrpetest.TelegrafCommands(conf)
	seen := map[string]bool{}
	for _, c := range cmds {
		words := strings.Fields(c)
		seen[filepath.Base(words[0])] = true
		assert.Contains(t, words, "--output=influx", c)
		assert.True(t, strings.HasPrefix(words[0], nrpetest.PluginDir+"/"), c)
	}
	for _, p := range nrpetest.Binaries {
		if strings.HasPrefix(p, "checks/") {
			assert.True(t, seen[filepath.Base(p)], "no Telegraf command for %s", p)
		}
	}
	assert.Equal(t, strings.Count(conf, "[[inputs.exec]]"), strings.Count(conf, `data_format = "influx"`))
	assert.Equal(t, strings.Count(conf, "[[inputs.exec]]"), strings.Count(conf, "ignore_error = true"))
}

// A private Nagios 4 (not the stack's shared one) runs the shipped objects
// with interval_length=1, so the templates' intervals are seconds: the
// replication check through the templates' custom-variable macros reports
// OK for the stack's replica, and for a node that refuses connections the
// service goes CRITICAL and Nagios runs the shipped event handler, which
// receives its state, type and attempt (its decision log says so).
func TestNagiosRunsShippedObjectsIntegration(t *testing.T) {
	env := stackenv.Need(t, "COUCH_REPLICA1_URL", "COUCH_CREDENTIALS_FILE")
	nrpetest.NeedProgram(t, "/usr/sbin/nagios4", "nagios4-core")
	bin := nrpetest.BuildBinaries(t)
	dir := t.TempDir()
	abs, err := filepath.Abs(nagiosFile)
	require.NoError(t, err)
	okState, downState := filepath.Join(dir, "state-ok"), filepath.Join(dir, "state-down")
	site := nagiosWrapper + fmt.Sprintf(`define host {
    use                registry-couch-node,generic-host
    host_name          db-replica
    address            127.0.0.1
    _COUCH_URL         %[1]s
    _COUCH_CREDENTIALS %[2]s
}
define host {
    use                registry-couch-node,generic-host
    host_name          db-down
    address            127.0.0.1
    _COUCH_URL         http://127.0.0.1:1
    _COUCH_CREDENTIALS %[2]s
}
define service {
    use                 registry-couch-replication,generic-service
    host_name           db-replica
    service_description replication
    _HANDLER_ARGS       --state-dir %[3]s --log-file %[3]s/decisions.log
}
define service {
    use                 registry-couch-replication,generic-service
    host_name           db-down
    service_description replication
    _HANDLER_ARGS       --state-dir %[4]s --log-file %[4]s/decisions.log
}
`, env["COUCH_REPLICA1_URL"], env["COUCH_CREDENTIALS_FILE"], okState, downState)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "site.cfg"), []byte(site), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "resource.cfg"), []byte("$USER1$="+bin+"\n"), 0o600))
	for _, d := range []string{"checkresults", "tmp", okState, downState} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	main := strings.Join([]string{
		"cfg_file=" + abs, "cfg_file=" + p("site.cfg"), "resource_file=" + p("resource.cfg"),
		"log_file=" + p("nagios.log"), "status_file=" + p("status.dat"), "status_update_interval=1",
		"lock_file=" + p("nagios.lock"), "temp_file=" + p("nagios.tmp"), "temp_path=" + p("tmp"),
		"check_result_path=" + p("checkresults"), "object_cache_file=" + p("objects.cache"),
		"precached_object_file=" + p("objects.precache"), "query_socket=" + p("nagios.qh"),
		"nagios_user=root", "nagios_group=root", "check_external_commands=0",
		"interval_length=1", "check_result_reaper_frequency=1", "max_service_check_spread=1",
		"service_inter_check_delay_method=n", "host_inter_check_delay_method=n",
		"retain_state_information=0", "use_syslog=0", "log_event_handlers=1", "log_initial_states=1",
		"enable_event_handlers=1", "enable_notifications=0", "event_handler_timeout=30",
		"service_check_timeout=30", "check_for_updates=0", "daemon_dumps_core=0",
		"illegal_macro_output_chars=`~$&|'\"<>", "",
	}, "\n")
	require.NoError(t, os.WriteFile(p("nagios.cfg"), []byte(main), 0o644))
	out, err := exec.Command("/usr/sbin/nagios4", "-v", p("nagios.cfg")).CombinedOutput()
	require.NoError(t, err, "nagios4 -v: %s", out)
	out, err = exec.Command("/usr/sbin/nagios4", "-d", p("nagios.cfg")).CombinedOutput()
	require.NoError(t, err, "nagios4 -d: %s", out)
	var pid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(p("nagios.lock"))
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	}, 10*time.Second, 50*time.Millisecond, "Nagios wrote no lock file: %s", readFile(p("nagios.log")))
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		assert.Eventually(t, func() bool { return syscall.Kill(pid, 0) != nil }, 20*time.Second, 50*time.Millisecond, "Nagios pid %d did not stop", pid)
	})

	var s map[string]string
	require.Eventually(t, func() bool {
		s = serviceStatus(p("status.dat"), "db-replica", "replication")
		return s["current_state"] == "0" && strings.HasPrefix(s["plugin_output"], "COUCH_REPLICATION OK")
	}, 90*time.Second, 200*time.Millisecond, "db-replica replication never OK: %v; log: %s", s, readFile(p("nagios.log")))
	t.Logf("db-replica: %s", s["plugin_output"])

	handlerRan := "SERVICE EVENT HANDLER: db-down;replication;CRITICAL;SOFT;2;restart_couch_replication"
	require.Eventually(t, func() bool { return strings.Contains(readFile(p("nagios.log")), handlerRan) },
		90*time.Second, 200*time.Millisecond, "Nagios never ran the handler at CRITICAL SOFT 2: %s", readFile(p("nagios.log")))
	var decisions string
	require.Eventually(t, func() bool {
		decisions = readFile(filepath.Join(downState, "decisions.log"))
		return strings.Contains(decisions, `event="CRITICAL SOFT 2"`)
	}, 30*time.Second, 100*time.Millisecond, "the handler logged no SOFT 2 decision: %s", decisions)
	t.Logf("handler decisions:\n%s", decisions)
	assert.Contains(t, decisions, `event="CRITICAL SOFT 1" action=wait code=first_failure`)
	assert.Contains(t, decisions, "node=http://127.0.0.1:1")
	s = serviceStatus(p("status.dat"), "db-down", "replication")
	assert.Contains(t, s["plugin_output"], "COUCH_REPLICATION CRITICAL")
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// serviceStatus is one servicestatus block of status.dat.
func serviceStatus(path, host, svc string) map[string]string {
	return stackenv.NagiosService(path, host, svc)
}

// Every binary's --help is wrapped on word boundaries within 80 columns
// (not a terminal), has EXIT STATUS, and names only options that exist;
// its man page has EXIT STATUS, FILES and SEE ALSO.
func TestHelpText(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries: skipped under -short")
	}
	bin := nrpetest.BuildBinaries(t)
	for _, p := range nrpetest.Binaries {
		b := filepath.Base(p)
		t.Run(b, func(t *testing.T) {
			out, _ := exec.Command(filepath.Join(bin, b), "--help").Output()
			help := string(out)
			assert.Contains(t, help, "Usage:\n  "+b+" ")
			assert.Contains(t, help, "Exit status:\n  0 OK")
			assert.Contains(t, help, "\nExamples:\n", "every binary has its plugin.Help: what it does, thresholds, examples")
			heads := map[string]bool{}
			inExample := false
			for _, l := range strings.Split(help, "\n") {
				if strings.HasPrefix(l, "  -") {
					for _, o := range regexp.MustCompile(`--[a-z0-9-]+`).FindAllString(l, -1) {
						heads[o] = true
					}
				}
				if l == "Examples:" {
					inExample = true
				} else if l != "" && !strings.HasPrefix(l, " ") {
					inExample = false
				}
				// Example output is shown as printed; everything else wraps.
				if !inExample {
					assert.LessOrEqual(t, len(l), 80, "line longer than 80 columns: %q", l)
				}
				assert.False(t, regexp.MustCompile(`[A-Za-z]-$`).MatchString(l) && !strings.HasSuffix(l, " -"), "a word cut at the line's end: %q", l)
			}
			for _, o := range regexp.MustCompile(`--[a-z0-9][a-z0-9-]*`).FindAllString(help, -1) {
				assert.True(t, heads[o], "--help mentions %s, which is not an option of %s", o, b)
			}

			cmd := exec.Command(filepath.Join(bin, b))
			cmd.Env = append(os.Environ(), "REGISTRY_CHECKS_MAN_PAGE=1")
			man, _ := cmd.Output()
			for _, sec := range []string{".SH NAME", ".SH OPTIONS", ".SH EXIT STATUS", ".SH FILES", ".SH SEE ALSO"} {
				assert.Contains(t, string(man), sec+"\n", "man page of %s", b)
			}
		})
	}
}
