package promotion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/fsstat"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/replication"
)

// Nodes are the two sides of a comparison.
type Nodes struct {
	Primary *couch.Client
	Replica *couch.Client
	// Step, if set, is told what the comparison waits for (plugin.Env.Step).
	Step func(format string, args ...any)
}

func (n Nodes) step(format string, args ...any) {
	if n.Step != nil {
		n.Step(format, args...)
	}
}

// Compare reads both nodes and reports what stands between the replica and
// the primary's role. The error is a *nagios.Problem when the primary
// cannot be read at all: without it there is nothing to compare with. A
// replica that cannot be read is a finding (it could not take over).
func Compare(ctx context.Context, n Nodes, cfg Config) (Report, error) {
	if cfg.ProbeDB == "" {
		cfg.ProbeDB = DefaultProbeDB
	}
	rep := Report{Primary: n.Primary.URL(), Replica: n.Replica.URL(), cfg: cfg}
	n.step("GET %s/_all_dbs", n.Primary.URL())
	all, err := n.Primary.AllDBs(ctx)
	if err != nil {
		return rep, err
	}
	names, missingOnPrimary := cfg.Select(all)
	for _, m := range missingOnPrimary {
		rep.Notes = append(rep.Notes, "database "+m+" (--db) is not on the primary")
	}

	var pInfo, rInfo []couch.DBsInfoRow
	var pErr, rErr error
	var wg sync.WaitGroup
	n.step("database infos of %d databases on both nodes", len(names))
	wg.Go(func() { pInfo, pErr = n.Primary.DBsInfo(ctx, names) })
	wg.Go(func() { rInfo, rErr = n.Replica.DBsInfo(ctx, names) })
	wg.Wait()
	if pErr != nil {
		return rep, pErr
	}
	if rErr != nil {
		p := nagios.AsProblem(rErr)
		rep.Findings = append(rep.Findings, Finding{Class: ClassUnreachable, Status: nagios.CRITICAL, Detail: p.Msg})
		return rep, nil
	}
	rep.DBs = make([]DB, len(names))
	present := []int{}
	for i, name := range names {
		d := DB{Name: name}
		pi, ri := pInfo[i].Info, rInfo[i].Info
		d.OnReplica = ri != nil && rInfo[i].Error == ""
		if !d.OnReplica {
			rep.Findings = append(rep.Findings, Finding{Class: ClassMissing, Status: nagios.CRITICAL, Object: name, Detail: name + " is not on the replica"})
		} else {
			present = append(present, i)
			if pi != nil {
				d.DocDiff = (pi.DocCount + pi.DocDelCount) - (ri.DocCount + ri.DocDelCount)
				d.DocDiffKnown = true
			}
		}
		rep.DBs[i] = d
	}

	// Replications, design documents and _security, the write probe and
	// the admins are independent: read them at once.
	var mu sync.Mutex
	add := func(f ...Finding) { mu.Lock(); rep.Findings = append(rep.Findings, f...); mu.Unlock() }
	notChecked := func(what string) { mu.Lock(); rep.NotChecked = append(rep.NotChecked, what); mu.Unlock() }
	note := func(s string) { mu.Lock(); rep.Notes = append(rep.Notes, s); mu.Unlock() }
	var wg2 sync.WaitGroup
	wg2.Go(func() { feeds(ctx, n, cfg, &rep, pInfo, present, add, notChecked, note, &mu) })
	wg2.Go(func() { compareDesign(ctx, n, &rep, present, add, notChecked) })
	wg2.Go(func() { compareSecurity(ctx, n, &rep, present, add, notChecked) })
	if cfg.WriteProbe {
		wg2.Go(func() { writeProbe(ctx, n.Replica, cfg, &rep, add, &mu) })
	} else {
		notChecked("write probe (--no-write-probe)")
	}
	wg2.Go(func() { compareAdmins(ctx, n, add, notChecked) })
	wg2.Wait()
	if cfg.DataDir != "" {
		headroom(ctx, n.Replica, cfg, &rep)
	} else {
		rep.NotChecked = append(rep.NotChecked, "disk headroom (no --data-dir)")
	}
	judgeLags(cfg, &rep)
	sort.Strings(rep.NotChecked)
	return rep, nil
}

