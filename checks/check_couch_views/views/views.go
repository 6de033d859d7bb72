// Package views is check_couch_views: per design document of a database,
// the index's size, fragmentation, updater and compaction state and how
// far it is behind the database, and the time one small query per view
// takes without triggering an index build.
package views

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
)

// DesignDoc is a design document of the database: its views and whether
// each reduces.
type DesignDoc struct {
	ID       string // "_design/app"
	Language string
	Views    []View // sorted by name
}

// Name is the ID without "_design/".
func (d DesignDoc) Name() string { return strings.TrimPrefix(d.ID, "_design/") }

// View is one view of a design document.
type View struct {
	Name   string
	Reduce bool
}

// Couch is what the check reads from the node; NewCouch adapts a
// *couch.Client.
type Couch interface {
	DBInfo(ctx context.Context, db string) (*couch.DBInfo, error)
	DesignDocs(ctx context.Context, db string) ([]DesignDoc, error)
	ViewInfo(ctx context.Context, db, ddoc string) (*couch.ViewInfo, error)
	// Query runs a view query and reads every row of the answer.
	Query(ctx context.Context, db, ddoc, view string, params map[string]any) (rows int, err error)
}

// Deps are the check's connections to the world.
type Deps struct {
	Couch   Couch
	Now     func() time.Time
	Step    func(format string, args ...any)
	Problem func(err error) (nagios.Status, string)
}

// Query modes: how a query asks not to trigger an index build.
const (
	ModeAuto        = "auto"         // from the shape of the database's update_seq
	ModeUpdateFalse = "update-false" // update=false: CouchDB 2.x, 3.x
	ModeStaleOK     = "stale-ok"     // stale=ok: CouchDB 1.x, PouchDB (2.x/3.x accept it too, deprecated)
)

// Config is what the options ask for.
type Config struct {
	URL   string // the node, without credentials: the url tag
	DB    string
	DDocs []string // names with or without "_design/"; all when empty

	Lag            nagios.Thresholds // changes the index has not processed
	Fragmentation  nagios.Thresholds // percent of the index file compaction would reclaim
	MinSize        int64             // indexes with a smaller file are never alerted on for fragmentation
	WaitingClients nagios.Thresholds

	QueryTime   nagios.Thresholds // ms of the query that does not build the index
	QueryMode   string
	NoQuery     bool              // skip the per-view queries
	UpdateQuery bool              // also time one query per design document that brings the index up to date
	UpdateTime  nagios.Thresholds // ms of that query
}

// Measurements of the line protocol.
const (
	MeasurementIndex = "couch_view_index"
	MeasurementView  = "couch_view"
)

