package metrics

import (
	"testing"

	flags "github.com/jessevdk/go-flags"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOptionsParse(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want Options
	}{
		{name: "defaults", args: nil, want: Options{InfluxDB: "registry_checks", SpoolDir: DefaultSpoolDir, SpoolMaxBytes: DefaultSpoolMaxBytes}},
		{name: "everything", args: []string{
			"--influx-url", "https://influx:8086", "--influx-db", "rc", "--influx-rp", "week",
			"--influx-org", "ops", "--influx-bucket", "checks", "--influx-credentials-file", "/etc/rc/influx",
			"--influx-file", "/var/lib/telegraf/rc.lp", "--spool-dir", "/tmp/spool", "--spool-max-bytes", "1024"},
			want: Options{InfluxURL: "https://influx:8086", InfluxDB: "rc", InfluxRP: "week", InfluxOrg: "ops",
				InfluxBucket: "checks", InfluxCredentialsFile: "/etc/rc/influx", InfluxFile: "/var/lib/telegraf/rc.lp",
				SpoolDir: "/tmp/spool", SpoolMaxBytes: 1024}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Options
			rest, err := flags.NewParser(&o, flags.None).ParseArgs(tt.args)
			require.NoError(t, err)
			assert.Empty(t, rest)
			assert.Equal(t, tt.want, o)
		})
	}
}

func TestOptionsBuildConfig(t *testing.T) {
	o := Options{InfluxURL: "http://i:8086", InfluxDB: "rc", InfluxRP: "rp", InfluxOrg: "o", InfluxBucket: "b", SpoolDir: "/s", SpoolMaxBytes: 7}
	assert.Equal(t, HTTPConfig{URL: "http://i:8086", DB: "rc", RP: "rp", Org: "o", Bucket: "b"}, o.HTTPConfig())
	assert.Equal(t, Spool{Dir: "/s", MaxBytes: 7}, o.Spool())
}
