// Command serve serves a synthnode.Node on loopback, to time the built
// check_couch_replication against it:
//
//	go run ./lib/replication/internal/synthnode/serve -addr 127.0.0.1:27984 -n 5000 &
//	/usr/bin/time -v build/check_couch_replication -H 127.0.0.1 -P 15984 ...
//	curl -s 127.0.0.1:27984/_synth/requests   # what the last run asked for, then reset
//
// With -crash-all every replication crashes until restart_couch_replication
// rewrites its document (issue 13's 1,000-restart goal).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"

	"github.com/registry-checks/registry-checks/lib/replication/internal/synthnode"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:27984", "loopback address to listen on")
	n := flag.Int("n", 5000, "replications")
	sources := flag.Int("sources", 0, "distinct source databases (0: one per replication)")
	page := flag.Int("page", 500, "page size rendered up front")
	noDBsInfo := flag.Bool("no-dbs-info", false, "answer POST /_dbs_info with 404, like CouchDB before 2.2 or PouchDB Server")
	crashAll := flag.Bool("crash-all", false, "every replication crashing (a primary outage), until a restart rewrites its document")
	flag.Parse()
	if host, _, err := net.SplitHostPort(*addr); err != nil || (host != "127.0.0.1" && host != "localhost") {
		log.Fatalf("-addr %s: loopback only", *addr)
	}
	node := synthnode.New(*n, *sources, *page, "http://"+*addr)
	node.NoDBsInfo = *noDBsInfo
	if *crashAll {
		node.SetCrashing(func(int) bool { return true })
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/_synth/requests", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, synthnode.FormatRequests(node.Requests(true)))
	})
	mux.Handle("/", node)
	log.Printf("serving %d replications (%d sources) at http://%s", node.N, node.Sources, strings.TrimPrefix(*addr, "http://"))
	log.Fatal(http.ListenAndServe(*addr, mux))
}
