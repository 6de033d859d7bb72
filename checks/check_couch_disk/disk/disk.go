// Package disk is check_couch_disk: the size and fragmentation of every
// database of a CouchDB node, and, on the node's own host, the free space
// of its data directory and whether the largest database could still be
// compacted there.
package disk

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/fsstat"
	"github.com/registry-checks/registry-checks/lib/nagios"
)

// Couch is what the check reads from the node; *couch.Client has it.
type Couch interface {
	AllDBs(ctx context.Context) ([]string, error)
	// DBsInfo returns the info of the named databases in their order, in
	// batches (POST /_dbs_info) or one GET per database, boundedly
	// concurrent, where the server lacks it.
	DBsInfo(ctx context.Context, dbs []string) ([]couch.DBsInfoRow, error)
}

// FS is what statfs says about the filesystem holding the data directory.
type FS = fsstat.FS

// Statfs reads the filesystem that holds path.
var Statfs = fsstat.Statfs

// Deps are the check's connections to the world.
type Deps struct {
	Couch  Couch
	Statfs func(path string) (FS, error)
	// Step names what the check waits for next (plugin.Env.Step).
	Step func(format string, args ...any)
	// Problem turns an error into a state and a message (plugin.Env.Problem).
	Problem func(err error) (nagios.Status, string)
}

// Config is what the options ask for.
type Config struct {
	URL string // the node, without credentials: the url tag

	// Include are glob patterns (path.Match) of the databases to check,
	// all when empty; a name without glob characters must exist.
	Include []string
	Exclude []string

	Fragmentation nagios.Thresholds // percent of the file that compaction would reclaim
	Slack         nagios.Thresholds // bytes that compaction would reclaim
	MinSize       int64             // databases with a smaller file are never alerted on

	DataDir    string            // "" skips the filesystem part
	Free       nagios.Thresholds // percent free
	FreeBytes  nagios.Thresholds // bytes free
	FreeInodes nagios.Thresholds // percent of inodes free
	Headroom   nagios.Thresholds // bytes left after compacting the largest database

	MaxListed    int  // per-database long-output lines; 0 means DefaultMaxListed
	PerDBMetrics bool // perfdata and a couch_database point per database
}

// DefaultMaxListed bounds the per-database lines: the worst come first,
// and 10,000 OK lines would only push them out of a 4 KiB output.
const DefaultMaxListed = 20

// Measurements and tags of the line protocol.
const (
	MeasurementTotals   = "couch_disk"
	MeasurementDatabase = "couch_database"
)

// dbStat is what the check keeps of one database's info: a few numbers,
// so that 10,000 databases stay small.
type dbStat struct {
	name       string
	file       int64
	active     int64 // -1: the server does not say (PouchDB, 1.0/1.1)
	external   int64 // -1: not reported (1.x, PouchDB)
	compacting bool
}

func (d dbStat) slack() int64 {
	if d.active < 0 {
		return 0
	}
	return max(d.file-d.active, 0)
}

// fragmentation is the part of the file compaction would reclaim, in
// percent; false when it cannot be known.
func (d dbStat) fragmentation() (float64, bool) {
	if d.active < 0 || d.file <= 0 {
		return 0, false
	}
	return float64(d.slack()) * 100 / float64(d.file), true
}

// need is what compacting the database may write: a new file up to the
// live data (the active size), or up to the file size when the server
// does not tell the active size.
func (d dbStat) need() int64 { return fsstat.CompactionNeed(d.file, d.active) }

// statOf keeps what the check needs of one database's info. A 1.x answer
// without data_size (before 1.2) and pouchdb-server's (disk_size only)
// leave the active size unknown; fetch settles data_size 0 afterwards.
func statOf(name string, info *couch.DBInfo) dbStat {
	d := dbStat{name: name, file: info.FileSize(), active: -1, external: -1, compacting: info.CompactRunning}
	switch {
	case info.Sizes != nil:
		d.active, d.external = info.Sizes.Active, info.Sizes.External
	case info.DataSize > 0:
		d.active = info.DataSize
	}
	return d
}