// feeds finds, for every database on the replica, the running replication
// that pulls it from the primary, and its sequence lag.
func feeds(ctx context.Context, n Nodes, cfg Config, rep *Report, pInfo []couch.DBsInfoRow, present []int,
	add func(...Finding), notChecked func(string), note func(string), mu *sync.Mutex) {
	n.step("GET %s/_scheduler/docs (or _replicator)", n.Replica.URL())
	r, err := replication.AssessWith(ctx, n.Replica, replication.Selection{}, replication.Thresholds{}, replication.Probes{}, time.Now())
	mu.Lock()
	rep.Secrets = append(rep.Secrets, r.Secrets...)
	mu.Unlock()
	if err != nil {
		notChecked("replications: " + nagios.AsProblem(err).Msg)
		return
	}
	hosts := map[string]bool{hostOf(n.Primary.URL()): true}
	for _, a := range cfg.PrimaryAliases {
		hosts[hostOf(a)] = true
	}
	// A pull replication in the replica's _replicator writes into the
	// replica, whatever name its target gives the node (localhost, the
	// public name): only the database name of the target is compared.
	// The source must be the primary (or an alias); a replication of the
	// database from another host is named in the finding, as a hint.
	byDB := map[string]*replication.Replication{}
	others := map[string]string{}
	for i := range r.Replications {
		x := &r.Replications[i]
		src, _ := x.SourceEndpoint()
		if src == "" {
			src = x.Source
		}
		db := dbOf(src)
		if dbOf(x.Target) != db {
			continue
		}
		if !hosts[hostOf(src)] {
			others[db] = hostOf(src)
			continue
		}
		if old := byDB[db]; old == nil || alive(x) {
			byDB[db] = x
		}
	}
	for _, i := range present {
		d := &rep.DBs[i]
		x := byDB[d.Name]
		if x == nil || !alive(x) {
			detail := d.Name + ": no replication from the primary feeds it"
			if h := others[d.Name]; h != "" && x == nil {
				detail += " (one from " + h + " does: --primary-alias if that is the primary)"
			}
			if x != nil {
				detail = d.Name + ": replication " + x.Name() + " is " + x.Summary()
			}
			add(Finding{Class: ClassNoReplication, Status: nagios.CRITICAL, Object: d.Name, Detail: detail})
			continue
		}
		d.Replication = x.Name()
		// through_seq against the primary's update_seq: the numeric
		// prefixes of one source database are comparable (see couch.Seq).
		through := x.ThroughSeq()
		if pInfo[i].Info == nil || through.IsZero() {
			continue
		}
		a, errA := pInfo[i].Info.UpdateSeq.Number()
		b, errB := through.Number()
		if errA == nil && errB == nil {
			d.SeqLag, d.SeqLagKnown = max(a-b, 0), true
		}
		// A clustered update_seq counts _security edits too, which no
		// replication carries (every fence adds two): the changes after
		// through_seq are the real lag.
		if d.SeqLag > 0 && strings.Contains(through.String(), "-") {
			n.step("GET %s/%s/_changes?since=<through_seq>&limit=0", n.Primary.URL(), d.Name)
			if p, ok, err := ChangesPending(ctx, n.Primary, d.Name, through); err == nil && ok {
				d.SeqLag = max(p, 0)
			}
		}
	}
	if !r.Scheduler {
		notChecked("sequence lag (" + r.Server + " gives no through_seq; document counts compared)")
	}
	for _, i := range present {
		d := &rep.DBs[i]
		if x := byDB[d.Name]; x != nil && alive(x) {
			diverged(ctx, n, cfg, d, x, pInfo[i].Info, add, notChecked)
		}
	}
}

