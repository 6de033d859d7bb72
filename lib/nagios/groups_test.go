package nagios

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGrouped(t *testing.T) {
	small := make([]string, 202)
	for i := range small {
		small[i] = fmt.Sprintf("small-%03d", i)
	}
	outage := []Group{
		{Count: 202, What: "source unreachable", Quals: []string{"http://db1:5984", "connection closed"}, Names: small},
		{Count: 1, What: "source database missing", Names: []string{"missing-source"}},
		{Count: 1, What: "filter missing on source", Names: []string{"bad-filter"}},
	}
	many := make([]Group, 300)
	for i := range many {
		many[i] = Group{Count: 1, What: "source unreachable", Quals: []string{fmt.Sprintf("http://db%d.example.org:5984", i)}, Names: []string{fmt.Sprintf("from-db%d", i)}}
	}
	tests := []struct {
		name   string
		head   string
		groups []Group
		budget int
		want   string
	}{
		{"the issue's outage", "204 of 206 replications failing: ", outage, GroupBudget,
			"204 of 206 replications failing: 202 source unreachable (http://db1:5984, connection closed), 1 source database missing (missing-source), 1 filter missing on source (bad-filter)"},
		{"room for names of the big group too", "", outage, 400,
			"202 source unreachable (http://db1:5984, connection closed; small-000, small-001 and 200 more), 1 source database missing (missing-source), 1 filter missing on source (bad-filter)"},
		{"tight: every cause before any detail", "204 of 206 replications failing: ", outage, 120,
			"204 of 206 replications failing: 202 source unreachable, 1 source database missing, 1 filter missing on source"},
		{"tighter: groups counted at the end", "204 of 206 replications failing: ", outage, 100,
			"204 of 206 replications failing: 202 source unreachable and 2 more (2 other causes)"},
		{"named before any detail", "204 of 206 replications failing: ", outage, 128,
			"204 of 206 replications failing: 202 source unreachable (http://db1:5984), 1 source database missing, 1 filter missing on source"},
		{"one group, names fit", "", []Group{{Count: 3, What: "need a human", Names: []string{"a", "b", "c"}}}, 100,
			"3 need a human (a, b and 1 more)"},
		{"no names, no quals", "", []Group{{Count: 2, What: "behind the source"}}, 100, "2 behind the source"},
		{"the handler's form", "", []Group{
			{Lead: "restarted", Count: 202, What: "replications from http://db1:5984", Quals: []string{"source back"}, Names: small},
			{Count: 1, What: "needs a human", Quals: []string{"filter missing on source"}, Names: []string{"bad-filter"}, NamesFirst: true},
		}, GroupBudget, "restarted 202 replications from http://db1:5984 (source back; small-000, small-001 and 200 more), 1 needs a human (bad-filter: filter missing on source)"},
		{"300 causes", "300 of 300 replications failing: ", many, GroupBudget, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Grouped(tt.head, ", ", tt.groups, tt.budget)
			assert.LessOrEqual(t, len(got), tt.budget, got)
			if tt.want != "" {
				assert.Equal(t, tt.want, got)
			} else {
				assert.True(t, strings.HasPrefix(got, tt.head), got)
				assert.Contains(t, got, "more (")
			}
		})
	}
}

func TestGroupedHeadTooLong(t *testing.T) {
	got := Grouped(strings.Repeat("x", 50), ", ", []Group{{Count: 1, What: "y"}}, 20)
	assert.LessOrEqual(t, len(got), 50)
}

func TestMoreTextNamesCauses(t *testing.T) {
	rest := []Group{
		{Count: 40, What: "recovering from a crash"},
		{Count: 1, What: "filter missing on source"},
		{Count: 1, What: "needs a human", Lead: "x"},
	}
	assert.Equal(t, "", moreText(nil, 100))
	assert.Equal(t, " and 42 more (recovering from a crash, filter missing on source, x needs a human)", moreText(rest, 100))
	assert.Equal(t, " and 42 more (recovering from a crash and 2 other causes)", moreText(rest, 60))
	assert.Equal(t, " and 42 more (3 other causes)", moreText(rest, 20), "no room: counted still")
}
