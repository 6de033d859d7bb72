package metrics

// Options are the metric-delivery flags every binary accepts (go-flags
// struct tags). The run path turns them into sinks and a Spool; credentials
// are read from InfluxCredentialsFile by lib/secret, never taken from argv,
// because Nagios logs command lines and ps shows them.
type Options struct {
	InfluxURL             string `long:"influx-url" value-name:"URL" description:"send metrics to this InfluxDB (http://host:8086), as line protocol"`
	InfluxDB              string `long:"influx-db" value-name:"DB" default:"registry_checks" description:"InfluxDB 1.x database"`
	InfluxRP              string `long:"influx-rp" value-name:"RP" description:"InfluxDB 1.x retention policy (default: the database's default)"`
	InfluxOrg             string `long:"influx-org" value-name:"ORG" description:"InfluxDB 2.x organisation; with --influx-bucket selects the 2.x API"`
	InfluxBucket          string `long:"influx-bucket" value-name:"BUCKET" description:"InfluxDB 2.x bucket; selects the 2.x API (--influx-db is then ignored)"`
	InfluxCredentialsFile string `long:"influx-credentials-file" value-name:"PATH" description:"file with the InfluxDB token or user:password (mode 600 or 640)"`
	InfluxFile            string `long:"influx-file" value-name:"PATH" description:"append metrics as line protocol to this file (for Telegraf's tail input)"`
	SpoolDir              string `long:"spool-dir" value-name:"DIR" default:"/var/spool/registry-checks" description:"keep metrics InfluxDB did not take here and send them on the next run"`
	SpoolMaxBytes         int64  `long:"spool-max-bytes" value-name:"BYTES" default:"8388608" description:"bound on the spool's size; the oldest metrics are dropped (and counted) beyond it"`
}

// HTTPConfig is the sink configuration these options describe, without
// credentials (the caller adds Username/Password or Token).
func (o Options) HTTPConfig() HTTPConfig {
	return HTTPConfig{URL: o.InfluxURL, DB: o.InfluxDB, RP: o.InfluxRP, Org: o.InfluxOrg, Bucket: o.InfluxBucket}
}

// Spool is the spool these options describe.
func (o Options) Spool() Spool { return Spool{Dir: o.SpoolDir, MaxBytes: o.SpoolMaxBytes} }
