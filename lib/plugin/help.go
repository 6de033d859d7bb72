package plugin

import (
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	flags "github.com/jessevdk/go-flags"
	"golang.org/x/sys/unix"

	"github.com/registry-checks/registry-checks/lib/version"
)

// Help is what a binary's --help says besides its options, in the order of
// monitoring-plugins' print_help; its man page is made from the same text.
// A binary without one still gets a help with its options and EXIT STATUS.
type Help struct {
	// Description says what the binary does, in 2-4 sentences.
	Description string
	// Thresholds explains which value each threshold option is compared
	// with (Nagios ranges, NAGIOS.md).
	Thresholds string
	// Examples: two or three command lines with the output they give.
	Examples []Example
	// Perfdata lists the perfdata labels: "label (unit): meaning".
	Perfdata []string
	// Measurements lists the line protocol: "measurement: tags ...; fields ...".
	Measurements []string
	// Files and SeeAlso are the man page's FILES and SEE ALSO.
	Files   []string
	SeeAlso []string
}

// Example is one command of Help.Examples and what it prints.
type Example struct {
	Command string // as typed, without the prompt
	Output  string // what it prints (the first lines at least)
	Note    string // optional: what it shows
}

// exitStatus is the EXIT STATUS every binary shares (NAGIOS.md).
var exitStatus = []string{
	"0  OK: every threshold met",
	"1  WARNING: a warning threshold crossed, or degraded but serving",
	"2  CRITICAL: a critical threshold crossed, or the service is down or unreachable",
	"3  UNKNOWN: bad arguments, --help, --version, an answer that cannot be interpreted, or an internal error",
}

// helpWidth is the terminal's width when w is one, else 80.
func helpWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col >= 40 {
			return int(ws.Col)
		}
	}
	return 80
}

// writeHelp renders the whole --help of spec at width columns.
func writeHelp(w io.Writer, spec Spec, parser *flags.Parser, width int) {
	h := spec.Help
	if h == nil {
		h = &Help{}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (registry-checks) %s\n", spec.Binary, version.String())
	b.WriteString("Licensed under the Apache License 2.0.\n\n")
	if h.Description != "" {
		para(&b, "", h.Description, width)
		b.WriteString("\n")
	}
	b.WriteString("Usage:\n")
	para(&b, "  ", spec.Binary+" "+usage(parser), width)
	for _, g := range optionGroups(parser.Command.Group) {
		fmt.Fprintf(&b, "\n%s:\n", g.title)
		for _, o := range g.opts {
			writeOption(&b, o, width)
		}
	}
	if h.Thresholds != "" {
		b.WriteString("\nThresholds:\n")
		para(&b, "  ", h.Thresholds, width)
	}
	b.WriteString("\nExit status:\n")
	for _, s := range exitStatus {
		hanging(&b, "  ", "     ", s, width)
	}
	if len(h.Examples) > 0 {
		b.WriteString("\nExamples:\n")
		for i, e := range h.Examples {
			if i > 0 {
				b.WriteString("\n")
			}
			if e.Note != "" {
				para(&b, "  ", e.Note, width)
			}
			hanging(&b, "  $ ", "      ", e.Command, width)
			for _, l := range strings.Split(strings.TrimRight(e.Output, "\n"), "\n") {
				// Output is shown as printed: cut, not re-wrapped.
				b.WriteString("  " + l + "\n")
			}
		}
	}
	list(&b, "Perfdata", h.Perfdata, width)
	list(&b, "Measurements (InfluxDB line protocol)", h.Measurements, width)
	b.WriteString("\n")
	para(&b, "", "Full reference: /usr/share/doc/registry-checks/docs/"+spec.Binary+".md (man "+spec.Binary+").", width)
	io.WriteString(w, b.String())
}

func list(b *strings.Builder, title string, items []string, width int) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s:\n", title)
	for _, it := range items {
		hanging(b, "  ", "      ", it, width)
	}
}

func usage(p *flags.Parser) string {
	if p.Usage != "" {
		return p.Usage
	}
	return "[OPTIONS]"
}

type optionGroup struct {
	title string
	opts  []*flags.Option
}

// optionGroups flattens go-flags' groups in declaration order: the
// binary's own options first ("Options"), then each named group.
func optionGroups(root *flags.Group) []optionGroup {
	var out []optionGroup
	var walk func(g *flags.Group, title string)
	walk = func(g *flags.Group, title string) {
		if g.Hidden {
			return
		}
		var opts []*flags.Option
		for _, o := range g.Options() {
			if !o.Hidden {
				opts = append(opts, o)
			}
		}
		if len(opts) > 0 {
			out = append(out, optionGroup{title: title, opts: opts})
		}
		for _, sub := range g.Groups() {
			t := sub.ShortDescription
			if t == "" || t == "Application Options" {
				t = title
			}
			walk(sub, t)
		}
	}
	walk(root, "Options")
	// Groups of the same title (embedded structs without a group tag) merge.
	var merged []optionGroup
	idx := map[string]int{}
	for _, g := range out {
		if i, ok := idx[g.title]; ok {
			merged[i].opts = append(merged[i].opts, g.opts...)
			continue
		}
		idx[g.title] = len(merged)
		merged = append(merged, g)
	}
	return merged
}