// diverged finds a replica that lacks documents its replication will
// never bring: the replication refused some (doc_write_failures: CouchDB
// skips a refused document for good), or it has nothing pending (no
// change after its through_seq on the primary) while the replica has
// fewer documents. Either is CRITICAL, with the missing documents named
// (_revs_diff over the paged feed, a bounded sample and the count): a
// lag says late, this says lost.
func diverged(ctx context.Context, n Nodes, cfg Config, d *DB, x *replication.Replication, pi *couch.DBInfo,
	add func(...Finding), notChecked func(string)) {
	refused := int64(0)
	if x.HasStats {
		refused = x.DocWriteFailures
	}
	why := ""
	switch {
	case refused > 0:
		why = fmt.Sprintf("replication %s: %s refused by the replica (doc_write_failures)", x.Name(), plural(int(refused), "document"))
	case d.DocDiffKnown && d.DocDiff > 0 && pi != nil:
		through := x.ThroughSeq()
		if through.IsZero() {
			return // no sequence: the lag and the count say what is known
		}
		n.step("GET %s/%s/_changes?since=<through_seq>&limit=1", n.Primary.URL(), d.Name)
		after, err := ChangesAfter(ctx, n.Primary, d.Name, through)
		if err != nil {
			notChecked("divergence of " + d.Name + ": " + nagios.AsProblem(err).Msg)
			return
		}
		if after {
			return // changes pending: a lag, judged as one
		}
		why = fmt.Sprintf("replication %s has nothing pending, yet %s behind", x.Name(), plural(int(d.DocDiff), "document"))
	default:
		return
	}
	n.step("_revs_diff of %s, paged over the primary's changes feed", d.Name)
	count, sample, err := MissingSample(ctx, n.Primary, n.Replica, d.Name, maxMissingNames)
	if err != nil {
		add(Finding{Class: ClassDiverged, Status: nagios.CRITICAL, Object: d.Name,
			Detail: d.Name + ": " + why + "; the missing documents could not be listed: " + nagios.AsProblem(err).Msg})
		return
	}
	d.MissingDocs = count
	object := d.Name
	detail := d.Name + ": " + why
	if count > 0 {
		object = fmt.Sprintf("%s: %d missing: %s", d.Name, count, strings.Join(sample[:min(len(sample), 3)], ", "))
		if count > 3 {
			object += ", ..."
		}
		detail += fmt.Sprintf("; %s missing on the replica: %s", plural(count, "document"), strings.Join(sample, ", "))
		if count > len(sample) {
			detail += fmt.Sprintf(" (+%d more)", count-len(sample))
		}
	} else {
		detail += "; none missing now (copied since?): recreate the replication document to reset its counter"
	}
	add(Finding{Class: ClassDiverged, Status: nagios.CRITICAL, Object: object, Detail: detail})
}

// maxMissingNames bounds the missing documents a check names.
const maxMissingNames = 20

// alive is a replication that keeps its target fresh.
func alive(x *replication.Replication) bool {
	return (x.State == replication.Running || x.State == replication.Triggered) && x.Status != nagios.CRITICAL
}

// judgeLags turns the lags into findings with the thresholds.
func judgeLags(cfg Config, rep *Report) {
	for _, d := range rep.DBs {
		if d.SeqLagKnown {
			if st := cfg.Lag.Status(float64(d.SeqLag)); st != nagios.OK {
				rep.Findings = append(rep.Findings, Finding{Class: ClassBehind, Status: st, Object: d.Name, Detail: fmt.Sprintf("%s: %d changes behind", d.Name, d.SeqLag)})
			}
		}
		if d.DocDiffKnown && d.DocDiff != 0 {
			st := cfg.DocDiff.Status(float64(max(d.DocDiff, 0)))
			detail := fmt.Sprintf("%s: %s behind (doc_count + doc_del_count)", d.Name, plural(int(d.DocDiff), "document"))
			if d.DocDiff < 0 {
				// More on the replica than on the primary: written
				// there directly, which a promotion would keep and
				// the primary never had.
				st = nagios.WARNING
				detail = fmt.Sprintf("%s: %s more on the replica than on the primary", d.Name, plural(int(-d.DocDiff), "document"))
			}
			if st != nagios.OK {
				rep.Findings = append(rep.Findings, Finding{Class: ClassDocDiff, Status: st, Object: d.Name, Detail: detail})
			}
		}
	}
}

// designDocs is id -> rev of a database's design documents.
func designDocs(ctx context.Context, c *couch.Client, db string) (map[string]string, error) {
	start := time.Now()
	rows := c.Kivik().DB(db).AllDocs(ctx, kivik.Params(map[string]any{"startkey": "_design/", "endkey": "_design0"}))
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		id, err := rows.ID()
		if err != nil {
			return nil, c.Problem(http.MethodGet, "/"+url.PathEscape(db)+"/_all_docs", start, err)
		}
		var v struct {
			Rev string `json:"rev"`
		}
		if err := rows.ScanValue(&v); err != nil {
			return nil, c.Problem(http.MethodGet, "/"+url.PathEscape(db)+"/_all_docs", start, err)
		}
		out[id] = v.Rev
	}
	if err := rows.Err(); err != nil {
		return nil, c.Problem(http.MethodGet, "/"+url.PathEscape(db)+"/_all_docs", start, err)
	}
	return out, nil
}

