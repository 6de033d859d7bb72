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
	Inputs []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
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
	selectFrom = regexp.MustCompile(`^SELECT (.+) FROM "([a-z_]+)" WHERE \$timeFilter(?: GROUP BY (.+?))?(?: fill\([a-z]+\))?$`)
	fieldCall  = regexp.MustCompile(`^[a-z]+\("([a-z0-9_]+)"\)(?: AS "[a-z0-9_]+")?$`)
	groupTag   = regexp.MustCompile(`^"([a-z_]+)"$`)
)

// parseQuery reads the dashboard's one InfluxQL shape:
// SELECT fn("field") [AS "x"], ... FROM "measurement" WHERE $timeFilter [GROUP BY time($__interval), "tag", ...] [fill(...)].
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
	if m[3] != "" {
		for _, g := range strings.Split(m[3], ", ") {
			if g == "time($__interval)" {
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

// The dashboard imports into Grafana: a datasource input, unique panel ids,
// raw InfluxQL targets on that datasource, and the panels issue 7 asks for.
func TestDashboardImportable(t *testing.T) {
	d, qs := loadDashboard(t)
	require.Len(t, d.Inputs, 1)
	assert.Equal(t, "DS_INFLUXDB", d.Inputs[0].Name)
	assert.Equal(t, "datasource", d.Inputs[0].Type)
	assert.Equal(t, "influxdb", d.Inputs[0].PluginID)
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
	} {
		assert.True(t, reads[want], "no panel reads %s", want)
	}
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
	require.Len(t, cmds, 6)
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

	var names []string
	for m := range got {
		names = append(names, m)
	}
	sort.Strings(names)
	t.Logf("emitted measurements: %v", names)

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

// shipped is every path in the packages but the binaries' folder.
var shipped = []string{
	"/etc/nagios/nrpe.d/registry-checks.cfg",
	"/usr/share/doc/registry-checks/README.md",
	"/usr/share/doc/registry-checks/nagios/registry-checks.cfg",
	"/usr/share/doc/registry-checks/icinga2/registry-checks.conf",
	"/usr/share/doc/registry-checks/telegraf/registry-checks.conf",
	"/usr/share/doc/registry-checks/grafana/registry-checks.json",
	"/usr/share/doc/registry-checks/examples/nginx-tarball-origin.conf",
	"/usr/share/doc/registry-checks/examples/fastly-like.vcl",
}

func expectedFiles(pluginDir string) []string {
	want := append([]string{}, shipped...)
	// Every reference page in docs/ is shipped beside the README.
	pages, _ := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	for _, p := range pages {
		want = append(want, "/usr/share/doc/registry-checks/docs/"+filepath.Base(p))
	}
	for _, p := range nrpetest.Binaries {
		b := filepath.Base(p)
		want = append(want, pluginDir+"/"+b, "/usr/share/man/man1/"+b+".1.gz")
	}
	sort.Strings(want)
	return want
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
	nrpetest.NeedProgram(t, "rpm", "rpm")
	nrpetest.NeedProgram(t, "dpkg-deb", "dpkg")
	deb, rpm := buildPackages(t)

	t.Run("rpm", func(t *testing.T) {
		out, err := exec.Command("rpm", "-qpl", rpm).CombinedOutput()
		require.NoError(t, err, "rpm -qpl: %s", out)
		got := lines(out)
		sort.Strings(got)
		assert.Equal(t, expectedFiles("/usr/lib64/nagios/plugins"), got)
		out, err = exec.Command("rpm", "-qpc", rpm).CombinedOutput()
		require.NoError(t, err, "rpm -qpc: %s", out)
		assert.Equal(t, []string{"/etc/nagios/nrpe.d/registry-checks.cfg"}, lines(out), "config files")
		out, err = exec.Command("rpm", "-qp", "--dump", rpm).CombinedOutput()
		require.NoError(t, err, "rpm -qp --dump: %s", out)
		for _, l := range lines(out) {
			// path size mtime digest mode owner group isconfig isdoc rdev symlink
			f := strings.Fields(l)
			if strings.Contains(f[0], "/plugins/") {
				assert.Equal(t, "0100755", f[4], "mode of %s", f[0])
			}
			if f[0] == "/etc/nagios/nrpe.d/registry-checks.cfg" {
				assert.Equal(t, "1", f[7], "%s is a config file", f[0])
			}
		}
		out, err = exec.Command("rpm", "-qp", "--scripts", rpm).CombinedOutput()
		require.NoError(t, err, "rpm -qp --scripts: %s", out)
		assert.Contains(t, string(out), "postinstall scriptlet")
		assert.Contains(t, string(out), "install -d -m 0750 -o \"$owner\"")
		// The RPM's NRPE file names its own plugin folder.
		nrpetest.NeedProgram(t, "cpio", "cpio")
		{
			cpio := exec.Command("sh", "-c", "rpm2cpio \"$1\" | cpio -i --quiet --to-stdout /etc/nagios/nrpe.d/registry-checks.cfg", "sh", rpm)
			b, err := cpio.Output()
			require.NoError(t, err)
			assert.Contains(t, string(b), "command[check_couch_disk]=/usr/lib64/nagios/plugins/check_couch_disk ")
			assert.NotContains(t, string(b), "/usr/lib/nagios/plugins/")
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
		assert.Equal(t, expectedFiles(nrpetest.PluginDir), got)
		out, err = exec.Command("dpkg-deb", "-f", deb, "Package", "Version", "Architecture").CombinedOutput()
		require.NoError(t, err)
		assert.Equal(t, "Package: registry-checks\nVersion: 1.2.3.4.gabcdef0-1\nArchitecture: amd64\n", string(out))
		conffiles, err := exec.Command("sh", "-c", "dpkg-deb --ctrl-tarfile \"$1\" | tar -xO ./conffiles", "sh", deb).Output()
		require.NoError(t, err)
		assert.Equal(t, "/etc/nagios/nrpe.d/registry-checks.cfg\n", string(conffiles))
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
	// Another apt/dpkg run (ensure.sh, the stack) may hold dpkg's lock
	// for a while: retry on that error only.
	var out []byte
	var err error
	require.Eventually(t, func() bool {
		out, err = exec.Command("dpkg", args...).CombinedOutput()
		return err == nil || !strings.Contains(string(out), "lock")
	}, 120*time.Second, 500*time.Millisecond, "dpkg %v: lock held: %s", args, out)
	require.NoError(t, err, "dpkg %v: %s", args, out)
	return string(out)
}

func debStatus(pkg string) string {
	out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).Output()
	return string(out)
}

func testDebLifecycle(t *testing.T, env map[string]string, deb string) {
	const conffile = "/etc/nagios/nrpe.d/registry-checks.cfg"
	if s := debStatus("registry-checks"); s != "" && !strings.Contains(s, "not-installed") {
		t.Fatalf("registry-checks is already on this machine (%s): remove it (dpkg -P registry-checks) first; this test installs and purges it", s)
	}
	_, err := os.Stat("/etc/registry-checks")
	hadEtc := err == nil
	t.Cleanup(func() {
		// Leave the machine as it was, also when an assertion failed.
		if debStatus("registry-checks") != "" {
			_, _ = exec.Command("dpkg", "-P", "registry-checks").CombinedOutput()
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
	assert.Equal(t, "install ok installed", debStatus("registry-checks"))

	for _, p := range nrpetest.Binaries {
		b := filepath.Join(nrpetest.PluginDir, filepath.Base(p))
		// --help, not --version: a binary with a required option
		// (check_couch_views -d) refuses --version without it.
		v, _ := exec.Command(b, "--help").Output()
		assert.True(t, strings.HasPrefix(string(v), "Usage:\n  "+filepath.Base(p)+" "), "%s --help: %s", b, v)
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
		assert.Equal(t, "root:nagios 750\n", string(etc), "/etc/registry-checks, for the credentials files")
	}
	require.NoError(t, err)
	cmds := nrpetest.ParseNRPE(installed)
	rendered := nrpetest.Render(t, cmds, nrpetest.StackSite(env), nrpetest.PluginDir)
	assert.Equal(t, len(nrpetest.Binaries), strings.Count(rendered, "="+nrpetest.PluginDir+"/"))
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
	assert.Equal(t, "deinstall ok config-files", debStatus("registry-checks"))
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
	assert.Equal(t, "", debStatus("registry-checks"))
	gone := []string{conffile, "/var/lib/registry-checks", "/var/spool/registry-checks"}
	if !hadEtc {
		gone = append(gone, "/etc/registry-checks") // empty: no credentials were put there
	}
	for _, p := range gone {
		_, err := os.Stat(p)
		assert.True(t, os.IsNotExist(err), "%s left after dpkg -P", p)
	}
}