// Check measures the design documents of cfg.DB.
//
// Its requests come in three phases, each waiting for the one before: the
// database's info and its design documents together; the _info of every
// selected design document together (infoConcurrency at a time); then the
// view queries one at a time. The queries are measurements (query_ms and
// its thresholds): each runs alone, after every other request of the run
// has been answered, so that no query is timed while another request of
// ours is in flight on the node or on the connection pool.
func Check(ctx context.Context, cfg Config, deps Deps) nagios.Result {
	db, ddocs, dbErr, ddErr := dbAndDesignDocs(ctx, cfg, deps)
	if dbErr != nil {
		// Reported first, as when the two were read one after the other.
		return fail(deps, dbErr, "database "+cfg.DB)
	}
	if ddErr != nil {
		return fail(deps, ddErr, "")
	}
	mode := cfg.QueryMode
	if mode == "" || mode == ModeAuto {
		mode = modeFor(db.UpdateSeq)
	}
	ddocs, missing, skipped := selectDDocs(ddocs, cfg.DDocs)

	var subs []nagios.Result
	for _, name := range missing {
		subs = append(subs, nagios.Result{Name: "_design/" + name, Status: nagios.CRITICAL, Summary: "design document not found",
			Measurement: MeasurementIndex, Tags: tags(cfg, name, "")})
	}
	// Judged as soon as every _info is in, before any query: a timeout's
	// message names the step the run was on, and that is the _info one.
	infos := viewInfos(ctx, cfg, deps, ddocs)
	indexes := make([]ddocResult, len(ddocs))
	for i, d := range ddocs {
		indexes[i] = judgeDDocIndex(cfg, deps, db, d, infos[i])
	}
	for i, d := range ddocs {
		subs = append(subs, indexes[i].withQueries(ctx, cfg, deps, d, mode))
	}
	if cfg.UpdateQuery {
		// Last, after every cheap measurement: an index build can take
		// longer than -t, and what was measured must survive that.
		for i := range subs {
			if i < len(missing) {
				continue
			}
			updateQuery(ctx, cfg, deps, ddocs[i-len(missing)], &subs[i])
		}
	}

	res := nagios.Aggregate("design documents", subs)
	if len(subs) == 1 && res.Status != nagios.OK {
		// "1 of 1 design documents failing:" says nothing the name does not.
		res.Summary = subs[0].Name + " " + subs[0].Summary
	}
	if len(subs) == 0 {
		// UNKNOWN, not OK: whoever points the check at a database expects
		// views there, and OK would hide design documents that were
		// deleted (or a wrong --db).
		res.Summary = fmt.Sprintf("no views to check in %s (wrong --db, or design documents deleted?)", cfg.DB)
	} else if res.Status == nagios.OK {
		// Aggregate's "N design documents OK", naming the database.
		res.Summary = strings.TrimSuffix(res.Summary, " OK") + " of " + cfg.DB + " OK"
	}
	if n, err := db.UpdateSeq.Number(); err == nil {
		res.Long = append(res.Long, fmt.Sprintf("database %s: update_seq %d, %d docs; queries timed with %s", cfg.DB, n, db.DocCount, modeParam(mode)))
	}
	if len(skipped) > 0 {
		res.Long = append(res.Long, fmt.Sprintf("not checked: %s (Mango indexes or no views)", strings.Join(skipped, ", ")))
	}
	return res
}

// dbAndDesignDocs reads the database's info and its design documents at
// once: neither needs the other. The database's error is the one to
// report when both fail, so its failure cancels the other request, whose
// answer no longer matters.
func dbAndDesignDocs(ctx context.Context, cfg Config, deps Deps) (db *couch.DBInfo, ddocs []DesignDoc, dbErr, ddErr error) {
	deps.Step("GET %s/%s and GET %s/%s/_all_docs (design documents)", cfg.URL, cfg.DB, cfg.URL, cfg.DB)
	ddocCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if db, dbErr = deps.Couch.DBInfo(ctx, cfg.DB); dbErr != nil {
			cancel()
		}
	})
	wg.Go(func() { ddocs, ddErr = deps.Couch.DesignDocs(ddocCtx, cfg.DB) })
	wg.Wait()
	return db, ddocs, dbErr, ddErr
}

// infoConcurrency bounds the _info requests in flight: a database with
// dozens of design documents should not get them all at once.
const infoConcurrency = 4

// indexInfo is the answer to one design document's _info.
type indexInfo struct {
	vi  *couch.ViewInfo
	err error
}

// viewInfos reads the _info of every design document, infoConcurrency at
// a time, in their order.
func viewInfos(ctx context.Context, cfg Config, deps Deps, ddocs []DesignDoc) []indexInfo {
	out := make([]indexInfo, len(ddocs))
	if len(ddocs) == 0 {
		return out
	}
	steps := make([]string, len(ddocs))
	for i, d := range ddocs {
		steps[i] = fmt.Sprintf("GET %s/%s/%s/_info", cfg.URL, cfg.DB, d.ID)
	}
	deps.Step("%s", joinAnd(steps))
	sem := make(chan struct{}, infoConcurrency)
	var wg sync.WaitGroup
	for i, d := range ddocs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i].vi, out[i].err = deps.Couch.ViewInfo(ctx, cfg.DB, d.Name())
		})
	}
	wg.Wait()
	return out
}

