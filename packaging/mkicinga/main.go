// Command mkicinga writes nrpe/icinga2/registry-checks.conf: the Icinga 2
// CheckCommands and EventCommand of every binary, one argument per option,
// read from the man page each binary writes (plugin.ManPageEnv), so the file
// follows the options. A test in nrpe/ fails when the committed file differs
// from its output.
//
//	make build && go run ./packaging/mkicinga -bin build > nrpe/icinga2/registry-checks.conf
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/registry-checks/registry-checks/lib/plugin"
)

// command is one Icinga 2 command object of a binary.
type command struct {
	binary, kind, name, prefix string
	timeout                    string // vars.registry_checks_timeout
	couch                      bool   // URL and credentials-file defaults
	notify                     string // NotificationCommand: "host" or "service" macros
}

var commands = []command{
	{"check_couch_replication", "CheckCommand", "couch_replication", "couch_replication", "20s", true, ""},
	{"check_couch_disk", "CheckCommand", "couch_disk", "couch_disk", "20s", true, ""},
	{"check_couch_views", "CheckCommand", "couch_views", "couch_views", "20s", true, ""},
	{"check_tarball_origin", "CheckCommand", "tarball_origin", "tarball_origin", "30s", true, ""},
	{"check_fastly", "CheckCommand", "fastly", "fastly", "20s", false, ""},
	{"check_cdn_log", "CheckCommand", "cdn_log", "cdn_log", "30s", false, ""},
	{"check_couch_promotion", "CheckCommand", "couch_promotion", "couch_promotion", "30s", true, ""},
	// The runbook: --plan by default, so that a service of it only reads.
	{"promote_couch_replica", "CheckCommand", "promote_couch_replica", "promote_couch_replica", "30s", false, ""},
	// The handler reads the check's variables for the options both have.
	{"restart_couch_replication", "EventCommand", "restart_couch_replication", "couch_replication", "25s", true, ""},
	// The notification commands: one object for host and one for service
	// notifications, as the ITL's mail-*-notification; the notification's
	// runtime macros fill the options, the secret file comes from a variable.
	{"notify_chat", "NotificationCommand", "notify-chat-service", "notify_chat", "20s", false, "service"},
	{"notify_chat", "NotificationCommand", "notify-chat-host", "notify_chat", "20s", false, "host"},
	{"notify_pagerduty", "NotificationCommand", "notify-pagerduty-service", "notify_pagerduty", "20s", false, "service"},
	{"notify_pagerduty", "NotificationCommand", "notify-pagerduty-host", "notify_pagerduty", "20s", false, "host"},
}

// The shared template takes these application options besides the Metrics
// and TLS groups; --help, --version and --output are never arguments
// (--output=influx is Telegraf's, not a monitoring core's).
var (
	sharedApp = map[string]bool{"--verbose": true, "--timeout": true, "--timeout-state": true, "--output-limit": true}
	never     = map[string]bool{"--help": true, "--version": true, "--output": true}
	// notifyOnly are the notification options a host notification has no
	// macro for: left out of its command rather than given a variable.
	notifyOnly = map[string]bool{"--service": true}
	// The secret file of each notification command, and where the docs put it.
	secretFiles    = map[string]string{"notify_chat": "notify_chat_webhook_url_file", "notify_pagerduty": "notify_pagerduty_routing_key_file"}
	secretDefaults = map[string]string{"notify_chat": "/etc/registry-checks/chat-webhook", "notify_pagerduty": "/etc/registry-checks/pagerduty-routing-key"}
	// Event handler mode: Icinga's runtime macros.
	eventMacros = map[string]string{"--state": "$service.state$", "--state-type": "$service.state_type$", "--attempt": "$service.check_attempt$"}
	// Notifications: Icinga's runtime macros, per kind of notification.
	// $service.output$ is the whole output, long output included.
	notifyMacros = map[string]map[string]string{
		"service": {"--notification-type": "$notification.type$", "--host": "$host.name$", "--service": "$service.name$",
			"--state": "$service.state$", "--state-type": "$service.state_type$", "--attempt": "$service.check_attempt$",
			"--plugin-output": "$service.output$", "--timestamp": "$icinga.timet$", "--last-state-change": "$service.last_state_change$",
			"--author": "$notification.author$", "--comment": "$notification.comment$"},
		"host": {"--notification-type": "$notification.type$", "--host": "$host.name$",
			"--state": "$host.state$", "--state-type": "$host.state_type$", "--attempt": "$host.check_attempt$",
			"--plugin-output": "$host.output$", "--timestamp": "$icinga.timet$", "--last-state-change": "$host.last_state_change$",
			"--author": "$notification.author$", "--comment": "$notification.comment$"},
	}
)