// optionHead is "-t, --timeout=SECONDS" for o.
func optionHead(o *flags.Option) string {
	var names []string
	if o.ShortName != 0 {
		names = append(names, "-"+string(o.ShortName))
	}
	if o.LongName != "" {
		names = append(names, "--"+o.LongName)
	}
	head := strings.Join(names, ", ")
	if takesValue(o) {
		v := o.ValueName
		if v == "" {
			v = "VALUE"
		}
		head += "=" + v
	}
	return head
}

func takesValue(o *flags.Option) bool {
	t := o.Field().Type
	if t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	// go-flags' own -h is a func field.
	return t.Kind() != reflect.Bool && t.Kind() != reflect.Func
}

// optionText is o's description with its default, choices and environment
// variable.
func optionText(o *flags.Option) string {
	s := o.Description
	var extra []string
	if len(o.Choices) > 0 {
		extra = append(extra, "one of "+strings.Join(o.Choices, ", "))
	}
	if len(o.Default) > 0 && takesValue(o) {
		extra = append(extra, "default "+strings.Join(o.Default, ","))
	}
	if o.EnvDefaultKey != "" {
		extra = append(extra, "environment "+o.EnvDefaultKey)
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, "; ") + ")"
	}
	return s
}

func writeOption(b *strings.Builder, o *flags.Option, width int) {
	hanging(b, "  ", "", optionHead(o), width)
	para(b, "        ", optionText(o), width)
}

// para writes text wrapped at width on word boundaries, every line
// indented by indent.
func para(b *strings.Builder, indent, text string, width int) {
	hanging(b, indent, indent, text, width)
}

// hanging writes text wrapped on word boundaries only: the first line after
// first, the next ones after rest. A word longer than a line gets a line of
// its own, whole.
func hanging(b *strings.Builder, first, rest, text string, width int) {
	for _, l := range wrap(text, width, len(first), len(rest)) {
		b.WriteString(first + l + "\n")
		first = rest
	}
}

func wrap(text string, width, firstIndent, restIndent int) []string {
	var out []string
	line, indent := "", firstIndent
	for _, w := range strings.Fields(text) {
		if line != "" && indent+len(line)+1+len(w) > width {
			out = append(out, line)
			line, indent = "", restIndent
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(out, line)
}

// writeManPage writes the man page: go-flags' NAME, SYNOPSIS, DESCRIPTION
// and OPTIONS (which packaging/mkicinga reads), then the sections of Help
// and the shared EXIT STATUS, FILES and SEE ALSO.
func writeManPage(w io.Writer, spec Spec, parser *flags.Parser) {
	h := spec.Help
	if h != nil && h.Description != "" {
		first := h.Description
		if i := strings.Index(first, ". "); i > 0 {
			first = first[:i]
		}
		parser.ShortDescription = strings.TrimSuffix(strings.TrimPrefix(first, spec.Binary+" "), ".")
		parser.LongDescription = h.Description
	}
	parser.WriteManPage(w)
	if h == nil {
		h = &Help{}
	}
	if h.Thresholds != "" {
		fmt.Fprintf(w, ".SH THRESHOLDS\n%s\n", roff(h.Thresholds))
	}
	fmt.Fprintln(w, ".SH EXIT STATUS")
	for _, s := range exitStatus {
		code, text, _ := strings.Cut(s, "  ")
		fmt.Fprintf(w, ".IP %s 4\n%s\n", code, roff(text))
	}
	if len(h.Examples) > 0 {
		fmt.Fprintln(w, ".SH EXAMPLES")
		for _, e := range h.Examples {
			if e.Note != "" {
				fmt.Fprintf(w, ".PP\n%s\n", roff(e.Note))
			}
			fmt.Fprintf(w, ".PP\n.nf\n.RS 4\n$ %s\n%s\n.RE\n.fi\n", roff(e.Command), roff(strings.TrimRight(e.Output, "\n")))
		}
	}
	manList(w, "PERFORMANCE DATA", h.Perfdata)
	manList(w, "MEASUREMENTS", h.Measurements)
	files := append([]string{
		"/etc/registry-checks/couch.cred: the CouchDB credentials (user:password), root:nagios mode 0640",
		"/etc/nagios/nrpe.d/registry-checks.cfg (Debian), /etc/nrpe.d/registry-checks.cfg (EL): the NRPE commands",
		"/var/spool/registry-checks: metric points waiting for InfluxDB",
		"/usr/share/doc/registry-checks/docs/" + spec.Binary + ".md: the full reference",
	}, h.Files...)
	manList(w, "FILES", files)
	see := append([]string{"check_nrpe(8)", "nagios4(8)", "/usr/share/doc/registry-checks/docs/metrics.md"}, h.SeeAlso...)
	fmt.Fprintf(w, ".SH SEE ALSO\n%s\n", roff(strings.Join(see, ", ")))
}

func manList(w io.Writer, title string, items []string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(w, ".SH %s\n", title)
	for _, it := range items {
		fmt.Fprintf(w, ".IP \\(bu 2\n%s\n", roff(it))
	}
}

// roff escapes text for man page lines.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			l = `\&` + l
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}
