package plugin

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/metrics"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// The environment variables of the InfluxDB sink's credentials.
const (
	influxEnvUser     = "INFLUX_USERNAME"
	influxEnvPassword = "INFLUX_PASSWORD"
	influxEnvToken    = "INFLUX_TOKEN"
)

// sinks are the metric destinations the options asked for.
type sinks struct {
	stdout io.Writer         // --output=influx
	file   *metrics.FileSink // --influx-file
	influx *metrics.HTTPSink // --influx-url, always through the spool
	spool  metrics.Spool
}

func (s sinks) remote() bool { return s.influx != nil }

// any reports whether the metrics go anywhere at all: without a sink the
// points are not even built.
func (s sinks) any() bool { return s.stdout != nil || s.file != nil || s.influx != nil }

func buildSinks(c *Common, hc *httpclient.Client, red *secret.Redactor, stdout io.Writer) (sinks, error) {
	var s sinks
	if c.Output == "influx" {
		s.stdout = stdout
	}
	m := c.Metrics
	if m.InfluxFile != "" {
		s.file = &metrics.FileSink{Path: m.InfluxFile}
	}
	if m.InfluxURL == "" {
		return s, nil
	}
	cfg := m.HTTPConfig()
	clean, creds, err := secret.SplitURL(m.InfluxURL)
	if err != nil {
		return s, fmt.Errorf("--influx-url: %w", err)
	}
	cfg.URL = clean
	if m.InfluxCredentialsFile != "" {
		fc, err := secret.LoadFile(m.InfluxCredentialsFile)
		if err != nil {
			return s, fmt.Errorf("--influx-credentials-file: %w", err)
		}
		creds = fc.Or(creds)
	}
	creds = creds.Or(secret.FromLookup(os.LookupEnv, influxEnvUser, influxEnvPassword, influxEnvToken))
	red.AddCredentials(creds)
	cfg.Username, cfg.Password, cfg.Token = creds.User, creds.Password, creds.Token
	cfg.Redactor = red
	if s.influx, err = metrics.NewHTTPSink(hc.HTTP(), cfg); err != nil {
		return s, err
	}
	s.spool = m.Spool()
	// Metrics must not stop a check: an unusable spool dir, even one named
	// with --spool-dir, falls back to a per-user one.
	if dir, err := UsableDir(s.spool.Dir, "registry-checks-spool", false); err == nil {
		s.spool.Dir = dir
	}
	return s, nil
}

// deliver writes the points to every sink and returns long-output notes
// about failures. A failed write never changes the check's state.
// delivered is false when some sink neither took every point nor kept it
// in the spool (points refused for good by InfluxDB count as delivered:
// sending them again cannot help).
func (s sinks) deliver(ctx context.Context, points []metrics.Point) (notes []string, delivered bool) {
	notes, delivered, _ = s.deliverSpooled(ctx, points)
	return notes, delivered
}

// deliverSpooled is deliver, and says whether some of the points went
// to the spool rather than to InfluxDB.
func (s sinks) deliverSpooled(ctx context.Context, points []metrics.Point) (notes []string, delivered, spooled bool) {
	delivered = true
	if s.stdout != nil {
		if err := metrics.NewWriterSink(s.stdout).Write(ctx, points); err != nil {
			notes = append(notes, "metrics: writing line protocol to stdout: "+err.Error())
			delivered = false
		}
	}
	if s.file != nil {
		if err := s.file.Write(ctx, points); err != nil {
			notes = append(notes, "metrics: "+oneLine(err.Error()))
			delivered = false
		}
	}
	if s.influx != nil {
		rep, err := s.spool.Deliver(ctx, s.influx, points)
		if err != nil {
			notes = append(notes, fmt.Sprintf("metrics: %s; %d points kept in spool %s (%d batches waiting, %d dropped so far)",
				firstLine(err.Error()), rep.Spooled, s.spool.Dir, rep.Pending, rep.Dropped))
		}
		if rep.Written+rep.Spooled+rep.Rejected < len(points) {
			delivered = false
		}
		spooled = rep.Spooled > 0
	}
	return notes, delivered, spooled
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return oneLine(s)
}