func main() {
	bin := flag.String("bin", "build", "folder of the built binaries")
	flag.Parse()
	if err := run(*bin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mkicinga:", err)
		os.Exit(1)
	}
}

type option struct {
	long, group, desc, def string
	value, required        bool
}

var (
	longRe     = regexp.MustCompile(`\\-\\-([a-z0-9-]+)`)
	valueRe    = regexp.MustCompile(`\\fI([A-Z'$][^\\]*)\\fR`)
	defaultRe  = regexp.MustCompile(`<default: \\fI"(.*?)"\\fR>`)
	repeatable = regexp.MustCompile(`repeatable|repeat for each`)
)

// options reads go-flags' man page: ".SS group", then ".TP", a head line
// with the names, value name, default and (required), and description lines.
func options(binary string) ([]option, error) {
	cmd := exec.Command(binary)
	cmd.Env = append(os.Environ(), plugin.ManPageEnv+"=1")
	page, _ := cmd.Output()
	if !bytes.HasPrefix(page, []byte(".TH ")) {
		return nil, fmt.Errorf("%s wrote no man page", binary)
	}
	lines := strings.Split(string(page), "\n")
	var out []option
	group := "app"
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, ".SS ") {
			switch {
			case strings.Contains(l, "Metrics"):
				group = "metrics"
			case strings.Contains(l, "TLS"):
				group = "tls"
			default:
				group = "app"
			}
		}
		if l != ".TP" || i+1 >= len(lines) {
			continue
		}
		head := lines[i+1]
		var desc []string
		j := i + 2
		for ; j < len(lines) && !strings.HasPrefix(lines[j], "."); j++ {
			desc = append(desc, lines[j])
		}
		i = j - 1
		m := longRe.FindStringSubmatch(head)
		if m == nil {
			continue
		}
		o := option{long: "--" + m[1], group: group, required: strings.Contains(head, `(\fIrequired\fR)`)}
		o.desc = strings.TrimSpace(strings.ReplaceAll(strings.Join(desc, " "), `\-`, "-"))
		if d := defaultRe.FindStringSubmatch(head); d != nil {
			o.def, o.value = d[1], true
		}
		if valueRe.MatchString(head) {
			o.value = true
		}
		out = append(out, o)
	}
	return out, nil
}

func quote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return strings.ReplaceAll(s, `"`, `\"`)
}

func variable(prefix, long string) string {
	return prefix + "_" + strings.ReplaceAll(strings.TrimPrefix(long, "--"), "-", "_")
}

func writeArg(w io.Writer, o option, v string, macro string) {
	fmt.Fprintf(w, "\t\t\"%s\" = {\n", o.long)
	switch {
	case macro != "":
		fmt.Fprintf(w, "\t\t\tvalue = \"%s\"\n", macro)
	case o.value:
		fmt.Fprintf(w, "\t\t\tvalue = \"$%s$\"\n", v)
	default:
		fmt.Fprintf(w, "\t\t\tset_if = \"$%s$\"\n", v)
	}
	desc := o.desc
	if o.def != "" {
		desc += " (default: " + o.def + ")"
	}
	fmt.Fprintf(w, "\t\t\tdescription = \"%s\"\n", quote(desc))
	if o.required {
		fmt.Fprintf(w, "\t\t\trequired = true\n")
	}
	if repeatable.MatchString(o.desc) {
		fmt.Fprintf(w, "\t\t\trepeat_key = true\n")
	}
	fmt.Fprintf(w, "\t\t}\n")
}

