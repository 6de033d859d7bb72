package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2/files"
)

// Release is one section of CHANGELOG.md.
type Release struct {
	Version string
	Date    time.Time
	Notes   []string
}

// ParseChangelog reads CHANGELOG.md: "## VERSION - YYYY-MM-DD" sections
// (or "## Unreleased", which becomes version at date), each "- " item one
// note, continued on indented lines. Text before the first section is the
// file's preamble.
func ParseChangelog(md []byte, version string, date time.Time) ([]Release, error) {
	var out []Release
	sc := bufio.NewScanner(bytes.NewReader(md))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), " \t")
		switch {
		case strings.HasPrefix(line, "## "):
			head := strings.TrimSpace(strings.TrimPrefix(line, "## "))
			r := Release{Version: version, Date: date}
			if !strings.EqualFold(head, "unreleased") {
				v, d, ok := strings.Cut(head, " - ")
				if !ok {
					return nil, fmt.Errorf("line %d: %q: want \"## VERSION - YYYY-MM-DD\" or \"## Unreleased\"", n, line)
				}
				t, err := time.Parse("2006-01-02", strings.TrimSpace(d))
				if err != nil {
					return nil, fmt.Errorf("line %d: date %q: want YYYY-MM-DD", n, d)
				}
				r.Version, r.Date = strings.TrimPrefix(strings.TrimSpace(v), "v"), t
			}
			out = append(out, r)
		case len(out) == 0 || line == "":
		case strings.HasPrefix(line, "- "):
			out[len(out)-1].Notes = append(out[len(out)-1].Notes, strings.TrimPrefix(line, "- "))
		case strings.HasPrefix(line, "  "):
			r := &out[len(out)-1]
			if len(r.Notes) == 0 {
				return nil, fmt.Errorf("line %d: continuation line before any \"- \" item", n)
			}
			r.Notes[len(r.Notes)-1] += " " + strings.TrimSpace(line)
		default:
			return nil, fmt.Errorf("line %d: %q: want a \"- \" item or its indented continuation", n, line)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no \"## \" section")
	}
	for _, r := range out {
		if len(r.Notes) == 0 {
			return nil, fmt.Errorf("section %s has no \"- \" item", r.Version)
		}
	}
	return out, nil
}

// writeChglog writes releases in goreleaser/chglog's format (the file nfpm
// turns into changelog.Debian.gz and the RPM's %changelog). JSON is YAML.
func writeChglog(path string, releases []Release, packager, release string) error {
	type change struct {
		Commit string `json:"commit"`
		Note   string `json:"note"`
	}
	type deb struct {
		Urgency       string   `json:"urgency"`
		Distributions []string `json:"distributions"`
	}
	type entry struct {
		Semver   string    `json:"semver"`
		Date     time.Time `json:"date"`
		Packager string    `json:"packager"`
		Deb      deb       `json:"deb"`
		Changes  []change  `json:"changes"`
	}
	var es []entry
	for _, r := range releases {
		e := entry{Semver: r.Version + "-" + release, Date: r.Date.UTC(), Packager: packager, Deb: deb{Urgency: "medium", Distributions: []string{"unstable"}}}
		for _, n := range r.Notes {
			e.Changes = append(e.Changes, change{Note: n})
		}
		es = append(es, e)
	}
	b, err := json.Marshal(es)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// DebianChangelog renders releases as a Debian changelog (deb-changelog(5)),
// notes wrapped at 80 columns.
func DebianChangelog(name, maintainer, release string, releases []Release) []byte {
	var b bytes.Buffer
	for i, r := range releases {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s (%s-%s) unstable; urgency=medium\n\n", name, r.Version, release)
		for _, n := range r.Notes {
			for j, l := range wrapWords(n, 80-4) {
				if j == 0 {
					fmt.Fprintf(&b, "  * %s\n", l)
				} else {
					fmt.Fprintf(&b, "    %s\n", l)
				}
			}
		}
		fmt.Fprintf(&b, "\n -- %s  %s\n", maintainer, r.Date.UTC().Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	}
	return b.Bytes()
}

// wrapWords splits s into lines of at most width columns, breaking between
// words only (a longer word gets a line of its own).
func wrapWords(s string, width int) []string {
	var out []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			out = append(out, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(out, line)
}

// changelogDate is the date of the release being built: SOURCE_DATE_EPOCH,
// else the last commit's, else now.
func changelogDate() time.Time {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		if out, err := exec.Command("git", "log", "-1", "--format=%ct").Output(); err == nil {
			s = strings.TrimSpace(string(out))
		}
	}
	if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(sec, 0).UTC()
	}
	return time.Now().UTC()
}

// markRPMDocs marks what goes under /usr/share/doc and /usr/share/man as
// %doc (rpm -qd lists them; --excludedocs leaves them out). nfpm does not
// expand globs in doc entries: they are expanded here.
func markRPMDocs(cs files.Contents) (files.Contents, error) {
	var out files.Contents
	for _, c := range cs {
		if c.Type != "" || !(strings.HasPrefix(c.Destination, "/usr/share/doc/") || strings.HasPrefix(c.Destination, "/usr/share/man/")) {
			out = append(out, c)
			continue
		}
		srcs := []string{c.Source}
		if strings.ContainsAny(c.Source, "*?[") {
			var err error
			if srcs, err = filepath.Glob(c.Source); err != nil || len(srcs) == 0 {
				return nil, fmt.Errorf("%s: no file matches (%v)", c.Source, err)
			}
		}
		for _, src := range srcs {
			d := *c
			d.Source, d.Type = src, files.TypeRPMDoc
			if strings.HasSuffix(c.Destination, "/") {
				d.Destination = c.Destination + filepath.Base(src)
			}
			out = append(out, &d)
		}
	}
	return out, nil
}
