// Command notify_chat is a Nagios notification command (an Icinga 2
// NotificationCommand): it posts one message per notification to a chat
// incoming webhook, and keeps what the chat did not take in a queue that
// the next notification, or notify_chat --flush, sends first.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/notify"
	"github.com/registry-checks/registry-checks/lib/plugin"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

type options struct {
	plugin.Common
	Notification notify.Options `group:"The notification (Nagios macros)"`
	Chat         struct {
		WebhookURLFile string `long:"webhook-url-file" value-name:"FILE" description:"file (mode 600 or 640) with the chat's incoming-webhook URL; messages are posted as {\"text\": ...}"`
	} `group:"Chat"`
	Queue notify.QueueOptions `group:"Queue"`
}

func run(args []string, stdout io.Writer) int {
	var opts options
	return plugin.Run(plugin.Spec{Name: "NOTIFY_CHAT", Binary: "notify_chat", Options: &opts, Help: &help,
		Check: func(ctx context.Context, env *plugin.Env) nagios.Result { return notifyChat(ctx, &opts, env) }}, args, stdout)
}

func notifyChat(ctx context.Context, o *options, env *plugin.Env) nagios.Result {
	// The URL is registered before any text is made: a plugin output that
	// quotes it is redacted like everything else.
	var hook *notify.Webhook
	if !o.Queue.DryRun {
		if o.Chat.WebhookURLFile == "" {
			return nagios.Result{Status: nagios.UNKNOWN, Summary: "bad arguments: --webhook-url-file is required"}
		}
		var err error
		if hook, err = notify.LoadWebhook(o.Chat.WebhookURLFile, env.Secrets, env.HTTP); err != nil {
			return nagios.Result{Status: nagios.UNKNOWN, Summary: err.Error()}
		}
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
		text := notify.ChatText(e, env.Secrets)
		own = &notify.Item{Created: e.Time, Label: notify.Label(e), Body: notify.Body(text)}
		if o.Queue.DryRun {
			return nagios.Result{Status: nagios.OK, Summary: "dry run: would post " + own.Label, Long: strings.Split(notify.ChatSafe(text), "\n")}
		}
	}
	base, err := plugin.UsableDir(o.Queue.Dir, "registry-checks-notify", o.Queue.Dir != notify.DefaultQueueDir)
	if err != nil {
		return nagios.Result{Status: nagios.UNKNOWN, Summary: fmt.Sprintf("--queue-dir: %v", err)}
	}
	env.Step("POST to the chat webhook (URL in %s)", o.Chat.WebhookURLFile)
	d := notify.Delivery{
		Channel: "chat",
		Queue:   notify.Queue{Dir: notify.QueueDir(base, "chat", o.Chat.WebhookURLFile), MaxBytes: o.Queue.MaxBytes},
		Send:    func(ctx context.Context, it notify.Item) error { return hook.Send(ctx, it.Body) },
	}
	res, points := d.Run(ctx, own)
	env.Emit(points...)
	return res
}