func compareDesign(ctx context.Context, n Nodes, rep *Report, present []int, add func(...Finding), notChecked func(string)) {
	type pair struct{ p, r map[string]string }
	got := make([]pair, len(present))
	n.step("design documents of %d databases on both nodes", len(present))
	err := n.Replica.ForEach(ctx, len(present), func(ctx context.Context, k int) error {
		db := rep.DBs[present[k]].Name
		p, err := designDocs(ctx, n.Primary, db)
		if err != nil {
			return err
		}
		r, err := designDocs(ctx, n.Replica, db)
		got[k] = pair{p, r}
		return err
	})
	if err != nil {
		notChecked("design documents: " + nagios.AsProblem(err).Msg)
		return
	}
	for k, g := range got {
		db := rep.DBs[present[k]].Name
		var differ []string
		for id, rev := range g.p {
			if id == FenceID {
				continue // the primary's own fence is the promotion's doing
			}
			if g.r[id] != rev {
				differ = append(differ, id)
			}
		}
		for id := range g.r {
			if _, ok := g.p[id]; !ok && id != FenceID {
				differ = append(differ, id)
			}
		}
		if len(differ) > 0 {
			sort.Strings(differ)
			add(Finding{Class: ClassDesign, Status: nagios.CRITICAL, Object: db, Detail: db + ": design documents differ (" + strings.Join(differ, ", ") + ")"})
		}
	}
}

// security is the part of a _security object that grants access, names
// and roles sorted, and whether it carries the fence marker. kivik's
// Security keeps admins and members only: the object is read whole.
func security(ctx context.Context, c *couch.Client, db string) (*kivik.Security, bool, error) {
	raw, err := Security(ctx, c, db)
	if err != nil {
		return nil, false, err
	}
	_, fenced := raw[FenceMarker]
	b, _ := json.Marshal(raw)
	s := &kivik.Security{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, false, fmt.Errorf("GET %s/%s/_security: not a _security object: %v", c.URL(), db, err)
	}
	for _, m := range []*kivik.Members{&s.Admins, &s.Members} {
		sort.Strings(m.Names)
		sort.Strings(m.Roles)
		if len(m.Names) == 0 {
			m.Names = nil
		}
		if len(m.Roles) == 0 {
			m.Roles = nil
		}
	}
	return s, fenced, nil
}

func compareSecurity(ctx context.Context, n Nodes, rep *Report, present []int, add func(...Finding), notChecked func(string)) {
	type pair struct {
		p, r   *kivik.Security
		fenced bool
	}
	got := make([]pair, len(present))
	n.step("_security of %d databases on both nodes", len(present))
	err := n.Replica.ForEach(ctx, len(present), func(ctx context.Context, k int) error {
		db := rep.DBs[present[k]].Name
		p, _, err := security(ctx, n.Primary, db)
		if err != nil {
			return err
		}
		r, fenced, err := security(ctx, n.Replica, db)
		got[k] = pair{p, r, fenced}
		return err
	})
	if err != nil {
		notChecked("_security: " + nagios.AsProblem(err).Msg)
		return
	}
	for k, g := range got {
		if g.fenced {
			db := rep.DBs[present[k]].Name
			add(Finding{Class: ClassFenced, Status: nagios.CRITICAL, Object: db, Detail: db + ": the replica's _security carries the fence marker " + FenceMarker + ": it refuses every write, replicated ones included"})
		}
		if !reflect.DeepEqual(g.p, g.r) {
			db := rep.DBs[present[k]].Name
			add(Finding{Class: ClassSecurity, Status: nagios.CRITICAL, Object: db, Detail: db + ": _security differs (" + describeSecurity(g.p) + " on the primary, " + describeSecurity(g.r) + " on the replica)"})
		}
	}
}

