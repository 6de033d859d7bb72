package main

import "github.com/registry-checks/registry-checks/lib/plugin"

var help = plugin.Help{
	Description: "notify_chat is a notification command: Nagios (notification_command) or Icinga 2 (NotificationCommand) runs it once per notification, with the notification's macros as options, and it posts one message to a chat incoming webhook (Slack, Mattermost, Rocket.Chat): the state, the service and host, and the first line of the plugin output, redacted and made inert (no link, no @channel or @here from plugin output). " +
		"Problems, recoveries, acknowledgements, flapping and downtime read differently. " +
		"A message the chat does not take (refused, timed out, 5xx, 429) waits in a queue (mode 600) and is sent first, in order, by the next notification or by notify_chat --flush from cron or the systemd timer; a 4xx other than 429 is reported as CRITICAL and not kept. " +
		"OK: posted; WARNING: queued for later; CRITICAL: refused for good or lost; UNKNOWN: bad arguments or an unusable webhook file.",
	Examples: []plugin.Example{
		{Note: "What a CRITICAL would post, sending nothing:",
			Command: "notify_chat --dry-run --notification-type PROBLEM --host db2 --service replication --state CRITICAL --state-type HARD --attempt 3 --plugin-output 'COUCH_REPLICATION CRITICAL - 1 of 3 replications crashing'",
			Output:  "NOTIFY_CHAT OK - dry run: would post PROBLEM replication on db2 CRITICAL"},
		{Note: "Send what waits in the queue (cron, systemd timer):",
			Command: "notify_chat --flush --webhook-url-file /etc/registry-checks/chat-webhook",
			Output:  "NOTIFY_CHAT OK - queue empty: 0 delivered | delivered=0 queued=0 rejected=0 dropped=0 latency=0s"},
	},
	Perfdata: []string{
		"delivered: notifications the chat took in this run (this one and queued ones)",
		"queued: notifications waiting in the queue afterwards",
		"rejected: notifications the chat refused for good (removed from the queue)",
		"dropped: oldest notifications removed to keep the queue within --queue-max-bytes",
		"latency (s): time of the last post the chat took",
	},
	Measurements: []string{
		"notify: tags channel (chat); fields state, delivered, queued, rejected, dropped, latency",
		"notify_delivery, one point per post tried: tags channel, outcome (delivered, queued, rejected, dropped, lost); fields count, latency, age",
	},
	Files: []string{
		"/etc/registry-checks/chat-webhook: the webhook URL (mode 600 or 640), shipped absent",
		"/var/spool/registry-checks/notify: the queues, one folder per webhook file",
		"/etc/cron.d/registry-checks, registry-checks-notify-flush.timer: the flush, shipped disabled",
	},
	SeeAlso: []string{"notify_pagerduty(1)", "restart_couch_replication(1)"},
}