func run(bin string, w io.Writer) error {
	all := map[string][]option{}
	for _, c := range commands {
		if all[c.binary] != nil {
			continue
		}
		opts, err := options(filepath.Join(bin, c.binary))
		if err != nil {
			return err
		}
		all[c.binary] = opts
	}
	shared := map[string]bool{}
	var sharedOpts []option
	for _, o := range all["check_couch_disk"] {
		if o.group != "app" || sharedApp[o.long] {
			shared[o.long] = true
			sharedOpts = append(sharedOpts, o)
		}
	}
	check := map[string]bool{}
	for _, o := range all["check_couch_replication"] {
		check[o.long] = true
	}

	io.WriteString(w, header)
	templates := map[string]string{"CheckCommand": "registry-checks-command", "EventCommand": "registry-checks-event-command", "NotificationCommand": "registry-checks-notification-command"}
	for _, t := range []struct{ kind, name string }{{"CheckCommand", templates["CheckCommand"]}, {"EventCommand", templates["EventCommand"]}, {"NotificationCommand", templates["NotificationCommand"]}} {
		fmt.Fprintf(w, "template %s \"%s\" {\n\targuments = {\n", t.kind, t.name)
		for _, o := range sharedOpts {
			writeArg(w, o, variable("registry_checks", o.long), "")
		}
		fmt.Fprintf(w, "\t}\n}\n\n")
	}
	for _, c := range commands {
		tpl := templates[c.kind]
		fmt.Fprintf(w, "object %s \"%s\" {\n\timport \"%s\"\n\tcommand = [ PluginDir + \"/%s\" ]\n\targuments += {\n", c.kind, c.name, tpl, c.binary)
		for _, o := range all[c.binary] {
			if shared[o.long] || never[o.long] {
				continue
			}
			v := variable(c.prefix, o.long)
			macro := ""
			if c.kind == "EventCommand" {
				if !check[o.long] {
					v = variable(c.name, o.long)
				}
				macro = eventMacros[o.long]
			}
			if c.notify != "" {
				macro = notifyMacros[c.notify][o.long]
				if macro == "" && strings.HasPrefix(o.group, "app") && notifyOnly[o.long] {
					continue // a macro of the other kind of notification (--service for a host)
				}
			}
			writeArg(w, o, v, macro)
		}
		fmt.Fprintf(w, "\t}\n")
		if c.couch {
			fmt.Fprintf(w, "\tvars.%s_url = \"http://$address$:5984\"\n", c.prefix)
			fmt.Fprintf(w, "\tvars.%s_credentials_file = \"/etc/registry-checks/couch.cred\"\n", c.prefix)
		}
		if f := secretFiles[c.binary]; f != "" {
			fmt.Fprintf(w, "\tvars.%s = \"%s\"\n", f, secretDefaults[c.binary])
		}
		fmt.Fprintf(w, "\tvars.registry_checks_timeout = \"%s\"\n}\n\n", c.timeout)
	}
	io.WriteString(w, footer)
	return nil
}

