// Command mkpkg builds the registry-checks .deb and .rpm with nfpm (used as a
// library): make package runs it after make build. It writes a man page per
// binary from the binary itself (go-flags, through plugin.ManPageEnv), renders
// the RPM's copies of the files that name the plugin directory, and packages
// packaging/nfpm.yaml plus one entry per binary and man page.
//
//	go run ./packaging/mkpkg -bin build -out dist -version 1.2.3
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager

	"github.com/registry-checks/registry-checks/lib/plugin"
)

// pluginDirs is where each format puts the binaries: Debian's
// monitoring-plugins path, and the RPM distributions' 64-bit library path.
var pluginDirs = map[string]string{
	"deb": "/usr/lib/nagios/plugins",
	"rpm": "/usr/lib64/nagios/plugins",
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mkpkg:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("mkpkg", flag.ContinueOnError)
	bin := fs.String("bin", "build", "folder of the built binaries (make build)")
	out := fs.String("out", "dist", "folder the packages are written to")
	version := fs.String("version", "", "package version (default: git describe)")
	arch := fs.String("arch", runtime.GOARCH, "Go architecture of the binaries")
	config := fs.String("config", "packaging/nfpm.yaml", "nfpm configuration")
	formats := fs.String("formats", "deb,rpm", "packagers to run")
	changes := fs.String("changelog", "CHANGELOG.md", "the changelog the packages' changelogs are made from")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version == "" {
		*version = gitVersion()
	}
	ver := PackageVersion(*version)

	binaries, err := listBinaries(*bin)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	stage, err := os.MkdirTemp("", "registry-checks-pkg-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)

	man := filepath.Join(stage, "man")
	if err := os.MkdirAll(man, 0o755); err != nil {
		return err
	}
	for _, b := range binaries {
		page, err := ManPage(filepath.Join(*bin, b), packageDoc(b))
		if err != nil {
			return err
		}
		if err := writeGzip(filepath.Join(man, b+".1.gz"), page); err != nil {
			return err
		}
	}
	comp := filepath.Join(stage, "completion")
	if err := os.MkdirAll(comp, 0o755); err != nil {
		return err
	}
	for _, b := range binaries {
		if err := os.WriteFile(filepath.Join(comp, b), []byte(BashCompletion(b)), 0o644); err != nil {
			return err
		}
	}
	rpmDir := filepath.Join(stage, "rpm")
	if err := os.MkdirAll(rpmDir, 0o755); err != nil {
		return err
	}
	// The deb ships these two from nrpe/ as they are (nfpm.yaml). EPEL's
	// NRPE reads /etc/nrpe.d, not Debian's /etc/nagios/nrpe.d.
	rpmFiles := []struct{ src, dst string }{
		{"nrpe/nrpe.d/registry-checks.cfg", "/etc/nrpe.d/registry-checks.cfg"},
		{"nrpe/telegraf/registry-checks.conf", "/usr/share/doc/registry-checks/telegraf/registry-checks.conf"},
		// They run the handler by its path, which differs on EL.
		{"packaging/cron/registry-checks", "/etc/cron.d/registry-checks"},
		{"packaging/systemd/registry-checks-restart.service", "/usr/lib/systemd/system/registry-checks-restart.service"},
		{"packaging/systemd/registry-checks-notify-flush.service", "/usr/lib/systemd/system/registry-checks-notify-flush.service"},
	}
	var rpmContents files.Contents
	for _, f := range rpmFiles {
		b, err := os.ReadFile(f.src)
		if err != nil {
			return err
		}
		b = bytes.ReplaceAll(b, []byte(pluginDirs["deb"]+"/"), []byte(pluginDirs["rpm"]+"/"))
		staged := filepath.Join(rpmDir, filepath.Base(f.dst))
		if err := os.WriteFile(staged, b, 0o644); err != nil {
			return err
		}
		c := &files.Content{Source: staged, Destination: f.dst, FileInfo: &files.ContentFileInfo{Mode: 0o644}}
		if strings.HasPrefix(f.dst, "/etc/") {
			c.Type = files.TypeConfigNoReplace
		}
		rpmContents = append(rpmContents, c)
	}

	vars := map[string]string{"VERSION": ver, "ARCH": *arch}
	cfg, err := nfpm.ParseFileWithEnvMapping(*config, func(k string) string { return vars[k] })
	if err != nil {
		return fmt.Errorf("%s: %w", *config, err)
	}
	md, err := os.ReadFile(*changes)
	if err != nil {
		return err
	}
	entries, err := ParseChangelog(md, ver, changelogDate())
	if err != nil {
		return fmt.Errorf("%s: %w", *changes, err)
	}
	// The RPM's %changelog comes from nfpm (chglog's format); the Debian
	// changelog is written here, wrapped as Debian policy wants it, and
	// shipped as a plain file.
	rpmChangelog := filepath.Join(stage, "changelog.yml")
	if err := writeChglog(rpmChangelog, entries, cfg.Maintainer, cfg.Release); err != nil {
		return err
	}
	debChangelog := filepath.Join(stage, "changelog.Debian.gz")
	if err := writeGzip(debChangelog, DebianChangelog(cfg.Name, cfg.Maintainer, cfg.Release, entries)); err != nil {
		return err
	}
	for _, format := range strings.Split(*formats, ",") {
		o := cfg.Overrides[format]
		if o == nil {
			o = &nfpm.Overridables{}
			cfg.Overrides[format] = o
		}
		// nfpm takes an override's contents instead of the common ones, not
		// in addition to them.
		o.Contents = append(append(files.Contents{}, cfg.Contents...), o.Contents...)
		if format == "rpm" {
			o.Contents = append(o.Contents, rpmContents...)
		}
		for _, b := range binaries {
			o.Contents = append(o.Contents,
				&files.Content{Source: filepath.Join(*bin, b), Destination: pluginDirs[format] + "/" + b, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
				&files.Content{Source: filepath.Join(man, b+".1.gz"), Destination: "/usr/share/man/man1/" + b + ".1.gz", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
				&files.Content{Source: filepath.Join(comp, b), Destination: "/usr/share/bash-completion/completions/" + b, FileInfo: &files.ContentFileInfo{Mode: 0o644}})
		}
		if format == "rpm" {
			if o.Contents, err = markRPMDocs(o.Contents); err != nil {
				return err
			}
		}
		if format == "deb" {
			o.Contents = append(o.Contents, &files.Content{Source: debChangelog, Destination: "/usr/share/doc/" + cfg.Name + "/changelog.Debian.gz", FileInfo: &files.ContentFileInfo{Mode: 0o644}})
		}
	}
	for _, format := range strings.Split(*formats, ",") {
		cfg.Changelog = ""
		if format == "rpm" {
			cfg.Changelog = rpmChangelog
		}
		path, err := pack(cfg, format, *out)
		if err != nil {
			return fmt.Errorf("%s: %w", format, err)
		}
		if format == "rpm" {
			if err := RelativePayload(path); err != nil {
				return err
			}
		}
		fmt.Fprintln(stdout, path)
	}
	return nil
}

func pack(cfg nfpm.Config, format, out string) (string, error) {
	info, err := cfg.Get(format)
	if err != nil {
		return "", err
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.Validate(info); err != nil {
		return "", err
	}
	pkgr, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	path := filepath.Join(out, pkgr.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	info.Target = path
	if err := pkgr.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	return path, f.Close()
}

// listBinaries is every executable in dir (make build puts nothing else there).
func listBinaries(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("binaries: %w (run make build first)", err)
	}
	var out []string
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			out = append(out, e.Name())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no binaries in %s (run make build first)", dir)
	}
	sort.Strings(out)
	return out, nil
}

var release = regexp.MustCompile(`^v?[0-9]+\.[0-9]+`)

// PackageVersion turns git describe's output into a version dpkg and rpm
// both accept: a release tag keeps its number (v1.2.3-4-gabc -> 1.2.3.4.gabc);
// an untagged commit (a hash, which may start with a digit) becomes
// 0.0.0~git<hash>, which sorts before any release.
func PackageVersion(v string) string {
	v = strings.TrimSpace(v)
	if v == "" || v == "dev" {
		return "0.0.0~dev"
	}
	if !release.MatchString(v) {
		v = "0.0.0~git" + v
	}
	v = strings.TrimPrefix(v, "v")
	return regexp.MustCompile(`[^A-Za-z0-9.~+]`).ReplaceAllString(v, ".")
}

func gitVersion() string {
	out, err := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		return "dev"
	}
	return strings.TrimSpace(string(out))
}

// packageDoc is the doc comment of the binary's main package: the man
// page's NAME line (first sentence) and DESCRIPTION.
func packageDoc(binary string) string {
	for _, dir := range []string{"checks", "remediate"} {
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, binary, "main.go"), nil, parser.PackageClauseOnly|parser.ParseComments)
		if err == nil && f.Doc != nil {
			return strings.TrimSpace(f.Doc.Text())
		}
	}
	return ""
}

