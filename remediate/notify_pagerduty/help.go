package main

import "github.com/registry-checks/registry-checks/lib/plugin"

var help = plugin.Help{
	Description: "notify_pagerduty is a notification command: Nagios (notification_command) or Icinga 2 (NotificationCommand) runs it once per notification, with the notification's macros as options, and it sends a PagerDuty Events API v2 event: trigger on PROBLEM, acknowledge on ACKNOWLEDGEMENT, resolve on RECOVERY, with one dedup_key per host and service (host/service), the severity from the state, the host as source, the first line of the plugin output as summary (at most 1024 bytes) and the long output, redacted and bounded, in custom_details. Flapping, downtime and custom notifications send nothing. " +
		"An event PagerDuty does not take (refused, timed out, 5xx, 429 with its Retry-After) waits in a queue (mode 600, without the routing key) and is sent first, in order and with the same dedup_key, by the next notification or by notify_pagerduty --flush from cron or the systemd timer: a resolve never overtakes its trigger. An event refused with another 4xx is reported as CRITICAL and not kept. " +
		"OK: sent; WARNING: queued for later; CRITICAL: refused for good or lost; UNKNOWN: bad arguments or an unusable routing key file.",
	Examples: []plugin.Example{
		{Note: "The event a CRITICAL would send, sending nothing:",
			Command: "notify_pagerduty --dry-run --notification-type PROBLEM --host db2 --service replication --state CRITICAL --state-type HARD --attempt 3 --plugin-output 'COUCH_REPLICATION CRITICAL - 1 of 3 replications crashing'",
			Output:  "NOTIFY_PAGERDUTY OK - dry run: would send trigger db2/replication (PROBLEM replication on db2 CRITICAL)"},
		{Note: "Send what waits in the queue (cron, systemd timer):",
			Command: "notify_pagerduty --flush --routing-key-file /etc/registry-checks/pagerduty-routing-key",
			Output:  "NOTIFY_PAGERDUTY OK - queue empty: 0 delivered | delivered=0 queued=0 rejected=0 dropped=0 latency=0s"},
	},
	Perfdata: []string{
		"delivered: events PagerDuty took in this run (this one and queued ones)",
		"queued: events waiting in the queue afterwards",
		"rejected: events PagerDuty refused for good (removed from the queue)",
		"dropped: oldest events removed to keep the queue within --queue-max-bytes",
		"latency (s): time of the last post PagerDuty took",
	},
	Measurements: []string{
		"notify: tags channel (pagerduty); fields state, delivered, queued, rejected, dropped, latency",
		"notify_delivery, one point per post tried: tags channel, outcome (delivered, queued, rejected, dropped, lost); fields count, latency, age",
	},
	Files: []string{
		"/etc/registry-checks/pagerduty-routing-key: the routing key (mode 600 or 640), shipped absent",
		"/var/spool/registry-checks/notify: the queues, one folder per routing key file and endpoint",
		"/etc/cron.d/registry-checks, registry-checks-notify-flush.timer: the flush, shipped disabled",
	},
	SeeAlso: []string{"notify_chat(1)"},
}