// Check measures the databases and the data directory.
func Check(ctx context.Context, cfg Config, deps Deps) nagios.Result {
	top := nagios.Result{Measurement: MeasurementTotals, Tags: map[string]string{"url": cfg.URL}}

	dbs, dbErr := fetch(ctx, cfg, deps)
	var (
		fsRes   *nagios.Result
		fsParts []part
	)
	if cfg.DataDir != "" {
		r, p := checkFS(cfg, deps, dbs, dbErr == nil)
		fsRes, fsParts = &r, p
	}

	var parts []part
	if dbErr != nil {
		st, msg := deps.Problem(dbErr)
		parts = append(parts, part{status: st, text: msg})
		top.Status = st
	} else {
		agg, totals := judgeDBs(cfg, dbs)
		top.Status = agg.Status
		top.Perf = totals
		top.Subs = agg.Subs
		top.Long = agg.Long
		p := part{status: agg.Status, text: agg.Summary}
		if agg.Status == nagios.OK {
			p.long = "databases: " + agg.Summary
		}
		parts = append(parts, p)
	}
	if fsRes != nil {
		top.Status = nagios.Worse(top.Status, fsRes.Status)
		top.Perf = append(top.Perf, fsRes.Perf...)
		parts = append(parts, fsParts...)
		top.Long = append(fsRes.Long, top.Long...)
	}
	top.Summary = joinParts(parts)
	if top.Status != nagios.OK {
		// Line 1 says what is wrong, once; what is fine is in the long
		// output (the free space in the data directory's line, the
		// databases one per line), not beside it.
		var bad []part
		for _, p := range parts {
			if p.status != nagios.OK {
				bad = append(bad, p)
			} else if p.long != "" {
				top.Long = append(top.Long, p.long)
			}
		}
		top.Summary = joinParts(bad)
	}
	return top
}

// fetch lists the databases and reads their info.
//
// The answer to _all_dbs names a server without POST /_dbs_info
// (pouchdb-server, CouchDB before 2.2: see couch.Client.AllDBs), and
// DBsInfo then goes straight to GET /{db} instead of asking first and
// being refused: one round trip fewer there. GET / would tell the version
// too, but asked together with _all_dbs it is one more request on every
// server, and 3.x answers it slowly when its search node is unreachable.
func fetch(ctx context.Context, cfg Config, deps Deps) (*dbSet, error) {
	deps.Step("GET %s/_all_dbs", cfg.URL)
	all, err := deps.Couch.AllDBs(ctx)
	if err != nil {
		return nil, err
	}
	names, missing := selectDBs(all, cfg.Include, cfg.Exclude)
	set := &dbSet{onServer: len(all), missing: missing}
	if len(names) == 0 {
		return set, nil
	}
	deps.Step("POST %s/_dbs_info (or GET /{db}) for %d databases", cfg.URL, len(names))
	rows, err := deps.Couch.DBsInfo(ctx, names)
	if err != nil {
		return nil, err
	}
	set.stats = make([]dbStat, 0, len(rows))
	anyActive := false
	for _, r := range rows {
		if r.Info == nil {
			// Deleted between _all_dbs and its info: not a problem of
			// the node, just a race with a client.
			set.vanished = append(set.vanished, r.Key)
			continue
		}
		d := statOf(r.Key, r.Info)
		anyActive = anyActive || d.active >= 0
		set.stats = append(set.stats, d)
	}
	if anyActive {
		// The decoded info cannot tell data_size 0 (an empty 1.x
		// database) from no data_size; a server that reports it for
		// one database reports it for all.
		for i := range set.stats {
			set.stats[i].active = max(set.stats[i].active, 0)
		}
	}
	return set, nil
}

type dbSet struct {
	onServer int
	stats    []dbStat
	missing  []string // named without a glob and not on the server
	vanished []string
}

