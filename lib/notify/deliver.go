package notify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/registry-checks/registry-checks/lib/metrics"
	"github.com/registry-checks/registry-checks/lib/nagios"
)

// Delivery is one run of a notification command: this notification (if
// any) into the queue, then the queue to the receiver.
type Delivery struct {
	Channel string // "chat" or "pagerduty": the metrics' channel tag
	Queue   Queue
	Send    func(context.Context, Item) error
	Now     func() time.Time // time.Now when nil
}

// reserve is the part of the run's time kept for the queue's own writes
// and the output once the posts stop: a hung receiver must not take it.
func reserve(left time.Duration) time.Duration {
	return min(time.Second, max(left/5, 0))
}

// Run delivers own (nil: flush the queue only) and says how it went: OK
// when own was delivered (or, flushing, the queue is empty), WARNING when
// it waits in the queue for the next run, CRITICAL when a notification
// was refused for good (a 4xx) or could not be kept. It also returns one
// line-protocol point per delivery tried and one for the run.
func (d Delivery) Run(ctx context.Context, own *Item) (nagios.Result, []metrics.Point) {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	d.Queue.Now = now
	sendCtx, cancel := ctx, context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); ok {
		sendCtx, cancel = context.WithDeadline(ctx, dl.Add(-reserve(time.Until(dl))))
	}
	defer cancel()

	var ownName string
	var res nagios.Result
	var points []metrics.Point
	point := func(outcome string, s Sent) {
		f := map[string]any{"latency": s.Latency.Seconds(), "count": int64(1)}
		if !s.Created.IsZero() {
			f["age"] = max(now().Sub(s.Created), 0).Seconds()
		}
		points = append(points, metrics.Point{Measurement: "notify_delivery", Tags: map[string]string{"channel": d.Channel, "outcome": outcome}, Fields: f, Time: now()})
	}
	if own != nil {
		name, err := d.Queue.Add(*own)
		if err != nil {
			// No queue: post it once anyway, since losing the queue
			// should not also lose this notification.
			start := now()
			serr := d.Send(sendCtx, *own)
			s := Sent{Item: *own, Latency: now().Sub(start), Err: serr}
			if serr == nil {
				point("delivered", s)
				res = nagios.Result{Status: nagios.WARNING, Summary: own.Label + " sent, but the queue is unusable: " + oneLine(err.Error())}
			} else {
				point("lost", s)
				res = nagios.Result{Status: nagios.CRITICAL, Summary: own.Label + " lost: " + oneLine(serr.Error()) + "; and the queue is unusable: " + oneLine(err.Error())}
			}
			return d.finish(res, btoi(serr == nil), 0, s.Latency, btoi(serr != nil), 0), points
		}
		ownName = name
	}
	rep := d.Queue.Flush(sendCtx, d.Send)
	for _, s := range rep.Delivered {
		point("delivered", s)
	}
	for _, s := range rep.Rejected {
		point("rejected", s)
	}
	for _, s := range rep.Failed {
		point("queued", s)
	}
	if rep.Dropped > 0 {
		points = append(points, metrics.Point{Measurement: "notify_delivery", Tags: map[string]string{"channel": d.Channel, "outcome": "dropped"}, Fields: map[string]any{"count": int64(rep.Dropped)}, Time: now()})
	}

	var long []string
	earlier := 0
	var ownSent *Sent
	var latency time.Duration
	for i, s := range rep.Delivered {
		latency = s.Latency
		if s.Name == ownName && own != nil {
			ownSent = &rep.Delivered[i]
		} else {
			earlier++
			long = append(long, "delivered from the queue: "+s.Label+" (queued "+s.Created.UTC().Format(time.RFC3339)+")")
		}
	}
	rejectedOwn := false
	for _, s := range rep.Rejected {
		if s.Name == ownName && own != nil {
			rejectedOwn = true
			continue
		}
		long = append(long, "refused for good, removed from the queue: "+s.Label+": "+oneLine(s.Err.Error()))
	}
	stop := ""
	if rep.Stop != nil {
		stop = oneLine(rep.Stop.Error())
	}
	switch {
	case own == nil:
		switch {
		case rep.Pending == 0:
			res = nagios.Result{Status: nagios.OK, Summary: fmt.Sprintf("queue empty: %d delivered", len(rep.Delivered))}
		default:
			res = nagios.Result{Status: nagios.WARNING, Summary: fmt.Sprintf("%d waiting in the queue (%d delivered): %s", rep.Pending, len(rep.Delivered), stop)}
		}
	case ownSent != nil:
		res = nagios.Result{Status: nagios.OK, Summary: own.Label + " sent"}
		if earlier > 0 {
			res.Summary += fmt.Sprintf(" after %d queued earlier", earlier)
		}
	case rejectedOwn:
		var msg string
		for _, s := range rep.Rejected {
			if s.Name == ownName {
				msg = oneLine(s.Err.Error())
			}
		}
		res = nagios.Result{Status: nagios.CRITICAL, Summary: own.Label + " refused: " + msg}
	default:
		res = nagios.Result{Status: nagios.WARNING, Summary: fmt.Sprintf("%s queued (%d waiting): %s", own.Label, rep.Pending, stop)}
	}
	if n := len(rep.Rejected) - btoi(rejectedOwn); n > 0 {
		res.Status = nagios.CRITICAL
		res.Summary += fmt.Sprintf("; %d queued earlier refused for good", n)
	}
	if rep.Dropped > 0 {
		res.Status = nagios.Worse(res.Status, nagios.WARNING)
		res.Summary += fmt.Sprintf("; %d oldest dropped to keep the queue within its bound", rep.Dropped)
	}
	if !rep.NotBefore.IsZero() {
		long = append(long, "rate limited: the queue waits until "+rep.NotBefore.UTC().Format(time.RFC3339))
	}
	if rep.Pending > 0 {
		long = append(long, fmt.Sprintf("%d waiting in %s: the next notification or notify --flush (cron, systemd timer) sends them", rep.Pending, d.Queue.Dir))
	}
	res.Long = append(res.Long, long...)
	return d.finish(res, len(rep.Delivered), rep.Pending, latency, len(rep.Rejected), rep.Dropped), points
}

// finish adds the run's perfdata and measurement.
func (d Delivery) finish(res nagios.Result, delivered, pending int, latency time.Duration, rejected, dropped int) nagios.Result {
	res.Measurement = "notify"
	res.Tags = map[string]string{"channel": d.Channel}
	res.Perf = append(res.Perf,
		nagios.Perf{Label: "delivered", Value: float64(delivered), Integer: true},
		nagios.Perf{Label: "queued", Value: float64(pending), Integer: true},
		nagios.Perf{Label: "rejected", Value: float64(rejected), Integer: true},
		nagios.Perf{Label: "dropped", Value: float64(dropped), Integer: true},
		nagios.Perf{Label: "latency", Value: latency.Seconds(), UOM: "s"},
	)
	return res
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Label is how a notification is named in the output: "PROBLEM http on web1 CRITICAL".
func Label(e Event) string {
	return strings.TrimSpace(string(e.Kind) + " " + e.What() + " " + e.State)
}
