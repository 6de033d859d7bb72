// Package packaging_test checks what make package ships: the Grafana
// dashboard against the line protocol the checks really emit, the .rpm's
// paths (rpm -qpl), and the .deb installed, used through NRPE and removed.
package packaging_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/cdnlog/cdnlogtest"
	"github.com/registry-checks/registry-checks/nrpe/nrpetest"
	"github.com/registry-checks/registry-checks/test/stackenv"
)

const dashboardFile = "grafana/registry-checks.json"

type dashboard struct {
	Inputs     []json.RawMessage `json:"__inputs"`
	Templating struct {
		List []struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			Query    any    `json:"query"`
			AllValue string `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name       string `json:"name"`
			Query      string `json:"query"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"list"`
	} `json:"annotations"`
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID    string `json:"refId"`
		RawQuery bool   `json:"rawQuery"`
		Query    string `json:"query"`
	} `json:"targets"`
}

// query is what an InfluxQL query of the dashboard reads.
type query struct {
	measurement string
	fields      []string
	tags        []string
}

var (
	selectFrom = regexp.MustCompile(`^SELECT (.+) FROM "([a-z_]+)" WHERE ((?:"[a-z_]+" =~ /\^\$[a-z]+\$/ AND )*)(?:\$timeFilter|time > now\(\) - 1d)(?: GROUP BY (.+?))?(?: fill\([a-z0-9]+\))?$`)
	filterTag  = regexp.MustCompile(`"([a-z_]+)" =~`)
	fieldCall  = regexp.MustCompile(`^[a-z]+\("([a-z0-9_]+)"\)(?: AS "[a-z0-9_]+")?$`)
	groupTag   = regexp.MustCompile(`^"([a-z_]+)"$`)
)

// parseQuery reads the dashboard's one InfluxQL shape:
// SELECT fn("field") [AS "x"], ... FROM "measurement" WHERE $timeFilter [GROUP BY time($__interval), "tag", ...] [fill(...)],
// or, for a panel of the current UTC day whatever the dashboard's range,
// WHERE time > now() - 1d GROUP BY time(1d), ...
func parseQuery(q string) (query, error) {
	m := selectFrom.FindStringSubmatch(q)
	if m == nil {
		return query{}, fmt.Errorf("not of the form SELECT fn(\"field\") FROM \"measurement\" WHERE $timeFilter ...: %s", q)
	}
	out := query{measurement: m[2]}
	for _, f := range strings.Split(m[1], ", ") {
		fm := fieldCall.FindStringSubmatch(f)
		if fm == nil {
			return query{}, fmt.Errorf("select item %q is not fn(\"field\"): %s", f, q)
		}
		out.fields = append(out.fields, fm[1])
	}
	for _, fm := range filterTag.FindAllStringSubmatch(m[3], -1) {
		out.tags = append(out.tags, fm[1])
	}
	if m[4] != "" {
		for _, g := range strings.Split(m[4], ", ") {
			if g == "time($__interval)" || g == "time(1d)" {
				continue
			}
			gm := groupTag.FindStringSubmatch(g)
			if gm == nil {
				return query{}, fmt.Errorf("GROUP BY item %q is not a quoted tag: %s", g, q)
			}
			out.tags = append(out.tags, gm[1])
		}
	}
	return out, nil
}

func loadDashboard(t *testing.T) (dashboard, []query) {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(b, &d), "the dashboard is not JSON")
	var qs []query
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			q, err := parseQuery(tg.Query)
			require.NoError(t, err, "panel %q %s", p.Title, tg.RefID)
			qs = append(qs, q)
		}
	}
	return d, qs
}

// The dashboard is provisionable (no import-time input: a data-source
// variable instead), has node and replication variables, unique panel ids,
// raw InfluxQL targets on that data source, restart annotations, and the
// panels issues 7 and 14 ask for.
func TestDashboardImportable(t *testing.T) {
	d, qs := loadDashboard(t)
	assert.Empty(t, d.Inputs, "__inputs only work for a manual import, not for provisioning")
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	assert.Equal(t, map[string]string{"DS_INFLUXDB": "datasource", "node": "query", "replication": "query"}, vars)
	require.Len(t, d.Annotations.List, 2)
	assert.Equal(t, "${DS_INFLUXDB}", d.Annotations.List[1].Datasource.UID)
	assert.Contains(t, d.Annotations.List[1].Query, `FROM "couch_replication_restart"`)
	assert.NotEmpty(t, d.UID)
	assert.NotEmpty(t, d.Title)
	assert.Greater(t, d.SchemaVersion, 30)
	ids := map[int]bool{}
	for _, p := range d.Panels {
		assert.False(t, ids[p.ID], "panel id %d twice", p.ID)
		ids[p.ID] = true
		assert.Equal(t, "${DS_INFLUXDB}", p.Datasource.UID, p.Title)
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			assert.True(t, tg.RawQuery, "%s %s: raw InfluxQL", p.Title, tg.RefID)
		}
	}
	reads := map[string]bool{}
	for _, q := range qs {
		for _, f := range q.fields {
			reads[q.measurement+"."+f] = true
		}
	}
	for _, want := range []string{
		"couch_replication.heartbeat_lag",                                                                                // replication lag per replica
		"couch_replication.state", "couch_disk.state", "couch_view_index.state", "tarball_origin.state", "cdn_url.state", // state timeline
		"couch_disk.fragmentation_pct", "couch_view_index.fragmentation_pct", // fragmentation
		"tarball_origin.first_byte", "tarball_origin.total", // origin timings
		"cdn_url.dns", "cdn_url.connect", "cdn_url.tls", "cdn_url.first_byte", "cdn_url.total", // CDN timings
		"couch_replication.seq_lag", "couch_replication.checkpoint_age", "couch_disk.compaction_headroom_bytes", // issue 14
		"couch_promotion.state", "couch_promotion.worst_lag", "couch_promotion.worst_doc_diff", "couch_promotion.missing", // promotion readiness
		"couch_promotion.behind", "couch_promotion.fenced", "couch_promotion.write_failed",
	} {
		assert.True(t, reads[want], "no panel reads %s", want)
	}
	// Today is the registry's downloads API's day: 00:00 UTC, which only
	// InfluxDB's own day buckets give (Grafana's "now/d" is the browser's).
	today := false
	for _, p := range d.Panels {
		if p.Title == "Top packages today" {
			today = true
			require.Len(t, p.Targets, 1)
			assert.Equal(t, `SELECT sum("count") FROM "cdn_downloads" WHERE time > now() - 1d GROUP BY time(1d), "package" fill(0)`, p.Targets[0].Query)
		}
	}
	assert.True(t, today, `no "Top packages today" panel`)
	_, err := parseQuery(`SELECT mean(heartbeat_lag) FROM couch_replication`)
	assert.Error(t, err, "the parser must refuse what it cannot read")
}

// emitted is what line protocol really carried: measurement -> fields and tags.
type emitted map[string]struct{ fields, tags map[string]bool }

func (e emitted) add(t *testing.T, source string, lp []byte) {
	t.Helper()
	dec := lineprotocol.NewDecoderWithBytes(lp)
	for dec.Next() {
		m, err := dec.Measurement()
		require.NoError(t, err, "%s: %s", source, lp)
		name := string(m)
		s, ok := e[name]
		if !ok {
			s.fields, s.tags = map[string]bool{}, map[string]bool{}
			e[name] = s
		}
		for {
			k, _, err := dec.NextTag()
			require.NoError(t, err, "%s: %s", source, lp)
			if k == nil {
				break
			}
			s.tags[string(k)] = true
		}
		for {
			k, _, err := dec.NextField()
			require.NoError(t, err, "%s: %s", source, lp)
			if k == nil {
				break
			}
			s.fields[string(k)] = true
		}
	}
}

func runInflux(t *testing.T, line string) []byte {
	t.Helper()
	words := strings.Fields(line)
	out, err := exec.Command(words[0], words[1:]...).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		require.LessOrEqual(t, ee.ExitCode(), 3, "%s: %s", line, out)
	} else {
		require.NoError(t, err, line)
	}
	require.NotEmpty(t, out, "%s printed no line protocol", line)
	return out
}

// Every query of the dashboard names a measurement, fields and tags that
// the checks actually emit. What they emit is taken from the built binaries
// run with --output=influx: the shipped Telegraf sample's commands against
// the local stack, and, for what the stack cannot show (pouchdb-server
// reports no active sizes, so no fragmentation; the stack's CDN has no TLS),
// check_couch_disk and check_couch_views against a fake serving captured
// CouchDB 3.4.3 answers and check_fastly against an HTTPS test server.
func TestDashboardQueriesNameEmittedDataIntegration(t *testing.T) {
	env := stackenv.Need(t, "STACK_DIR", "COUCH_PRIMARY_URL", "COUCH_REPLICA1_URL", "COUCH_CREDENTIALS_FILE", "ORIGIN1_URL", "CDN_URL")
	bin := nrpetest.BuildBinaries(t)
	got := emitted{}

	conf, err := os.ReadFile("../nrpe/telegraf/registry-checks.conf")
	require.NoError(t, err)
	cmds := nrpetest.TelegrafCommands(string(conf))
	require.Len(t, cmds, 7)
	site := nrpetest.StackSite(env)
	for _, c := range cmds {
		name := filepath.Base(strings.Fields(c)[0])
		line := nrpetest.RenderLine(t, name, c, site, bin)
		// The stack shares one credentials file; heartbeats need the
		// replication healthy, which other tests break for a while.
		var out []byte
		require.Eventually(t, func() bool {
			out = runInflux(t, line)
			return name != "check_couch_replication" || bytes.Contains(out, []byte("heartbeat_lag="))
		}, 90*time.Second, time.Second, "%s: no heartbeat_lag: %s", line, out)
		got.add(t, line, out)
	}

	couch := httptest.NewServer(fakeCouch3(t))
	defer couch.Close()
	cred := filepath.Join(t.TempDir(), "couch.cred")
	require.NoError(t, os.WriteFile(cred, []byte(fakeUser+":"+fakePassword+"\n"), 0o600))
	for _, args := range [][]string{
		{"check_couch_disk", "-u", couch.URL, "--credentials-file", cred, "--output=influx"},
		{"check_couch_views", "-u", couch.URL, "--credentials-file", cred, "-d", "registry", "--output=influx"},
	} {
		got.add(t, args[0], runInflux(t, filepath.Join(bin, args[0])+" "+strings.Join(args[1:], " ")))
	}
	// check_cdn_log's per-minute measurements need lines read: a generated
	// log, from its start.
	logDir := t.TempDir()
	gen := cdnlogtest.New(1, time.Now().Add(-10*time.Minute), 20)
	var lines strings.Builder
	for i := 0; i < 500; i++ {
		lines.WriteString(gen.Line())
	}
	require.NoError(t, os.WriteFile(filepath.Join(logDir, "access.log"), []byte(lines.String()), 0o644))
	got.add(t, "check_cdn_log", runInflux(t, filepath.Join(bin, "check_cdn_log")+" --log "+filepath.Join(logDir, "access.log")+
		" --from-start --state-file "+filepath.Join(logDir, "state.json")+" --output=influx"))
	cdn := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Cache", "MISS, HIT")
		w.Header().Set("X-Served-By", "cache-fra1, cache-ams2")
		_, _ = w.Write([]byte("pong"))
	}))
	defer cdn.Close()
	got.add(t, "check_fastly https", runInflux(t, filepath.Join(bin, "check_fastly")+" --insecure -u "+cdn.URL+"/-/ping --output=influx"))

	// pouchdb-server keeps no checkpoints and gives no through_seq: the
	// replication's seq_lag and checkpoint_age and the promotion's
	// worst_lag are U there, and a U is not written. The perfdata (whose
	// labels are the field names) shows the binary measures them.
	unknownOnStack := map[string][]string{
		"check_couch_replication": {"couch_replication", "seq_lag", "checkpoint_age"},
		"check_couch_promotion":   {"couch_promotion", "worst_lag"},
	}
	for _, c := range cmds {
		name := filepath.Base(strings.Fields(c)[0])
		u, ok := unknownOnStack[name]
		if !ok {
			continue
		}
		line := strings.Replace(nrpetest.RenderLine(t, name, c, site, bin), " --output=influx", "", 1)
		words := strings.Fields(line)
		out, _ := exec.Command(words[0], words[1:]...).Output()
		for _, f := range u[1:] {
			if regexp.MustCompile(`[ ']` + f + `'?=U`).Match(out) {
				got[u[0]].fields[f] = true
			}
		}
	}

	var names []string
	for m := range got {
		names = append(names, m)
	}
	sort.Strings(names)
	t.Logf("emitted measurements: %v", names)

	// docs/metrics.md names every measurement, tag and field emitted, on
	// the measurement's own row.
	metricsDoc, err := os.ReadFile("../docs/metrics.md")
	require.NoError(t, err)
	rows := map[string]string{}
	for _, l := range strings.Split(string(metricsDoc), "\n") {
		if c := strings.Split(l, "|"); len(c) > 3 {
			if m := regexp.MustCompile("^ `([a-z_]+)`").FindStringSubmatch(c[2]); m != nil {
				rows[m[1]] += l
			}
		}
	}
	for _, m := range names {
		row, ok := rows[m]
		if !assert.True(t, ok, "docs/metrics.md has no row for measurement %s", m) {
			continue
		}
		for _, k := range append(keys(got[m].tags), keys(got[m].fields)...) {
			assert.Contains(t, row, "`"+k+"`", "docs/metrics.md: %s has no %s", m, k)
		}
	}

	_, qs := loadDashboard(t)
	for _, q := range qs {
		s, ok := got[q.measurement]
		if !assert.True(t, ok, "the dashboard reads measurement %s, which no check emitted", q.measurement) {
			continue
		}
		for _, f := range q.fields {
			assert.True(t, s.fields[f], "the dashboard reads %s.%s, which no check emitted (fields: %v)", q.measurement, f, keys(s.fields))
		}
		for _, tg := range q.tags {
			assert.True(t, s.tags[tg], "the dashboard groups %s by tag %s, which no check emitted (tags: %v)", q.measurement, tg, keys(s.tags))
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

const (
	fakeUser     = "monitor"
	fakePassword = "fake-Pa55-word"
)

// designDocs is node1/registry's design documents as _all_docs with
// include_docs returns them (the capture's views).
const designDocs = `{"total_rows":20054,"offset":0,"rows":[
{"id":"_design/app","key":"_design/app","value":{"rev":"1-a"},"doc":{"_id":"_design/app","_rev":"1-a","language":"javascript","views":{"by_name":{"map":"function (doc) { if (doc.name) emit(doc.name, null); }"}}}},
{"id":"_design/search","key":"_design/search","value":{"rev":"1-b"},"doc":{"_id":"_design/search","_rev":"1-b","language":"javascript","views":{"by_keyword":{"map":"function (doc) { (doc.keywords || []).forEach(function (k) { emit(k, 1); }); }","reduce":"_count"}}}}
]}`

// fakeCouch3 answers as node1 of the CouchDB 3.4.3 capture after its bulk
// load (testdata/ holds the captured answers, names kept).
func fakeCouch3(t *testing.T) http.Handler {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(t, err)
		return b
	}
	var rows []struct {
		Key  string          `json:"key"`
		Info json.RawMessage `json:"info"`
	}
	require.NoError(t, json.Unmarshal(read("node1.dbs-info.json"), &rows))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if u, p, ok := r.BasicAuth(); !ok || u != fakeUser || p != fakePassword {
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"error":"unauthorized","reason":"Name or password is incorrect."}`))
			return
		}
		switch p := r.URL.Path; {
		case p == "/_all_dbs":
			var names []string
			for _, r := range rows {
				names = append(names, r.Key)
			}
			_ = json.NewEncoder(w).Encode(names)
		case p == "/_dbs_info" && r.Method == http.MethodPost:
			_, _ = w.Write(read("node1.dbs-info.json"))
		case p == "/registry":
			_, _ = w.Write(read("node1.db-info.registry.after-bulk-load.json"))
		case p == "/registry/_all_docs":
			_, _ = w.Write([]byte(designDocs))
		case p == "/registry/_design/app/_info":
			_, _ = w.Write(read("node1.view-info.registry-app.after-bulk-load.json"))
		case p == "/registry/_design/search/_info":
			_, _ = w.Write(read("node1.view-info.registry-search.building.json"))
		case strings.Contains(p, "/_view/"):
			_, _ = w.Write(read("node1.view-query.registry-search.update-false.json"))
		default:
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"error":"not_found","reason":"missing"}`))
		}
	})
}

// buildPackages runs make package's program (packaging/mkpkg) on freshly
// built binaries into a temporary dist folder, and returns the .deb and .rpm.
func buildPackages(t *testing.T) (deb, rpm string) {
	t.Helper()
	bin := nrpetest.BuildBinaries(t)
	out := t.TempDir()
	root := nrpetest.RepoRoot(t)
	cmd := exec.Command(filepath.Join(goroot(), "bin", "go"), "run", "./packaging/mkpkg", "-bin", bin, "-out", out, "-version", "1.2.3-4-gabcdef0")
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "mkpkg: %s", b)
	paths := strings.Fields(string(b))
	require.Len(t, paths, 2, "mkpkg printed: %s", b)
	assert.Equal(t, filepath.Join(out, "registry-checks_1.2.3.4.gabcdef0-1_amd64.deb"), paths[0])
	assert.Equal(t, filepath.Join(out, "registry-checks-1.2.3.4.gabcdef0-1.x86_64.rpm"), paths[1])
	return paths[0], paths[1]
}

func goroot() string {
	return strings.TrimSpace(string(must(exec.Command("go", "env", "GOROOT").Output())))
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// shipped is every path in both packages but the binaries' folder and the
// NRPE file (debShipped, rpmShipped).
var shipped = []string{
	"/etc/registry-checks/couch.cred",
	"/etc/cron.d/registry-checks",
	"/usr/lib/systemd/system/registry-checks-restart.service",
	"/usr/lib/systemd/system/registry-checks-restart.timer",
	"/usr/lib/systemd/system/registry-checks-notify-flush.service",
	"/usr/lib/systemd/system/registry-checks-notify-flush.timer",
	"/usr/share/doc/registry-checks/README.md",
	"/usr/share/doc/registry-checks/nagios/registry-checks.cfg",
	"/usr/share/doc/registry-checks/icinga2/registry-checks.conf",
	"/usr/share/doc/registry-checks/telegraf/registry-checks.conf",
	"/usr/share/doc/registry-checks/grafana/registry-checks.json",
	"/usr/share/doc/registry-checks/grafana/provisioning.yaml",
	"/usr/share/doc/registry-checks/examples/nginx-tarball-origin.conf",
	"/usr/share/doc/registry-checks/examples/fastly-like.vcl",
}

var (
	debShipped = []string{
		"/etc/nagios/nrpe.d/registry-checks.cfg",
		"/usr/share/doc/registry-checks/copyright",
		"/usr/share/doc/registry-checks/changelog.Debian.gz",
		"/usr/share/lintian/overrides/registry-checks",
	}
	rpmShipped = []string{
		"/etc/nrpe.d/registry-checks.cfg",
		"/usr/share/licenses/registry-checks/LICENSE",
	}
)

func expectedFiles(pluginDir string, own []string) []string {
	want := append(append([]string{}, shipped...), own...)
	docs, _ := filepath.Glob("../docs/*.md")
	for _, d := range docs {
		want = append(want, "/usr/share/doc/registry-checks/docs/"+filepath.Base(d))
	}
	for _, p := range nrpetest.Binaries {
		b := filepath.Base(p)
		want = append(want, pluginDir+"/"+b, "/usr/share/man/man1/"+b+".1.gz", "/usr/share/bash-completion/completions/"+b)
	}
	sort.Strings(want)
	return want
}

func sorted(s []string) []string {
	sort.Strings(s)
	return s
}

func lines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func TestPackagesIntegration(t *testing.T) {
	t.Parallel() // with TestPackagesLintIntegration: each builds its own packages in its own folder
	nrpetest.NeedProgram(t, "rpm", "rpm")
	nrpetest.NeedProgram(t, "dpkg-deb", "dpkg")
	deb, rpm := buildPackages(t)

	t.Run("rpm", func(t *testing.T) {
		out, err := exec.Command("rpm", "-qpl", rpm).CombinedOutput()
		require.NoError(t, err, "rpm -qpl: %s", out)
		got := lines(out)
		sort.Strings(got)
		assert.Equal(t, expectedFiles("/usr/lib64/nagios/plugins", rpmShipped), got)
		out, err = exec.Command("rpm", "-qpc", rpm).CombinedOutput()
		require.NoError(t, err, "rpm -qpc: %s", out)
		assert.Equal(t, []string{"/etc/cron.d/registry-checks", "/etc/nrpe.d/registry-checks.cfg", "/etc/registry-checks/couch.cred"}, lines(out), "config files")
		out, err = exec.Command("rpm", "-qp", "--dump", rpm).CombinedOutput()
		require.NoError(t, err, "rpm -qp --dump: %s", out)
		for _, l := range lines(out) {
			// path size mtime digest mode owner group isconfig isdoc rdev symlink
			f := strings.Fields(l)
			if strings.Contains(f[0], "/plugins/") {
				assert.Equal(t, "0100755", f[4], "mode of %s", f[0])
			}
			if f[0] == "/etc/nrpe.d/registry-checks.cfg" {
				assert.Equal(t, "1", f[7], "%s is a config file", f[0])
			}
		}
		out, err = exec.Command("rpm", "-qp", "--scripts", rpm).CombinedOutput()
		require.NoError(t, err, "rpm -qp --scripts: %s", out)
		assert.Contains(t, string(out), "postinstall scriptlet")
		assert.Contains(t, string(out), "install -d -m 0750 -o \"$owner\"")
		// The RPM's NRPE file names its own plugin folder.
		nrpetest.NeedProgram(t, "cpio", "cpio")
		// Relative payload names, as rpmbuild writes them: rpm2cpio | cpio -idm
		// (and rpmlint, which extracts that way) must write into the current
		// folder, never into /. The rewritten payload keeps valid digests.
		{
			names, err := exec.Command("sh", "-c", "rpm2cpio \"$1\" | cpio -t --quiet", "sh", rpm).Output()
			require.NoError(t, err)
			for _, n := range lines(names) {
				assert.True(t, strings.HasPrefix(n, "./"), "payload name %q is not relative", n)
			}
			out, err := exec.Command("rpm", "-K", "--nosignature", rpm).CombinedOutput()
			require.NoError(t, err, "rpm -K: %s", out)
			assert.Contains(t, string(out), "digests OK")
		}
		{
			cpio := exec.Command("sh", "-c", "rpm2cpio \"$1\" | cpio -i --quiet --to-stdout ./etc/nrpe.d/registry-checks.cfg", "sh", rpm)
			b, err := cpio.Output()
			require.NoError(t, err)
			assert.Contains(t, string(b), "command[check_couch_disk]=/usr/lib64/nagios/plugins/check_couch_disk ")
			assert.NotContains(t, string(b), "/usr/lib/nagios/plugins/")
		}
		// So do the cron entry and the systemd service that run the handler.
		for f, bin := range map[string]string{"./etc/cron.d/registry-checks": "restart_couch_replication", "./usr/lib/systemd/system/registry-checks-restart.service": "restart_couch_replication",
			"./usr/lib/systemd/system/registry-checks-notify-flush.service": "notify_pagerduty"} {
			b, err := exec.Command("sh", "-c", "rpm2cpio \"$1\" | cpio -i --quiet --to-stdout \"$2\"", "sh", rpm, f).Output()
			require.NoError(t, err, f)
			assert.Contains(t, string(b), "/usr/lib64/nagios/plugins/"+bin+" ", f)
			assert.NotContains(t, string(b), "/usr/lib/nagios/plugins/", f)
		}
	})

	t.Run("deb contents", func(t *testing.T) {
		out, err := exec.Command("dpkg-deb", "-c", deb).CombinedOutput()
		require.NoError(t, err, "dpkg-deb -c: %s", out)
		var got []string
		for _, l := range lines(out) {
			f := strings.Fields(l)
			p := strings.TrimPrefix(f[len(f)-1], ".")
			if !strings.HasSuffix(p, "/") {
				got = append(got, p)
				if strings.Contains(p, "/plugins/") {
					assert.Equal(t, "-rwxr-xr-x", f[0], p)
				}
			}
		}
		sort.Strings(got)
		assert.Equal(t, expectedFiles(nrpetest.PluginDir, debShipped), got)
		out, err = exec.Command("dpkg-deb", "-f", deb, "Package", "Version", "Architecture").CombinedOutput()
		require.NoError(t, err)
		assert.Equal(t, "Package: registry-checks\nVersion: 1.2.3.4.gabcdef0-1\nArchitecture: amd64\n", string(out))
		conffiles, err := exec.Command("sh", "-c", "dpkg-deb --ctrl-tarfile \"$1\" | tar -xO ./conffiles", "sh", deb).Output()
		require.NoError(t, err)
		assert.Equal(t, []string{"/etc/cron.d/registry-checks", "/etc/nagios/nrpe.d/registry-checks.cfg", "/etc/registry-checks/couch.cred"}, sorted(lines(conffiles)))
		man, err := exec.Command("sh", "-c", "dpkg-deb --fsys-tarfile \"$1\" | tar -xO ./usr/share/man/man1/check_couch_replication.1.gz | gzip -dc", "sh", deb).Output()
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(man), ".TH check_couch_replication 1 "), "%.200s", man)
		assert.Contains(t, string(man), `check_couch_replication \- tells in one Nagios line whether every replication`)
		assert.Contains(t, string(man), `\fB\-\-heartbeat-db\fR`)
	})

	t.Run("deb installed, used through NRPE, removed", func(t *testing.T) {
		env := stackenv.Need(t, "STACK_DIR", "NRPE_HOST", "NRPE_PORT", "CHECK_NRPE", "COUCH_PRIMARY_URL", "COUCH_REPLICA1_URL",
			"COUCH_CREDENTIALS_FILE", "ORIGIN1_URL", "CDN_URL")
		if os.Geteuid() != 0 {
			t.Skip("dpkg -i needs root")
		}
		testDebLifecycle(t, env, deb)
	})
}

func dpkg(t *testing.T, args ...string) string {
	t.Helper()
	// Another apt/dpkg run (unattended-upgrades, ensure.sh, the stack) may
	// hold dpkg's lock for a while: pkg.sh waits for it, bounded, and says
	// for which process.
	out, err := exec.Command(filepath.Join(nrpetest.RepoRoot(t), "test/stack/tools/pkg.sh"), append([]string{"dpkg"}, args...)...).CombinedOutput()
	require.NoError(t, err, "dpkg %v: %s", args, out)
	return string(out)
}

func testDebLifecycle(t *testing.T, env map[string]string, deb string) {
	const conffile = "/etc/nagios/nrpe.d/registry-checks.cfg"
	if s := nrpetest.DebStatus("registry-checks"); s != "" && !strings.Contains(s, "not-installed") {
		t.Fatalf("registry-checks is already on this machine (%s): remove it (dpkg -P registry-checks) first; this test installs and purges it", s)
	}
	_, err := os.Stat("/etc/registry-checks")
	hadEtc := err == nil
	t.Cleanup(func() {
		// Leave the machine as it was, also when an assertion failed.
		if nrpetest.DebStatus("registry-checks") != "" {
			_, _ = exec.Command(filepath.Join(nrpetest.RepoRoot(t), "test/stack/tools/pkg.sh"), "dpkg", "-P", "registry-checks").CombinedOutput()
		}
	})
	// An operator ran the handler by hand as root before installing (or
	// between upgrades): its root-owned files must not lock the monitoring
	// user out of the state dir (postinstall takes the folders back).
	if _, err := os.Stat("/var/lib/registry-checks"); os.IsNotExist(err) {
		dir := "/var/lib/registry-checks/restart_couch_replication"
		require.NoError(t, os.MkdirAll(dir, 0o750))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "decisions.log"), []byte("left by a run as root\n"), 0o640))
		t.Cleanup(func() { os.RemoveAll("/var/lib/registry-checks") })
	}
	out := dpkg(t, "-i", deb)
	t.Logf("dpkg -i: %s", out)
	assert.Equal(t, "install ok installed", nrpetest.DebStatus("registry-checks"))

	for _, p := range nrpetest.Binaries {
		b := filepath.Join(nrpetest.PluginDir, filepath.Base(p))
		// --help, not --version: a binary with a required option
		// (check_couch_views -d) refuses --version without it.
		v, _ := exec.Command(b, "--help").Output()
		assert.Contains(t, string(v), "Usage:\n  "+filepath.Base(p)+" ", "%s --help", b)
	}
	for _, d := range []string{"/var/lib/registry-checks", "/var/spool/registry-checks"} {
		out, err := exec.Command("stat", "-c", "%U:%G %a", d).Output()
		require.NoError(t, err, d)
		assert.Equal(t, "nagios:nagios 750\n", string(out), d)
	}

	// The installed NRPE file, with the stack's URLs and credentials file
	// instead of the site values but the installed binaries, served by the
	// stack's NRPE (as nagios).
	installed, err := os.ReadFile(conffile)
	require.NoError(t, err)
	etc, err := exec.Command("stat", "-c", "%U:%G %a", "/etc/registry-checks").Output()
	require.NoError(t, err)
	if !hadEtc {
		assert.Equal(t, "root:root 755\n", string(etc), "/etc/registry-checks, for the credentials files of nagios and telegraf")
	}
	cred, err := exec.Command("stat", "-c", "%U:%G %a", "/etc/registry-checks/couch.cred").Output()
	require.NoError(t, err)
	assert.Equal(t, "root:nagios 640\n", string(cred), "the sample credentials file, readable by the checks")
	// nagios reads it; the binaries accept its mode (the placeholder user
	// then fails to authenticate, which is the check's own message).
	credOut, _ := exec.Command("runuser", "-u", "nagios", "--", filepath.Join(nrpetest.PluginDir, "check_couch_disk"), "-u", env["COUCH_PRIMARY_URL"], "--credentials-file", "/etc/registry-checks/couch.cred").CombinedOutput()
	assert.NotContains(t, string(credOut), "refusing", "check_couch_disk as nagios with the shipped couch.cred: %s", credOut)
	require.NoError(t, err)
	cmds := nrpetest.ParseNRPE(installed)
	rendered := nrpetest.Render(t, cmds, nrpetest.StackSite(env), nrpetest.PluginDir)
	assert.Equal(t, len(nrpetest.Binaries)-len(nrpetest.Notifiers), strings.Count(rendered, "="+nrpetest.PluginDir+"/"))
	nrpetest.InstallNRPE(t, env, "registry-checks-installed", rendered)
	for _, c := range cmds {
		if c.Commented {
			continue
		}
		out := nrpetest.ExpectState(t, env, c.Name, 0, 90*time.Second)
		t.Logf("installed, check_nrpe -c %s: %s", c.Name, strings.SplitN(out, "\n", 2)[0])
		assert.NotContains(t, out, env["COUCH_ADMIN_PASSWORD"])
	}
	// The handler ran as nagios with its default --state-dir: the
	// postinstall's folder, not a fallback.
	_, err = os.Stat("/var/lib/registry-checks/restart_couch_replication")
	assert.NoError(t, err, "the handler's state under /var/lib/registry-checks")

	// An operator's edit of the conffile survives dpkg -r.
	edited := append(append([]byte{}, installed...), []byte("# edited by the operator\n")...)
	require.NoError(t, os.WriteFile(conffile, edited, 0o644))
	out = dpkg(t, "-r", "registry-checks")
	t.Logf("dpkg -r: %s", out)
	assert.Equal(t, "deinstall ok config-files", nrpetest.DebStatus("registry-checks"))
	kept, err := os.ReadFile(conffile)
	require.NoError(t, err, "dpkg -r must keep the conffile")
	assert.Equal(t, string(edited), string(kept))
	for _, p := range nrpetest.Binaries {
		_, err := os.Stat(filepath.Join(nrpetest.PluginDir, filepath.Base(p)))
		assert.True(t, os.IsNotExist(err), "%s left after dpkg -r", p)
	}
	_, err = os.Stat("/usr/share/man/man1/check_couch_disk.1.gz")
	assert.True(t, os.IsNotExist(err), "man page left after dpkg -r")

	dpkg(t, "-P", "registry-checks")
	assert.Equal(t, "", nrpetest.DebStatus("registry-checks"))
	gone := []string{conffile, "/var/lib/registry-checks", "/var/spool/registry-checks"}
	if !hadEtc {
		gone = append(gone, "/etc/registry-checks") // empty: no credentials were put there
	}
	for _, p := range gone {
		_, err := os.Stat(p)
		assert.True(t, os.IsNotExist(err), "%s left after dpkg -P", p)
	}
}

// TestPackagesLintIntegration runs Debian's and Fedora's package linters on
// what make package builds: lintian must report no error and no warning
// (packaging/debian/lintian-overrides says why for each one overridden),
// rpmlint no error (packaging/rpm/rpmlint.toml).
func TestPackagesLintIntegration(t *testing.T) {
	t.Parallel() // with TestPackagesIntegration; lintian and rpmlint only read the packages
	nrpetest.NeedProgram(t, "lintian", "lintian")
	nrpetest.NeedProgram(t, "rpmlint", "rpmlint")
	deb, rpm := buildPackages(t)
	root := nrpetest.RepoRoot(t)

	out, err := exec.Command("lintian", "--no-cfg", deb).CombinedOutput()
	t.Logf("lintian %s:\n%s", filepath.Base(deb), out)
	require.NoError(t, err, "lintian failed")
	for _, l := range lines(out) {
		assert.False(t, strings.HasPrefix(l, "E:") || strings.HasPrefix(l, "W:"), "lintian: %s", l)
	}

	cmd := exec.Command("rpmlint", "-c", filepath.Join(root, "packaging/rpm/rpmlint.toml"), rpm)
	out, err = cmd.CombinedOutput()
	t.Logf("rpmlint %s:\n%s", filepath.Base(rpm), out)
	assert.NoError(t, err, "rpmlint exits non-zero on an error")
	assert.Regexp(t, `\b0 errors\b`, string(out))
	assert.NotContains(t, string(out), ": E: ")
}

// influxQL runs one query on the stack's InfluxDB and returns its series.
func influxQL(t *testing.T, env map[string]string, q string) []struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
} {
	t.Helper()
	r, err := stackenv.InfluxQuery(env["INFLUX_URL"], env["INFLUX_DB"], q)
	require.NoError(t, err)
	require.Len(t, r.Results, 1, q)
	return r.Results[0].Series
}

// grafanaQuery is q as Grafana sends it for the last 15 minutes with every
// variable at "All".
func grafanaQuery(q string) string {
	q = strings.ReplaceAll(q, "$timeFilter", "time > now() - 15m")
	q = strings.ReplaceAll(q, "$__interval", "30s")
	return regexp.MustCompile(`/\^\$[a-z]+\$/`).ReplaceAllString(q, "/^.*$/")
}

// Every panel's InfluxQL, run on the stack's InfluxDB after a demo run (the
// checks with the demo's own arguments, test/stack/demo.d, writing to it),
// returns data. What the stack cannot produce comes from the same sources
// as in TestDashboardQueriesNameEmittedDataIntegration: check_couch_disk and
// check_couch_views against captured CouchDB 3.4.3 answers (fragmentation),
// check_fastly against an HTTPS server (certificate days).
func TestDashboardPanelsReturnDataIntegration(t *testing.T) {
	env := stackenv.Need(t, "STACK_DIR", "INFLUX_URL", "INFLUX_DB", "COUCH_PRIMARY_URL", "COUCH_REPLICA1_URL", "COUCH_CREDENTIALS_FILE", "ORIGIN1_URL", "ORIGIN2_URL", "CDN_URL")
	bin := nrpetest.BuildBinaries(t)
	spool := t.TempDir()
	influx := []string{"--influx-url", env["INFLUX_URL"], "--influx-db", env["INFLUX_DB"], "--spool-dir", spool}
	run := func(name string, args ...string) {
		out, err := exec.Command(filepath.Join(bin, name), args...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			require.LessOrEqual(t, ee.ExitCode(), 3, "%s: %s", name, out)
		} else {
			require.NoError(t, err, name)
		}
		assert.NotContains(t, string(out), "spooled", "%s: InfluxDB did not take the points: %s", name, out)
		first, _, _ := strings.Cut(string(out), "\n")
		t.Logf("%s: %s", name, first)
		assert.NotContains(t, first, "bad arguments", name)
	}

	argFiles, err := filepath.Glob("../test/stack/demo.d/*.args")
	require.NoError(t, err)
	require.NotEmpty(t, argFiles)
	for _, f := range argFiles {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var args []string
		for _, l := range lines(b) {
			if strings.HasPrefix(l, "#") {
				continue // test/stack/demo skips comments too
			}
			args = append(args, os.Expand(l, func(k string) string {
				if k == "STACK_DIR" {
					return spool // --spool-dir and --data-dir: a folder of this test
				}
				return env[k]
			}))
		}
		name := strings.TrimSuffix(filepath.Base(f), ".args")
		if name == "check_cdn_log" {
			// As make demo does: traffic through the CDN for the access log
			// (a packument, a tarball, a miss), read from the log's start on
			// this test's first run (its own state file).
			for _, u := range []string{"/left-pad-lite", "/left-pad-lite/-/left-pad-lite-1.2.0.tgz", "/no-such-package"} {
				if resp, err := http.Get(env["CDN_URL"] + u); err == nil {
					resp.Body.Close()
				}
			}
			args = append(args, "--from-start")
		}
		// The heartbeat needs the replication healthy, which other tests
		// break for a while: wait for a point that has it.
		if name == "check_couch_replication" {
			require.Eventually(t, func() bool {
				out, _ := exec.Command(filepath.Join(bin, name), append(args, "--output=influx")...).Output()
				return bytes.Contains(out, []byte("heartbeat_lag="))
			}, 90*time.Second, time.Second)
		}
		run(name, args...)
	}
	run("restart_couch_replication", append([]string{"-u", env["COUCH_REPLICA1_URL"], "--credentials-file", env["COUCH_CREDENTIALS_FILE"], "--heartbeat-db", "registry", "--dry-run"}, influx...)...)

	couch := httptest.NewServer(fakeCouch3(t))
	defer couch.Close()
	cred := filepath.Join(t.TempDir(), "couch.cred")
	require.NoError(t, os.WriteFile(cred, []byte(fakeUser+":"+fakePassword+"\n"), 0o600))
	run("check_couch_disk", append([]string{"-u", couch.URL, "--credentials-file", cred}, influx...)...)
	run("check_couch_views", append([]string{"-u", couch.URL, "--credentials-file", cred, "-d", "registry"}, influx...)...)
	cdn := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Cache", "MISS, HIT")
		_, _ = w.Write([]byte("pong"))
	}))
	defer cdn.Close()
	run("check_fastly", append([]string{"--insecure", "-u", cdn.URL + "/-/ping"}, influx...)...)

	// pouchdb-server keeps no replication checkpoints and gives no
	// through_seq: check_couch_replication and check_couch_promotion print
	// U for these there, and a U is not written. They are the only panels
	// allowed to be empty, and only on the stack.
	noStackData := map[string]string{
		"couch_replication.seq_lag":        "pouchdb-server reports no written sequence",
		"couch_replication.checkpoint_age": "pouchdb-server keeps no checkpoint documents",
		"couch_promotion.worst_lag":        "pouchdb-server gives no through_seq",
	}
	d, _ := loadDashboard(t)
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(string); ok && v.Type == "query" {
			series := influxQL(t, env, grafanaQuery(q))
			assert.NotEmpty(t, series, "variable %s: %s returns nothing", v.Name, q)
		}
	}
	for _, a := range d.Annotations.List {
		if a.Query != "" {
			influxQL(t, env, grafanaQuery(a.Query)) // runs; restarts are rare
		}
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			q := grafanaQuery(tg.Query)
			series := influxQL(t, env, q)
			values := 0
			for _, s := range series {
				for _, row := range s.Values {
					for _, v := range row[1:] {
						if v != nil {
							values++
						}
					}
				}
			}
			pq, _ := parseQuery(tg.Query)
			if why, ok := noStackData[pq.measurement+"."+strings.Join(pq.fields, ",")]; ok && values == 0 {
				t.Logf("panel %q: no data on the stack (%s): %s", p.Title, why, q)
				continue
			}
			assert.Greater(t, values, 0, "panel %q %s returns no data: %s", p.Title, tg.RefID, q)
		}
	}
}