func describeSecurity(s *kivik.Security) string {
	return fmt.Sprintf("admins %d names %d roles, members %d names %d roles", len(s.Admins.Names), len(s.Admins.Roles), len(s.Members.Names), len(s.Members.Roles))
}

// Admins are the server admins' names of a node: /_node/_local/_config/admins
// (2.x+) or /_config/admins (1.x, PouchDB Server). The password hashes are
// never kept.
func Admins(ctx context.Context, c *couch.Client) ([]string, error) {
	start := time.Now()
	sec, err := c.Kivik().ConfigSection(ctx, "_local", "admins")
	if err != nil {
		if code := kivik.HTTPStatus(err); code != http.StatusNotFound && code != http.StatusBadRequest {
			return nil, c.Problem(http.MethodGet, "/_node/_local/_config/admins", start, err)
		}
		var m map[string]json.RawMessage
		if err := c.GetJSON(ctx, "/_config/admins", nil, &m); err != nil {
			return nil, err
		}
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		return names, nil
	}
	names := make([]string, 0, len(sec))
	for k := range sec {
		names = append(names, k)
	}
	sort.Strings(names)
	return names, nil
}

func compareAdmins(ctx context.Context, n Nodes, add func(...Finding), notChecked func(string)) {
	var p, r []string
	var pe, re error
	var wg sync.WaitGroup
	wg.Go(func() { p, pe = Admins(ctx, n.Primary) })
	wg.Go(func() { r, re = Admins(ctx, n.Replica) })
	wg.Wait()
	if err := errors.Join(pe, re); err != nil {
		notChecked("server admins: " + nagios.AsProblem(firstErr(pe, re)).Msg)
		return
	}
	if slices.Equal(p, r) {
		return
	}
	var only []string
	for _, x := range p {
		if !slices.Contains(r, x) {
			only = append(only, x)
		}
	}
	detail := fmt.Sprintf("server admins differ: %d on the primary, %d on the replica", len(p), len(r))
	if len(only) > 0 {
		detail += "; not on the replica: " + strings.Join(only, ", ")
	}
	add(Finding{Class: ClassAdmins, Status: nagios.WARNING, Detail: detail})
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// probeAttempts bounds the writes of the probe document when another run
// on the host writes the same id at the same moment (409).
const probeAttempts = 4

// writeProbe writes a document to the probe database of the replica and
// deletes it: a replica that refuses writes (read-only, full disk, a fence)
// cannot be a primary. The id is one per checking host (Config.ProbeID),
// so the database keeps one document's history, not a tombstone per run:
// a write that conflicts with another run's (Nagios and Telegraf on one
// host) or with a run killed between write and delete is read again and
// retried, as the heartbeat is, and the database is created only when the
// write says it is missing. A delete that conflicts means another run
// wrote since; this run's write already succeeded.
func writeProbe(ctx context.Context, c *couch.Client, cfg Config, rep *Report, add func(...Finding), mu *sync.Mutex) {
	id := cfg.ProbeID
	if id == "" {
		id = "promotion-probe"
	}
	start := time.Now()
	path := "/" + url.PathEscape(cfg.ProbeDB)
	docPath := path + "/" + url.PathEscape(id)
	fail := func(what string, err error) {
		// A refused password says nothing about the replica's writes.
		st := nagios.CRITICAL
		if kivik.HTTPStatus(err) == http.StatusUnauthorized {
			st = nagios.UNKNOWN
		}
		add(Finding{Class: ClassWrite, Status: st, Detail: "write probe: " + what + ": " + nagios.AsProblem(err).Msg})
	}
	kv := c.Kivik()
	db := kv.DB(cfg.ProbeDB)
	doc := map[string]any{"probe": "check_couch_promotion", "at": time.Now().UTC().Format(time.RFC3339Nano)}
	var rev string
	var err error
	for attempt := 0; attempt < probeAttempts; attempt++ {
		rev, err = db.Put(ctx, id, doc)
		switch kivik.HTTPStatus(err) {
		case http.StatusNotFound:
			if cerr := kv.CreateDB(ctx, cfg.ProbeDB); cerr != nil && kivik.HTTPStatus(cerr) != http.StatusPreconditionFailed {
				fail("create "+cfg.ProbeDB, c.Problem(http.MethodPut, path, start, cerr))
				return
			}
			continue
		case http.StatusConflict:
			// Read the current revision; one just deleted by the other
			// run is written again without a revision.
			delete(doc, "_rev")
			if r, gerr := db.Get(ctx, id).Rev(); gerr == nil {
				doc["_rev"] = r
			}
			continue
		}
		if droppedConnection(err) {
			// A kept-alive connection the node had closed: written to
			// (broken pipe) or closed before an answer. Seen on real
			// CouchDB 3.4.3 after the probe's first PUT met a missing
			// database: CouchDB answered 404 without reading the body
			// and closed the connection, the next PUT used it. Go's
			// transport retries only idempotent methods; the write is
			// asked again on a new connection.
			continue
		}
		break
	}
	if kivik.HTTPStatus(err) == http.StatusConflict {
		// Still contended by the other runs on this host (seen on real
		// CouchDB 3.4.3 with the stack's Nagios and a test checking the
		// same replica: write, delete, write...): a node that answers
		// 409 has taken the write for the document, and a read-only or
		// fenced one answers 403. Writable; this run's document is
		// theirs to delete.
		ms := float64(time.Since(start).Microseconds()) / 1000
		mu.Lock()
		rep.WriteMillis = &ms
		mu.Unlock()
		return
	}
	if err != nil {
		fail("PUT "+cfg.ProbeDB+"/"+id, c.Problem(http.MethodPut, docPath, start, err))
		return
	}
	if _, err := db.Delete(ctx, id, rev); err != nil && kivik.HTTPStatus(err) != http.StatusConflict {
		fail("DELETE "+cfg.ProbeDB+"/"+id, c.Problem(http.MethodDelete, docPath, start, err))
		return
	}
	ms := float64(time.Since(start).Microseconds()) / 1000
	mu.Lock()
	rep.WriteMillis = &ms
	mu.Unlock()
}

// droppedConnection is an error of a connection the server closed under
// the request, before any answer: the request can be asked again.
func droppedConnection(err error) bool {
	return err != nil && ctxAlive(err) &&
		(errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) ||
			errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF))
}

