package docexamples

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMatchOutput(t *testing.T) {
	disk := "COUCH_DISK OK - 3 databases, 74.9 KiB on disk; /data 84% free (76.7 GiB of 252.0 GiB), inodes 97% free; compacting the largest database registry needs up to 56.7 KiB | databases=3 file=76705B ..."
	views := "COUCH_VIEWS OK - 1 design document of registry OK | 'app lag'=0 'app file'=40960B ...\ndatabase registry: update_seq 21, 21 docs; queries timed with stale=ok"
	for _, c := range []struct {
		name, example, printed string
		ok                     bool
	}{
		{"numbers, units and plurals differ", disk,
			"COUCH_DISK OK - 5 databases, 366.2 MiB on disk; /data 12% free (1.1 TiB of 9.0 TiB), inodes 97% free; compacting the largest database registry needs up to 301 MiB | databases=5 file=383991808B active=1B", true},
		{"long output and the rest of the perfdata", views,
			"COUCH_VIEWS OK - 2 design documents of registry OK | 'app lag'=3 'app file'=81920B 'app active'=1B\ndatabase registry: update_seq 100001, 100001 docs; queries timed with stale=ok\nOK app", true},
		{"hosts differ", "PROMOTION OK - 127.0.0.1:5984 could take over from db1:5984: 3 databases, 0 changes behind | databases=3;;;0 worst_lag=0;100;1000 ...",
			"PROMOTION OK - 127.0.0.1:25984 could take over from 127.0.0.1:15984: 2 databases, 0 changes behind | databases=2;;;0 worst_lag=0;100;1000 worst_doc_diff=0;100;1000", true},
		{"another state", views, "COUCH_VIEWS WARNING - 1 design document of registry OK | 'app lag'=0 'app file'=40960B\ndatabase registry: update_seq 21, 21 docs; queries timed with stale=ok", false},
		{"other words", "PROMOTION OK - 127.0.0.1:5984 could take over from db1:5984: 3 databases, 0 changes behind | databases=3;;;0 ...",
			"PROMOTION OK - 127.0.0.1:25984 could take over from 127.0.0.1:15984: 2 databases, 0 documents behind | databases=2;;;0", false},
		{"another label", views, "COUCH_VIEWS OK - 1 design document of registry OK | 'app lag'=0 'app size'=40960B\ndatabase registry: update_seq 21, 21 docs; queries timed with stale=ok", false},
		{"another unit", views, "COUCH_VIEWS OK - 1 design document of registry OK | 'app lag'=0 'app file'=40960\ndatabase registry: update_seq 21, 21 docs; queries timed with stale=ok", false},
		{"other thresholds", "PROMOTION OK - 127.0.0.1:5984 could take over from db1:5984: 3 databases, 0 changes behind | databases=3;;;0 worst_lag=0;100;1000 ...",
			"PROMOTION OK - 127.0.0.1:25984 could take over from 127.0.0.1:15984: 2 databases, 0 changes behind | databases=2;;;0 worst_lag=0;10;1000", false},
		{"a perfdata item more, no ...", "NAME OK - fine | a=1;;;0", "NAME OK - fine | a=1;;;0 b=2", false},
		{"a line fewer", views, "COUCH_VIEWS OK - 1 design document of registry OK | 'app lag'=0 'app file'=40960B", false},
		{"no perfdata printed", "NAME OK - fine | a=1", "NAME OK - fine", false},
		{"text after the end", "NAME OK - nothing to restart: 1 of 1 replications healthy", "NAME OK - nothing to restart: 1 of 1 replications healthy; 3 queued", false},
		{"prefix", "NAME OK - nothing to restart ...", "NAME OK - nothing to restart: 1 of 1 replications healthy", true},
		{"unknown value", "NAME OK - x | worst_lag=0;100;1000", "NAME OK - x | worst_lag=U;100;1000", true},
	} {
		err := MatchOutput(c.example, c.printed)
		if c.ok {
			assert.NoError(t, err, c.name)
		} else {
			assert.Error(t, err, c.name)
		}
	}
}

func TestPerfLabels(t *testing.T) {
	out := "COUCH_REPLICATION OK - 1 replication OK | replications=1;;1:;0 'registry-from-node1 job_state'=0;;;0;9\nOK registry-from-node1: running\n| 'registry-from-node1 seq_lag'=0 'a b c'=1"
	assert.Equal(t, map[string]bool{"replications": true, "job_state": true, "seq_lag": true, "c": true}, PerfLabels(out))
	assert.Empty(t, PerfLabels("NAME OK - no perfdata\nlong | not perfdata"))
}
