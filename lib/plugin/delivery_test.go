package plugin

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/registry-checks/registry-checks/lib/metrics"
	"github.com/registry-checks/registry-checks/lib/nagios"
)

// emitting is a check that emits a point of its own time and records what
// AfterDelivery was told.
func emitting(delivered *[]bool) func(ctx context.Context, env *Env) nagios.Result {
	return func(ctx context.Context, env *Env) nagios.Result {
		env.Emit(metrics.Point{Measurement: "minute", Fields: map[string]any{"n": int64(7)}, Time: time.Unix(1796039700, 5)})
		env.AfterDelivery(func(ok bool) []string {
			*delivered = append(*delivered, ok)
			return []string{"committed"}
		})
		return nagios.Result{Status: nagios.OK, Summary: "fine", Measurement: "m"}
	}
}

func TestEmitAndAfterDelivery(t *testing.T) {
	var got []bool
	out, code := runWith(t, emitting(&got), "--output=influx")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "minute n=7i 1796039700000000005\n")
	assert.Equal(t, []bool{true}, got)

	got = nil
	out, _ = runWith(t, emitting(&got))
	assert.Contains(t, out, "committed", "without a sink there is nothing to lose")
	assert.Equal(t, []bool{true}, got)
}

func TestAfterDeliveryInfluxDownSpooled(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	var got []bool
	_, _ = runWith(t, emitting(&got), "--influx-url", url, "-t", "2")
	assert.Equal(t, []bool{true}, got, "points kept in the spool are safe")
}

func TestAfterDeliveryFileSinkFails(t *testing.T) {
	var got []bool
	_, _ = runWith(t, emitting(&got), "--influx-file", filepath.Join(t.TempDir(), "missing", "m.lp"))
	assert.Equal(t, []bool{false}, got)
}

func TestEmitDroppedWhenTimedOut(t *testing.T) {
	var got []bool
	release := make(chan struct{})
	out, _ := runWith(t, func(ctx context.Context, env *Env) nagios.Result {
		<-release
		return emitting(&got)(ctx, env)
	}, "--output=influx", "-t", "0.2")
	close(release)
	assert.NotContains(t, out, "minute")
	assert.Empty(t, got)
}

// delivering is a check that delivers two batches while it runs, and
// records what each delivery said.
func delivering(got *[]bool) func(ctx context.Context, env *Env) nagios.Result {
	return func(ctx context.Context, env *Env) nagios.Result {
		for i := int64(1); i <= 2; i++ {
			_, ok, _ := env.Deliver(ctx, []metrics.Point{{Measurement: "batch", Fields: map[string]any{"n": i}, Time: time.Unix(1796039700, i)}})
			*got = append(*got, ok)
		}
		return nagios.Result{Status: nagios.OK, Summary: "fine", Measurement: "m"}
	}
}

func TestDeliverDuringTheRun(t *testing.T) {
	var got []bool
	lp := filepath.Join(t.TempDir(), "m.lp")
	_, code := runWith(t, delivering(&got), "--influx-file", lp)
	assert.Equal(t, 0, code)
	assert.Equal(t, []bool{true, true}, got)
	b, err := os.ReadFile(lp)
	assert.NoError(t, err)
	// The batches leave while the check runs, the Result's point after.
	assert.Regexp(t, `^batch n=1i 1796039700000000001\nbatch n=2i 1796039700000000002\nm,? `, string(b))

	got = nil
	_, _ = runWith(t, delivering(&got), "--influx-file", filepath.Join(t.TempDir(), "missing", "m.lp"))
	assert.Equal(t, []bool{false, false}, got, "a file sink that fails is not a delivery")

	got = nil
	_, _ = runWith(t, delivering(&got))
	assert.Equal(t, []bool{true, true}, got, "without a sink there is nothing to lose")
}

func TestDeliverSaysSpooled(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	var safe, spooled bool
	runWith(t, func(ctx context.Context, env *Env) nagios.Result {
		_, safe, spooled = env.Deliver(ctx, []metrics.Point{{Measurement: "batch", Fields: map[string]any{"n": int64(1)}}})
		return nagios.Result{Status: nagios.OK, Summary: "fine"}
	}, "--influx-url", url, "-t", "2")
	assert.True(t, safe, "kept in the spool")
	assert.True(t, spooled)
}

func TestDeliverRedacts(t *testing.T) {
	t.Setenv("INFLUX_TOKEN", "s3cr3t-t0ken-value")
	var out bytes.Buffer
	var opts testOptions
	lp := filepath.Join(t.TempDir(), "m.lp")
	Run(Spec{Name: "TEST", Binary: "check_test", Options: &opts, Check: func(ctx context.Context, env *Env) nagios.Result {
		env.Deliver(ctx, []metrics.Point{{Measurement: "batch", Tags: map[string]string{"t": "x s3cr3t-t0ken-value"}, Fields: map[string]any{"n": int64(1)}}})
		return nagios.Result{Status: nagios.OK, Summary: "fine"}
	}}, []string{"--influx-file", lp, "--spool-dir", t.TempDir()}, &out)
	b, err := os.ReadFile(lp)
	assert.NoError(t, err)
	assert.Contains(t, string(b), "batch,t=")
	assert.NotContains(t, string(b), "s3cr3t-t0ken-value")
}
