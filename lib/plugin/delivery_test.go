package plugin

import (
	"context"
	"net/http"
	"net/http/httptest"
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