// joinAnd is "a", "a and b", "a, b and c".
func joinAnd(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// fail is the result of a check that could not read the database or its
// design documents. A database the operator named that does not exist is
// CRITICAL: the registry without its database is down.
func fail(deps Deps, err error, what string) nagios.Result {
	st, msg := deps.Problem(err)
	var se *httpclient.StatusError
	if what != "" && errors.As(err, &se) && se.Code == http.StatusNotFound {
		return nagios.Result{Status: nagios.CRITICAL, Summary: what + " not found", Long: []string{msg}}
	}
	return nagios.Result{Status: st, Summary: msg}
}

// modeFor picks the query parameter that reads an index without building
// it: 2.x and 3.x (opaque string or [N, "..."] sequences) take
// update=false; 1.x and PouchDB (integer sequences) know only stale=ok,
// and PouchDB would build the index on an update=false it ignores.
func modeFor(seq couch.Seq) string {
	s := strings.TrimSpace(string(seq))
	if strings.HasPrefix(s, `"`) || strings.HasPrefix(s, "[") {
		return ModeUpdateFalse
	}
	return ModeStaleOK
}

func modeParam(mode string) string {
	if mode == ModeUpdateFalse {
		return "update=false"
	}
	return "stale=ok"
}

// selectDDocs keeps the named design documents (all when none are named),
// and those with views whose language is not Mango's "query": Mango
// indexes are read through _find, not _view.
func selectDDocs(all []DesignDoc, named []string) (keep []DesignDoc, missing, skipped []string) {
	want := map[string]bool{}
	for _, n := range named {
		want[strings.TrimPrefix(n, "_design/")] = true
	}
	found := map[string]bool{}
	for _, d := range all {
		if len(want) > 0 && !want[d.Name()] {
			continue
		}
		found[d.Name()] = true
		if len(d.Views) == 0 || d.Language == "query" {
			skipped = append(skipped, d.ID)
			continue
		}
		keep = append(keep, d)
	}
	for _, n := range named {
		n = strings.TrimPrefix(n, "_design/")
		if !found[n] && !slices.Contains(missing, n) {
			missing = append(missing, n)
		}
	}
	return keep, missing, skipped
}

func tags(cfg Config, ddoc, view string) map[string]string {
	t := map[string]string{"url": cfg.URL, "db": cfg.DB, "ddoc": ddoc}
	if view != "" {
		t["view"] = view
	}
	return t
}

// ddocResult is the sub-result of one design document as its _info
// leaves it, and the facts its summary is made of.
type ddocResult struct {
	r     nagios.Result
	facts []fact
}

// fact is one thing said about a design document's index. Its text goes
// in the design document's line; when it is a problem (st not OK), head
// is what the first line says of it: the figure that crossed, once,
// without byte counts, URLs or server text.
type fact struct {
	st   nagios.Status
	text string
	head string // "" when text says it short enough
}

func (f fact) short() string {
	if f.head != "" {
		return f.head
	}
	return f.text
}

// judgeDDocIndex is the sub-result of one design document's index, from
// the answer to its _info.
func judgeDDocIndex(cfg Config, deps Deps, db *couch.DBInfo, d DesignDoc, info indexInfo) ddocResult {
	name := d.Name()
	r := nagios.Result{Name: d.ID, Status: nagios.OK, Measurement: MeasurementIndex, Tags: tags(cfg, name, "")}
	lbl := func(s string) string { return name + " " + s }

	vi, err := info.vi, info.err
	var facts []fact
	switch {
	case err != nil:
		st, msg := deps.Problem(err)
		r.Status = st
		facts = append(facts, fact{st: st, text: "_info: " + msg, head: "_info failing (" + httpclient.Cause(err) + ")"})
		r.Perf = unknownIndexPerf(lbl)
	case vi.Unsupported != "":
		r.Perf = unknownIndexPerf(lbl)
		r.Long = append(r.Long, fmt.Sprintf("index size, fragmentation, lag, updater and compaction state not measurable: the server has no design-document _info (view_index: %q; pouchdb-server)", vi.Unsupported))
		facts = append(facts, fact{text: "index state not measurable"})
	default:
		st, f, perf, long := judgeIndex(cfg, db, vi.ViewIndex, lbl)
		r.Status, facts, r.Perf, r.Long = st, f, perf, long
	}
	return ddocResult{r: r, facts: facts}
}

// withQueries adds one sub-result per view with the query time, and
// returns the design document's sub-result.
func (dr ddocResult) withQueries(ctx context.Context, cfg Config, deps Deps, d DesignDoc, mode string) nagios.Result {
	r, facts := dr.r, dr.facts
	if !cfg.NoQuery {
		var views []fact
		for _, v := range d.Views {
			q, f := queryView(ctx, cfg, deps, d, v, mode)
			r.Subs = append(r.Subs, q)
			r.Status = nagios.Worse(r.Status, q.Status)
			if f.st != nagios.OK {
				views = append(views, f)
			}
		}
		// The views that fail come first: they are the news.
		facts = append(views, facts...)
	}
	r.Summary = summarize(&r, facts)
	return r
}

// summarize is a design document's summary: every fact when it is OK; only
// the problems, short, when it is not, with every fact in a long-output
// line.
func summarize(r *nagios.Result, facts []fact) string {
	var all, bad []string
	for _, f := range facts {
		all = append(all, f.text)
		if f.st != nagios.OK {
			bad = append(bad, f.short())
		}
	}
	if r.Status == nagios.OK || len(bad) == 0 {
		return strings.Join(all, ", ")
	}
	var info []string
	for _, f := range facts {
		if f.st == nagios.OK || f.head != "" {
			info = append(info, f.text)
		}
	}
	if len(info) > 0 {
		r.Long = append([]string{"index: " + strings.Join(info, ", ")}, r.Long...)
	}
	return strings.Join(bad, ", ")
}

func unknownIndexPerf(lbl func(string) string) []nagios.Perf {
	var out []nagios.Perf
	for _, f := range indexFields {
		out = append(out, nagios.Perf{Label: lbl(f.label), Field: f.field, UOM: f.uom, Unknown: true, Integer: f.uom != "%"})
	}
	return out
}

var indexFields = []struct{ label, field, uom string }{
	{"lag", "lag", ""},
	{"file", "file_bytes", "B"},
	{"active", "active_bytes", "B"},
	{"fragmentation", "fragmentation_pct", "%"},
	{"updater_running", "updater_running", ""},
	{"compact_running", "compact_running", ""},
	{"waiting_clients", "waiting_clients", ""},
}

// IndexLag is how many database changes the index has not processed yet,
// and where the number comes from:
//
//   - 3.x reports it: updates_pending.total, summed over the shards.
//   - Otherwise it is the database's update_seq minus the index's. In 1.x
//     both are plain integers and the difference is exact. In 2.x the
//     database's is an opaque string whose numeric prefix is the sum of
//     its shards' sequences, and the index's is an integer, the sum over
//     the same shards: the difference counts the same kind of thing, but
//     when shard copies disagree (n > 1, after a node was down) it is an
//     estimate, and is floored at 0.
//
// The database is read before the index (Check asks for the _info only
// once the database's info is in), so writes in between make the lag look
// smaller, never larger.
func IndexLag(db *couch.DBInfo, vi couch.ViewIndex) (lag int64, how string, err error) {
	if vi.UpdatesPending != nil {
		return vi.UpdatesPending.Total, "updates_pending.total", nil
	}
	dbSeq, err := db.UpdateSeq.Number()
	if err != nil {
		return 0, "", fmt.Errorf("database update_seq: %w", err)
	}
	viewSeq, err := vi.UpdateSeq.Number()
	if err != nil {
		return 0, "", fmt.Errorf("index update_seq: %w", err)
	}
	return max(dbSeq-viewSeq, 0), fmt.Sprintf("database update_seq %d - index update_seq %d", dbSeq, viewSeq), nil
}

// judgeIndex judges what _info says about one design document's index.
func judgeIndex(cfg Config, db *couch.DBInfo, vi couch.ViewIndex, lbl func(string) string) (nagios.Status, []fact, []nagios.Perf, []string) {
	st := nagios.OK
	var facts []fact
	var long []string

	lagPerf := nagios.Perf{Label: lbl("lag"), Field: "lag", Integer: true}
	if lag, how, err := IndexLag(db, vi); err != nil {
		lagPerf.Unknown = true
		long = append(long, "index lag unknown: "+err.Error())
	} else {
		lagPerf.Value = float64(lag)
		lagPerf = cfg.Lag.Apply(lagPerf)
		lst := cfg.Lag.Status(float64(lag))
		st = nagios.Worse(st, lst)
		facts = append(facts, fact{st: lst, text: fmt.Sprintf("%d changes behind", lag)})
		long = append(long, "lag: "+how)
	}

	file, active, known := vi.DiskSize, vi.DataSize, vi.DiskSize > 0
	if vi.Sizes != nil {
		file, active, known = vi.Sizes.File, vi.Sizes.Active, true
	}
	zero := 0.0
	fragPerf := nagios.Perf{Label: lbl("fragmentation"), Field: "fragmentation_pct", UOM: "%", Unknown: !known || file <= 0, Min: &zero}
	if !fragPerf.Unknown {
		frag := float64(max(file-active, 0)) * 100 / float64(file)
		fragPerf.Value = float64(int64(frag*10+0.5)) / 10
		f := fact{text: fmt.Sprintf("%s%% fragmented (%s of %s)", pctText(frag), couch.FormatBytes(max(file-active, 0)), couch.FormatBytes(file)),
			head: pctText(frag) + "% fragmented"}
		if file >= cfg.MinSize {
			fragPerf = cfg.Fragmentation.Apply(fragPerf)
			f.st = cfg.Fragmentation.Status(frag)
			st = nagios.Worse(st, f.st)
		} else if cfg.Fragmentation.Status(frag) != nagios.OK {
			f.text += fmt.Sprintf(" (below --min-size %s: not alerted on)", couch.FormatBytes(cfg.MinSize))
		}
		facts = append(facts, f)
	} else {
		facts = append(facts, fact{text: "size unknown"})
	}

	if vi.UpdaterRunning {
		facts = append(facts, fact{text: "updater running"})
	}
	if vi.CompactRunning {
		facts = append(facts, fact{text: "compaction running"})
	}
	if vi.WaitingClients > 0 || cfg.WaitingClients.Warn != nil || cfg.WaitingClients.Crit != nil {
		wst := cfg.WaitingClients.Status(float64(vi.WaitingClients))
		st = nagios.Worse(st, wst)
		if vi.WaitingClients > 0 || wst != nagios.OK {
			facts = append(facts, fact{st: wst, text: fmt.Sprintf("%d clients waiting", vi.WaitingClients)})
		}
	}
	perf := []nagios.Perf{
		lagPerf,
		{Label: lbl("file"), Field: "file_bytes", Value: float64(file), Unknown: !known, UOM: "B", Integer: true},
		{Label: lbl("active"), Field: "active_bytes", Value: float64(active), Unknown: !known, UOM: "B", Integer: true},
		fragPerf,
		{Label: lbl("updater_running"), Field: "updater_running", Value: b2f(vi.UpdaterRunning), Integer: true},
		{Label: lbl("compact_running"), Field: "compact_running", Value: b2f(vi.CompactRunning), Integer: true},
		cfg.WaitingClients.Apply(nagios.Perf{Label: lbl("waiting_clients"), Field: "waiting_clients", Value: float64(vi.WaitingClients), Integer: true}),
	}
	return st, facts, perf, long
}

// queryView times one query of the view that must not build the index:
// limit=1, reduce=false for a reducing view (one row, not the reduction),
// and update=false or stale=ok.
//
// The fact is what the design document's summary says of the view.
func queryView(ctx context.Context, cfg Config, deps Deps, d DesignDoc, v View, mode string) (nagios.Result, fact) {
	r := nagios.Result{Name: v.Name, Status: nagios.OK, Measurement: MeasurementView, Tags: tags(cfg, d.Name(), v.Name)}
	params := map[string]any{"limit": 1}
	if v.Reduce {
		params["reduce"] = false
	}
	if mode == ModeUpdateFalse {
		params["update"] = false
	} else {
		params["stale"] = "ok"
	}
	deps.Step("GET %s/%s/%s/_view/%s?%s", cfg.URL, cfg.DB, d.ID, v.Name, modeParam(mode))
	start := deps.Now()
	rows, err := deps.Couch.Query(ctx, cfg.DB, d.Name(), v.Name, params)
	ms := float64(deps.Now().Sub(start).Microseconds()) / 1000
	perf := nagios.Perf{Label: d.Name() + "/" + v.Name + " ms", Field: "query_ms", UOM: "ms"}
	if err != nil {
		r.Status, r.Summary = viewError(deps, err)
		perf.Unknown = true
		r.Perf = []nagios.Perf{perf}
		return r, fact{st: r.Status, text: "view " + v.Name + " failing (" + httpclient.Cause(err) + ")"}
	}
	perf.Value = round3(ms)
	perf = cfg.QueryTime.Apply(perf)
	r.Perf = []nagios.Perf{perf, {Label: d.Name() + "/" + v.Name + " rows", Field: "rows", Value: float64(rows), Integer: true}}
	r.Status = cfg.QueryTime.Status(ms)
	r.Summary = fmt.Sprintf("%s ms (%s)", msText(ms), modeParam(mode))
	return r, fact{st: r.Status, text: fmt.Sprintf("view %s slow (%s ms)", v.Name, msText(ms))}
}

// viewError is the state of a view query that failed: CRITICAL with the
// server's error (a broken map function, a missing view, a crashed query
// server), except for the check's own trouble: a timeout follows
// --timeout-state and a refused login stays UNKNOWN.
func viewError(deps Deps, err error) (nagios.Status, string) {
	st, msg := deps.Problem(err)
	var p *nagios.Problem
	if errors.As(err, &p) && p.Timeout || errors.Is(err, context.DeadlineExceeded) {
		return st, msg
	}
	var se *httpclient.StatusError
	if errors.As(err, &se) && (se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden) {
		return st, msg
	}
	return nagios.CRITICAL, msg
}

// updateQuery times one query of the design document's first view without
// update=false/stale=ok: it waits for the index to catch up (every view of
// a design document shares one index), which is what a client without
// those parameters waits for.
func updateQuery(ctx context.Context, cfg Config, deps Deps, d DesignDoc, r *nagios.Result) {
	v := d.Views[0]
	params := map[string]any{"limit": 1}
	if v.Reduce {
		params["reduce"] = false
	}
	deps.Step("GET %s/%s/%s/_view/%s (index update)", cfg.URL, cfg.DB, d.ID, v.Name)
	start := deps.Now()
	_, err := deps.Couch.Query(ctx, cfg.DB, d.Name(), v.Name, params)
	ms := float64(deps.Now().Sub(start).Microseconds()) / 1000
	perf := nagios.Perf{Label: d.Name() + " update ms", Field: "update_query_ms", UOM: "ms"}
	var text string
	st := nagios.OK
	if err != nil {
		perf.Unknown = true
		var msg string
		st, msg = viewError(deps, err)
		text = "updating query of " + v.Name + " failed (" + httpclient.Cause(err) + ")"
		r.Long = append(r.Long, "updating query of "+v.Name+": "+msg)
	} else {
		perf.Value = round3(ms)
		perf = cfg.UpdateTime.Apply(perf)
		st = cfg.UpdateTime.Status(ms)
		text = fmt.Sprintf("updating query %s ms", msText(ms))
	}
	r.Perf = append(r.Perf, perf)
	wasOK := r.Status == nagios.OK
	r.Status = nagios.Worse(r.Status, st)
	switch {
	case st != nagios.OK && wasOK:
		// The summary was every fact: the problem alone now, the facts
		// in the long output.
		r.Long = append([]string{"index: " + r.Summary}, r.Long...)
		r.Summary = text
	case st != nagios.OK:
		r.Summary = joinNonEmpty(text, r.Summary)
	case wasOK:
		r.Summary = joinNonEmpty(r.Summary, text)
	default:
		r.Long = append(r.Long, text)
	}
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ", " + b
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

func msText(ms float64) string {
	if ms >= 100 {
		return fmt.Sprintf("%.0f", ms)
	}
	return fmt.Sprintf("%.1f", ms)
}

func pctText(v float64) string {
	if v >= 10 || v == 0 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