func ctxAlive(err error) bool {
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// headroom is check_couch_disk's compaction headroom on the replica: the
// free space of the data directory minus what compacting its largest
// database may write.
func headroom(ctx context.Context, c *couch.Client, cfg Config, rep *Report) {
	fs, err := cfg.Statfs(cfg.DataDir)
	if err != nil {
		rep.NotChecked = append(rep.NotChecked, "disk headroom: "+err.Error())
		return
	}
	all, err := c.AllDBs(ctx)
	var rows []couch.DBsInfoRow
	if err == nil {
		rows, err = c.DBsInfo(ctx, all)
	}
	if err != nil {
		rep.NotChecked = append(rep.NotChecked, "disk headroom: "+nagios.AsProblem(err).Msg)
		return
	}
	var largest string
	var need int64
	for _, r := range rows {
		if r.Info == nil {
			continue
		}
		active := int64(-1)
		if r.Info.Sizes != nil || r.Info.DataSize > 0 {
			active = r.Info.ActiveSize()
		}
		if n := fsstat.CompactionNeed(r.Info.FileSize(), active); n > need || largest == "" {
			largest, need = r.Key, n
		}
	}
	left := fs.Headroom(need)
	rep.Headroom = &left
	if left < 0 {
		rep.Findings = append(rep.Findings, Finding{Class: ClassHeadroom, Status: nagios.CRITICAL,
			Detail: fmt.Sprintf("largest database %s could not be compacted on the replica: needs up to %s, %s free in %s", largest, couch.FormatBytes(need), couch.FormatBytes(int64(fs.Avail)), cfg.DataDir)})
	}
}

// hostOf is the host:port of a URL, lower case; "" when it has none.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	h := strings.ToLower(u.Host)
	if u.Port() == "" && h != "" {
		switch u.Scheme {
		case "https":
			h += ":443"
		case "http":
			h += ":80"
		}
	}
	return h
}

// dbOf is the database name of a database URL, unescaped.
func dbOf(raw string) string {
	u, err := url.Parse(strings.TrimSuffix(raw, "/"))
	if err != nil {
		return ""
	}
	p := u.EscapedPath()
	i := strings.LastIndexByte(p, '/')
	name, err := url.PathUnescape(p[i+1:])
	if err != nil {
		return p[i+1:]
	}
	return name
}