// largest is the database whose compaction would need the most space.
func (s *dbSet) largest() (dbStat, bool) {
	if s == nil || len(s.stats) == 0 {
		return dbStat{}, false
	}
	return slices.MaxFunc(s.stats, func(a, b dbStat) int { return cmp.Compare(a.need(), b.need()) }), true
}

func isGlob(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// selectDBs applies the include and exclude patterns to the server's
// databases, keeping their order; missing are the included literal names
// the server does not have.
func selectDBs(all, include, exclude []string) (names, missing []string) {
	match := func(patterns []string, name string) bool {
		for _, p := range patterns {
			if ok, _ := path.Match(p, name); ok {
				return true
			}
		}
		return false
	}
	for _, n := range all {
		if (len(include) == 0 || match(include, n)) && !match(exclude, n) {
			names = append(names, n)
		}
	}
	for _, p := range include {
		if !isGlob(p) && !slices.Contains(all, p) && !match(exclude, p) {
			missing = append(missing, p)
		}
	}
	return names, missing
}

// judgeDBs gives one sub-result per database (the worst cfg.MaxListed of
// them kept) and the totals.
func judgeDBs(cfg Config, set *dbSet) (nagios.Result, []nagios.Perf) {
	type judged struct {
		r     nagios.Result
		slack int64
	}
	all := make([]judged, 0, len(set.stats)+len(set.missing))
	for _, name := range set.missing {
		r := nagios.Result{Name: name, Status: nagios.CRITICAL, Summary: "not found on the server"}
		if cfg.PerDBMetrics {
			r.Measurement, r.Tags = MeasurementDatabase, map[string]string{"url": cfg.URL, "db": name}
		}
		all = append(all, judged{r: r})
	}
	var (
		file, active, external, slack, measuredFile int64
		compacting, unmeasured                      int
		allExternal                                 = true
	)
	for _, d := range set.stats {
		all = append(all, judged{judgeDB(cfg, d), d.slack()})
		file += d.file
		if d.active >= 0 {
			active += d.active
			slack += d.slack()
			measuredFile += d.file
		} else {
			unmeasured++
		}
		if d.external >= 0 {
			external += d.external
		} else {
			allExternal = false
		}
		if d.compacting {
			compacting++
		}
	}
	// Worst first; among equals the most reclaimable, then by name, so
	// that the list and the names in the summary are the same every run.
	slices.SortStableFunc(all, func(a, b judged) int {
		if c := cmp.Compare(severity(b.r.Status), severity(a.r.Status)); c != 0 {
			return c
		}
		if c := cmp.Compare(b.slack, a.slack); c != 0 {
			return c
		}
		return cmp.Compare(a.r.Name, b.r.Name)
	})
	subs := make([]nagios.Result, len(all))
	for i, j := range all {
		subs[i] = j.r
	}
	agg := nagios.Aggregate("databases", subs)
	switch {
	case len(subs) == 0 && len(cfg.Include) > 0:
		agg.Summary = fmt.Sprintf("no database matches --db %s (%d on the server)", strings.Join(cfg.Include, " "), set.onServer)
	case len(subs) == 0 && set.onServer > 0:
		agg.Summary = fmt.Sprintf("all %d databases excluded by --exclude", set.onServer)
	case len(subs) == 0:
		agg.Summary = "the server has no databases"
	case len(subs) == 1 && agg.Status != nagios.OK:
		// "1 of 1 databases failing:" says nothing the name does not.
		agg.Summary = subs[0].Name + " " + subs[0].Summary
	case agg.Status == nagios.OK:
		noun := "databases"
		if len(set.stats) == 1 {
			noun = "database"
		}
		agg.Summary = fmt.Sprintf("%d %s, %s on disk", len(set.stats), noun, couch.FormatBytes(file))
		if measuredFile > 0 {
			agg.Summary += fmt.Sprintf(", %s reclaimable", couch.FormatBytes(slack))
		}
	}

	limit := cfg.MaxListed
	if limit <= 0 {
		limit = DefaultMaxListed
	}
	if !cfg.PerDBMetrics && len(agg.Subs) > limit {
		cut := agg.Subs[limit:]
		counts := map[nagios.Status]int{}
		for _, s := range cut {
			counts[s.Status]++
		}
		var by []string
		for _, st := range []nagios.Status{nagios.CRITICAL, nagios.WARNING, nagios.UNKNOWN, nagios.OK} {
			if counts[st] > 0 {
				by = append(by, fmt.Sprintf("%d %s", counts[st], st))
			}
		}
		agg.Subs = slices.Clip(agg.Subs[:limit])
		agg.Long = append(agg.Long, fmt.Sprintf("%d more databases not listed: %s (the worst %d are, most reclaimable first; --max-listed)",
			len(cut), strings.Join(by, ", "), limit))
	}
	if unmeasured > 0 {
		agg.Long = append(agg.Long, fmt.Sprintf("fragmentation and slack not measurable for %d of %d databases: the server reports only the file size, no active (data) size (pouchdb-server, CouchDB before 1.2)",
			unmeasured, len(set.stats)))
	}
	if len(set.vanished) > 0 {
		agg.Long = append(agg.Long, fmt.Sprintf("%d databases deleted while the check ran: %s", len(set.vanished), strings.Join(first(set.vanished, 5), ", ")))
	}

	b := func(label, field string, v int64, known bool) nagios.Perf {
		return nagios.Perf{Label: label, Field: field, Value: float64(v), Unknown: !known, UOM: "B", Integer: true}
	}
	fragTotal := nagios.Perf{Label: "fragmentation", Field: "fragmentation_pct", UOM: "%", Unknown: measuredFile == 0}
	if measuredFile > 0 {
		fragTotal.Value = round1(float64(slack) * 100 / float64(measuredFile))
	}
	totals := []nagios.Perf{
		{Label: "databases", Field: "databases", Value: float64(len(set.stats)), Integer: true},
		b("file", "file_bytes", file, true),
		b("active", "active_bytes", active, measuredFile > 0),
		b("external", "external_bytes", external, allExternal && len(set.stats) > 0),
		b("slack", "slack_bytes", slack, measuredFile > 0),
		fragTotal,
		{Label: "compacting", Field: "compacting", Value: float64(compacting), Integer: true},
	}
	largest, ok := set.largest()
	totals = append(totals, b("largest_need", "largest_need_bytes", largest.need(), ok))
	return agg, totals
}

// judgeDB is the sub-result of one database.
func judgeDB(cfg Config, d dbStat) nagios.Result {
	r := nagios.Result{Name: d.name, Status: nagios.OK}
	frag, measurable := d.fragmentation()
	small := d.file < cfg.MinSize
	var sum strings.Builder
	if measurable {
		// The share and the bytes it is: one fact, the size of the file
		// in the perfdata (--db-metrics) and the totals.
		fmt.Fprintf(&sum, "%s%% fragmented (%s reclaimable)", pct(frag), couch.FormatBytes(d.slack()))
	} else {
		fmt.Fprintf(&sum, "%s on disk, fragmentation unknown (no active size)", couch.FormatBytes(d.file))
	}
	if d.compacting {
		sum.WriteString(", compaction running")
	}
	verdict := nagios.Worse(cfg.Fragmentation.Status(frag), cfg.Slack.Status(float64(d.slack())))
	switch {
	case !measurable:
	case small:
		if verdict != nagios.OK {
			fmt.Fprintf(&sum, " (below --min-size %s: not alerted on)", couch.FormatBytes(cfg.MinSize))
		}
	default:
		r.Status = verdict
	}
	r.Summary = sum.String()

	if cfg.PerDBMetrics {
		r.Measurement, r.Tags = MeasurementDatabase, map[string]string{"url": cfg.URL, "db": d.name}
		lbl := func(s string) string { return d.name + " " + s }
		fragPerf := nagios.Perf{Label: lbl("fragmentation"), Field: "fragmentation_pct", Value: round1(frag), Unknown: !measurable, UOM: "%"}
		slackPerf := nagios.Perf{Label: lbl("slack"), Field: "slack_bytes", Value: float64(d.slack()), Unknown: !measurable, UOM: "B", Integer: true}
		if !small {
			fragPerf = cfg.Fragmentation.Apply(fragPerf)
			slackPerf = cfg.Slack.Apply(slackPerf)
		}
		r.Perf = []nagios.Perf{
			{Label: lbl("file"), Field: "file_bytes", Value: float64(d.file), UOM: "B", Integer: true},
			{Label: lbl("active"), Field: "active_bytes", Value: float64(d.active), Unknown: d.active < 0, UOM: "B", Integer: true},
			{Label: lbl("external"), Field: "external_bytes", Value: float64(d.external), Unknown: d.external < 0, UOM: "B", Integer: true},
			slackPerf, fragPerf,
			{Label: lbl("compacting"), Field: "compacting", Value: b2f(d.compacting), Integer: true},
		}
	}
	return r
}

// checkFS judges the filesystem of the data directory and the compaction
// headroom: a Result with the state, perfdata and long lines, and the
// summary parts (free space, headroom). dbsKnown is false when the
// databases could not be read: the headroom is then unknown but the free
// space is still worth reporting, since a full disk may be why CouchDB
// fails.
func checkFS(cfg Config, deps Deps, dbs *dbSet, dbsKnown bool) (nagios.Result, []part) {
	r := nagios.Result{Name: cfg.DataDir, Status: nagios.OK}
	deps.Step("statfs %s", cfg.DataDir)
	fs, err := deps.Statfs(cfg.DataDir)
	if err != nil {
		r.Status = nagios.UNKNOWN
		r.Summary = fmt.Sprintf("--data-dir: %v", err)
		if errors.Is(err, os.ErrPermission) {
			// A source install leaves the data directory 0770 couchdb:couchdb
			// (Apache's instructions); NRPE runs the check as nagios.
			r.Summary += ": this user may not reach the data directory"
			r.Long = append(r.Long, "Give the user that runs the check (nagios under NRPE) access: add it to CouchDB's group "+
				"(usermod -aG couchdb nagios, then systemctl restart nagios-nrpe-server), "+
				"or point --data-dir at any directory on the same filesystem that it can reach (its mount point).")
		}
		for _, l := range [][2]string{{"free", "fs_free_bytes"}, {"free_pct", "fs_free_pct"}, {"inodes_free_pct", "fs_inodes_free_pct"}, {"headroom", "compaction_headroom_bytes"}} {
			r.Perf = append(r.Perf, nagios.Perf{Label: l[0], Field: l[1], Unknown: true})
		}
		return r, []part{{status: r.Status, text: r.Summary}}
	}
	freePct := 0.0
	if fs.Used+fs.Avail > 0 {
		// As df computes Use%: reserved blocks count neither as used nor
		// as available.
		freePct = float64(fs.Avail) * 100 / float64(fs.Used+fs.Avail)
	}
	inodesKnown := fs.Inodes > 0
	inodesPct := 0.0
	if inodesKnown {
		inodesPct = float64(fs.FreeInodes) * 100 / float64(fs.Inodes)
	}
	zero, size := 0.0, float64(fs.Size)
	hundred := 100.0
	r.Perf = []nagios.Perf{
		cfg.FreeBytes.Apply(nagios.Perf{Label: "free", Field: "fs_free_bytes", Value: float64(fs.Avail), UOM: "B", Integer: true, Min: &zero, Max: &size}),
		cfg.Free.Apply(nagios.Perf{Label: "free_pct", Field: "fs_free_pct", Value: round1(freePct), UOM: "%", Min: &zero, Max: &hundred}),
		cfg.FreeInodes.Apply(nagios.Perf{Label: "inodes_free_pct", Field: "fs_inodes_free_pct", Value: round1(inodesPct), Unknown: !inodesKnown, UOM: "%", Min: &zero, Max: &hundred}),
	}
	// Line 1 gives the free space in percent (the figure of the default
	// thresholds); the long output has the bytes and the inodes.
	st := cfg.Free.Status(freePct)
	st = nagios.Worse(st, cfg.FreeBytes.Status(float64(fs.Avail)))
	fsParts := []part{{status: st, text: pct(freePct) + "% free"}}
	detail := fmt.Sprintf("%s: %s%% free (%s of %s)", cfg.DataDir, pct(freePct), couch.FormatBytes(int64(fs.Avail)), couch.FormatBytes(int64(fs.Size)))
	if inodesKnown {
		ist := cfg.FreeInodes.Status(inodesPct)
		detail += fmt.Sprintf(", inodes %s%% free", pct(inodesPct))
		if ist != nagios.OK {
			fsParts = append(fsParts, part{status: ist, text: fmt.Sprintf("inodes %s%% free", pct(inodesPct))})
		}
		st = nagios.Worse(st, ist)
	}
	if st != nagios.OK && fsParts[0].status == nagios.OK {
		fsParts = fsParts[1:] // the inodes alone are the problem
	}
	r.Long = append(r.Long, detail)
	parts := []part{{status: st, text: cfg.DataDir + " " + joinPartsWith(fsParts, ", ")}}

	headroom := nagios.Perf{Label: "headroom", Field: "compaction_headroom_bytes", UOM: "B", Integer: true, Unknown: true}
	if largest, ok := dbs.largest(); ok && dbsKnown {
		left := fs.Headroom(largest.need())
		headroom.Value, headroom.Unknown = float64(left), false
		headroom = cfg.Headroom.Apply(headroom)
		hst := cfg.Headroom.Status(float64(left))
		var msg string
		if left < 0 {
			hst = nagios.CRITICAL
			msg = fmt.Sprintf("largest database %s could not be compacted (needs up to %s, %s free)", largest.name, couch.FormatBytes(largest.need()), couch.FormatBytes(int64(fs.Avail)))
		} else {
			msg = fmt.Sprintf("%s left after compacting the largest database %s", couch.FormatBytes(left), largest.name)
		}
		r.Long = append(r.Long, fmt.Sprintf("compaction headroom: compacting the largest database %s needs up to %s, %s free", largest.name, couch.FormatBytes(largest.need()), couch.FormatBytes(int64(fs.Avail))))
		if hst != nagios.OK {
			// Before the free space: when both are bad, this is the news.
			parts = append([]part{{status: hst, text: msg}}, parts...)
		}
		st = nagios.Worse(st, hst)
	} else if dbsKnown {
		r.Long = append(r.Long, "compaction headroom: no database to compact")
	}
	r.Perf = append(r.Perf, headroom)
	r.Status = st
	r.Summary = joinParts(parts)
	return r, parts
}

// part is a piece of a summary with the state it speaks for; the worst
// pieces come first, so that line 1 starts with the problem.
type part struct {
	status nagios.Status
	text   string
	long   string // for the long output when the part is OK and line 1 leaves it out; "" when another line says it
}

func joinParts(parts []part) string { return joinPartsWith(parts, "; ") }

func joinPartsWith(parts []part, sep string) string {
	slices.SortStableFunc(parts, func(a, b part) int { return cmp.Compare(severity(b.status), severity(a.status)) })
	texts := make([]string, 0, len(parts))
	for _, p := range parts {
		if p.text != "" {
			texts = append(texts, p.text)
		}
	}
	return strings.Join(texts, sep)
}

// severity orders states for sorting as nagios.Worse does.
func severity(s nagios.Status) int {
	switch s {
	case nagios.CRITICAL:
		return 3
	case nagios.WARNING:
		return 2
	case nagios.OK:
		return 0
	}
	return 1
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

func pct(v float64) string {
	if v >= 10 || v == 0 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(slices.Clip(s[:n]), fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}
