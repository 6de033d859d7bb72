package plugin

import (
	"bytes"
	"strings"
	"testing"

	flags "github.com/jessevdk/go-flags"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type helpOpts struct {
	Common
	Password string `long:"password-env" env:"COUCHDB_PASSWORD_FOR_A_VERY_LONG_NAME" value-name:"NAME" description:"the environment variable COUCHDB_PASSWORD_FOR_A_VERY_LONG_NAME holds the password, never the command line; read once at start"`
}

func testHelp(t *testing.T, h *Help, width int) (string, string) {
	t.Helper()
	var opts helpOpts
	spec := Spec{Name: "TEST", Binary: "check_test", Options: &opts, Help: h}
	p := flags.NewParser(&opts, flags.HelpFlag)
	p.Name = spec.Binary
	var help, man bytes.Buffer
	writeHelp(&help, spec, p, width)
	writeManPage(&man, spec, p)
	return help.String(), man.String()
}

func TestHelpWrapsOnWordsOnly(t *testing.T) {
	for _, width := range []int{40, 80, 132} {
		help, _ := testHelp(t, &Help{Description: strings.Repeat("a check that explains itself ", 12)}, width)
		words := strings.Fields(help)
		assert.Contains(t, words, "COUCHDB_PASSWORD_FOR_A_VERY_LONG_NAME)", "the environment name whole, not cut")
		for _, l := range strings.Split(help, "\n") {
			if len(l) > width {
				// Only a word that is longer than the line by itself.
				assert.NotContains(t, strings.TrimSpace(l), " ", "width %d: %q", width, l)
			}
		}
	}
}

func TestHelpWithoutDescriptor(t *testing.T) {
	help, man := testHelp(t, nil, 80)
	assert.Contains(t, help, "Usage:\n  check_test [OPTIONS]\n")
	assert.Contains(t, help, "\nExit status:\n  0 OK")
	assert.Contains(t, help, "\n  3 UNKNOWN")
	assert.NotContains(t, help, "Examples:")
	assert.Contains(t, man, ".SH EXIT STATUS\n")
	assert.Contains(t, man, ".SH FILES\n")
	assert.Contains(t, man, ".SH SEE ALSO\n")
	assert.NotContains(t, man, ".SH EXAMPLES")
}

func TestHelpDescriptor(t *testing.T) {
	h := &Help{
		Description:  "check_test tells whether the test passes. It asks nothing.",
		Thresholds:   "-w and -c compare nothing.",
		Examples:     []Example{{Note: "The usual run:", Command: "check_test -t 5", Output: "TEST OK - fine | x=1"}},
		Perfdata:     []string{"x: a count"},
		Measurements: []string{"test_thing: tag a; fields x, state"},
		Files:        []string{"/etc/test"},
		SeeAlso:      []string{"check_other(1)"},
	}
	help, man := testHelp(t, h, 80)
	order := []string{"check_test (registry-checks)", "check_test tells whether", "Usage:", "Options:", "Metrics (InfluxDB line protocol):",
		"Thresholds:\n  -w and -c", "Exit status:", "Examples:\n  The usual run:\n  $ check_test -t 5\n  TEST OK - fine | x=1\n",
		"Perfdata:\n  x: a count", "Measurements (InfluxDB line protocol):\n  test_thing"}
	last := -1
	for _, s := range order {
		i := strings.Index(help, s)
		require.GreaterOrEqual(t, i, 0, "%q missing from\n%s", s, help)
		assert.Greater(t, i, last, "%q out of order", s)
		last = i
	}
	assert.Contains(t, man, "check_test \\- tells whether the test passes\n")
	for _, s := range []string{".SH THRESHOLDS", ".SH EXAMPLES", ".SH PERFORMANCE DATA", ".SH MEASUREMENTS", "/etc/test", "check_other(1)"} {
		assert.Contains(t, man, s)
	}
}