const header = `/* registry-checks: Icinga 2 command definitions, in the style of the Icinga
 * Template Library (ITL). Installed as
 * /usr/share/doc/registry-checks/icinga2/registry-checks.conf: include it
 * from icinga2.conf (or copy it into zones.d/global-templates) after
 * constants.conf, which defines PluginDir (/usr/lib/nagios/plugins on Debian,
 * /usr/lib64/nagios/plugins on RPM systems).
 *
 * One CheckCommand per check, one EventCommand for the replication handler,
 * and a host and a service NotificationCommand for each of notify_chat and
 * notify_pagerduty (with Notification templates at the end).
 * Every option of each binary is an argument; a variable left unset leaves
 * its option out, so the binary's own default applies (shown in each
 * description). Variables are named <command>_<option> (couch_disk_data_dir),
 * the options every binary shares registry_checks_<option>
 * (registry_checks_influx_url). The handler reads the check's variables
 * (couch_replication_*) for the options both have, so one service's vars
 * select the same replications for the check and for its handler; its own
 * options are restart_couch_replication_*.
 *
 * Written by packaging/mkicinga from the binaries' own man pages (make build &&
 * go run ./packaging/mkicinga -bin build > nrpe/icinga2/registry-checks.conf);
 * a test fails when it is stale.
 *
 * Credentials are never arguments: user:password in
 * /etc/registry-checks/couch.cred (the default), root:nagios mode 0640 as
 * the package ships it; Icinga 2 runs checks as nagios on Debian.
 *
 * Example:
 *
 *   apply Service "couch-replication" {
 *     import "registry-couch-replication"
 *     vars.couch_replication_heartbeat_db = "heartbeat"
 *     vars.couch_replication_expect = 1
 *     assign where host.vars.couchdb_replica
 *   }
 *   apply Service "couch-disk" {
 *     import "registry-couch-disk"
 *     command_endpoint = host.name   // run it on the node (agent): --data-dir is local
 *     vars.couch_disk_url = "http://127.0.0.1:5984"
 *     vars.couch_disk_data_dir = "/opt/couchdb/data"
 *     assign where host.vars.couchdb
 *   }
 */

`

const footer = `/* Service templates with the intervals the suite was designed for. */

/* Replication: checked every 2 minutes, retried every minute. With
 * max_check_attempts = 3 the second consecutive CRITICAL is SOFT 2, on which
 * the handler restarts the replication; HARD 3 notifies if that did not help.
 */
template Service "registry-couch-replication" {
	check_command = "couch_replication"
	check_interval = 2m
	retry_interval = 1m
	max_check_attempts = 3
	event_command = "restart_couch_replication"
	enable_event_handler = true
}

template Service "registry-couch-disk" {
	check_command = "couch_disk"
	check_interval = 15m
	retry_interval = 5m
	max_check_attempts = 3
}

template Service "registry-couch-views" {
	check_command = "couch_views"
	check_interval = 5m
	retry_interval = 2m
	max_check_attempts = 3
	vars.couch_views_db = "registry"
}

template Service "registry-tarball-origin" {
	check_command = "tarball_origin"
	check_interval = 5m
	retry_interval = 1m
	max_check_attempts = 3
}

template Service "registry-fastly" {
	check_command = "fastly"
	check_interval = 2m
	retry_interval = 1m
	max_check_attempts = 3
}

template Service "registry-cdn-log" {
	check_command = "cdn_log"
	check_interval = 1m
	retry_interval = 1m
	max_check_attempts = 3
}

/* Notifications: chat gets every kind, PagerDuty problems, their
 * acknowledgement and recovery. Apply them to your services and hosts with
 * the users or user groups to notify; the secret files are the commands'
 * vars (notify_chat_webhook_url_file, notify_pagerduty_routing_key_file).
 */
template Notification "registry-chat-service" {
	command = "notify-chat-service"
	states = [ OK, Warning, Critical, Unknown ]
	types = [ Problem, Acknowledgement, Recovery, Custom, FlappingStart, FlappingEnd, DowntimeStart, DowntimeEnd, DowntimeRemoved ]
}

template Notification "registry-chat-host" {
	command = "notify-chat-host"
	states = [ Up, Down ]
	types = [ Problem, Acknowledgement, Recovery, Custom, FlappingStart, FlappingEnd, DowntimeStart, DowntimeEnd, DowntimeRemoved ]
}

template Notification "registry-pagerduty-service" {
	command = "notify-pagerduty-service"
	states = [ OK, Critical ]
	types = [ Problem, Acknowledgement, Recovery ]
}

template Notification "registry-pagerduty-host" {
	command = "notify-pagerduty-host"
	states = [ Up, Down ]
	types = [ Problem, Acknowledgement, Recovery ]
}

/* Promotion readiness of a replica: every 5 minutes (it writes and deletes a
 * probe document on the replica each time).
 */
template Service "registry-couch-promotion" {
	check_command = "couch_promotion"
	check_interval = 5m
	retry_interval = 2m
	max_check_attempts = 3
}
`