// ManPage runs the binary with plugin.ManPageEnv set and fills in the NAME
// and DESCRIPTION that go-flags leaves empty from doc, the package comment
// ("check_x reports ..." or "Command x restarts ...").
func ManPage(binary, doc string) ([]byte, error) {
	cmd := exec.Command(binary)
	cmd.Env = append(os.Environ(), plugin.ManPageEnv+"=1")
	if os.Getenv("SOURCE_DATE_EPOCH") == "" {
		// A reproducible date: the commit's, not the build's.
		if ct, err := exec.Command("git", "log", "-1", "--format=%ct").Output(); err == nil {
			if _, err := strconv.ParseInt(strings.TrimSpace(string(ct)), 10, 64); err == nil {
				cmd.Env = append(cmd.Env, "SOURCE_DATE_EPOCH="+strings.TrimSpace(string(ct)))
			}
		}
	}
	page, err := cmd.Output()
	if !bytes.HasPrefix(page, []byte(".TH ")) {
		return nil, fmt.Errorf("%s with %s=1 wrote no man page (%v): %.200q", binary, plugin.ManPageEnv, err, page)
	}
	name := filepath.Base(binary)
	desc := strings.Join(strings.Fields(doc), " ")
	desc = strings.TrimPrefix(desc, "Command ")
	desc = strings.TrimPrefix(desc, name+" ")
	short := desc
	if i := strings.Index(short, ". "); i > 0 {
		short = short[:i]
	}
	short = strings.TrimSuffix(short, ".")
	page = bytes.Replace(page, []byte(name+" \\- \n"), []byte(name+" \\- "+roff(short)+"\n"), 1)
	long := roff(name+" "+desc) + "\n.PP\nOptions, thresholds, perfdata and line protocol: /usr/share/doc/registry-checks/docs/" + name + ".md and the NRPE, Nagios and Icinga 2 definitions beside it.\n"
	page = bytes.Replace(page, []byte(".SH DESCRIPTION\n\n"), []byte(".SH DESCRIPTION\n"+long), 1)
	return page, nil
}

// BashCompletion is the bash-completion file of binary: go-flags completes
// the options and their choices itself when GO_FLAGS_COMPLETION is set
// (and exits 0 without running anything).
func BashCompletion(binary string) string {
	fn := "_registry_checks_" + binary
	return "# bash completion for " + binary + " (registry-checks): the binary lists its own options.\n" +
		fn + "() {\n" +
		"\tlocal args=(\"${COMP_WORDS[@]:1:$COMP_CWORD}\")\n" +
		"\tlocal IFS=$'\\n'\n" +
		"\tCOMPREPLY=($(GO_FLAGS_COMPLETION=1 \"${COMP_WORDS[0]}\" \"${args[@]}\" 2>/dev/null))\n" +
		"}\n" +
		"complete -F " + fn + " " + binary + "\n"
}

// roff escapes text for a man page line.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

func writeGzip(path string, data []byte) error {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	zw.ModTime = time.Unix(0, 0) // reproducible: no build time in the archive
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
