// Command notify_pagerduty is a Nagios notification command (an Icinga 2
// NotificationCommand): it sends PagerDuty Events API v2 events, trigger
// on PROBLEM, acknowledge on ACKNOWLEDGEMENT and resolve on RECOVERY, one
// incident per host and service, and keeps what PagerDuty did not take in
// a queue that the next notification, or notify_pagerduty --flush, sends
// first.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/notify"
	"github.com/registry-checks/registry-checks/lib/plugin"
	"github.com/registry-checks/registry-checks/lib/secret"
	"github.com/registry-checks/registry-checks/lib/version"
)

// DefaultEventsURL is PagerDuty's Events API v2 endpoint.
const DefaultEventsURL = "https://events.pagerduty.com/v2/enqueue"

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

type options struct {
	plugin.Common
	Notification notify.Options `group:"The notification (Nagios macros)"`
	PagerDuty    struct {
		RoutingKeyFile string `long:"routing-key-file" value-name:"FILE" description:"file (mode 600 or 640) with the integration's routing key (Events API v2)"`
		EventsURL      string `long:"events-url" value-name:"URL" default:"https://events.pagerduty.com/v2/enqueue" description:"the Events API v2 endpoint (another one for tests, a proxy or the EU service region)"`
	} `group:"PagerDuty"`
	Queue notify.QueueOptions `group:"Queue"`
}

func run(args []string, stdout io.Writer) int {
	var opts options
	return plugin.Run(plugin.Spec{Name: "NOTIFY_PAGERDUTY", Binary: "notify_pagerduty", Options: &opts, Help: &help,
		Check: func(ctx context.Context, env *plugin.Env) nagios.Result { return notifyPagerDuty(ctx, &opts, env) }}, args, stdout)
}

func notifyPagerDuty(ctx context.Context, o *options, env *plugin.Env) nagios.Result {
	// The key is registered before any text is made: a plugin output that
	// quotes it is redacted like everything else.
	var key string
	if !o.Queue.DryRun {
		if o.PagerDuty.RoutingKeyFile == "" {
			return nagios.Result{Status: nagios.UNKNOWN, Summary: "bad arguments: --routing-key-file is required"}
		}
		var err error
		if key, err = secret.LoadValueFile(o.PagerDuty.RoutingKeyFile); err != nil {
			return nagios.Result{Status: nagios.UNKNOWN, Summary: "--routing-key-file: " + err.Error()}
		}
		env.Secrets.Add(key)
	}
	var own *notify.Item
	if c := o.Queue.FlushConflict(o.Notification); c != "" {
		return nagios.Result{Status: nagios.UNKNOWN, Summary: "bad arguments: " + c}
	}
	if !o.Queue.Flush {
		e, err := o.Notification.Event(time.Now())
		if err != nil {
			return nagios.Result{Status: nagios.UNKNOWN, Summary: "bad arguments: " + err.Error()}
		}
		ev, ok := notify.PagerDuty(e, env.Secrets, "registry-checks notify_pagerduty "+version.String())
		if !ok {
			// Flapping, downtime and custom notifications page nobody.
			return nagios.Result{Status: nagios.OK, Summary: fmt.Sprintf("%s: nothing for PagerDuty (it gets PROBLEM, ACKNOWLEDGEMENT and RECOVERY)", notify.Label(e)),
				Measurement: "notify", Tags: map[string]string{"channel": "pagerduty"}}
		}
		body, err := json.Marshal(ev)
		if err != nil {
			return nagios.Result{Status: nagios.UNKNOWN, Summary: "internal error: " + err.Error()}
		}
		own = &notify.Item{Created: e.Time, Label: ev.EventAction + " " + ev.DedupKey, Key: ev.DedupKey, Body: body}
		if o.Queue.DryRun {
			pretty, _ := json.MarshalIndent(ev, "", "  ")
			return nagios.Result{Status: nagios.OK, Summary: "dry run: would send " + own.Label + " (" + notify.Label(e) + ")", Long: strings.Split(string(pretty), "\n")}
		}
	}
	base, err := plugin.UsableDir(o.Queue.Dir, "registry-checks-notify", o.Queue.Dir != notify.DefaultQueueDir)
	if err != nil {
		return nagios.Result{Status: nagios.UNKNOWN, Summary: fmt.Sprintf("--queue-dir: %v", err)}
	}
	url := o.PagerDuty.EventsURL
	env.Step("POST %s", secret.RedactURL(url))
	d := notify.Delivery{
		Channel: "pagerduty",
		Queue:   notify.Queue{Dir: notify.QueueDir(base, "pagerduty", o.PagerDuty.RoutingKeyFile, url), MaxBytes: o.Queue.MaxBytes},
		Send: func(ctx context.Context, it notify.Item) error {
			body, err := notify.WithRoutingKey(it.Body, key)
			if err != nil {
				return &notify.PostError{Permanent: true, Msg: err.Error()}
			}
			return notify.Post(ctx, env.HTTP, url, body, "PagerDuty", false)
		},
	}
	res, points := d.Run(ctx, own)
	env.Emit(points...)
	return res
}
