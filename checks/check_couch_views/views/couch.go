package views

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"time"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/registry-checks/registry-checks/lib/couch"
)

// NewCouch adapts a *couch.Client: db info and _info through its typed
// endpoints, design documents and view queries through kivik.
func NewCouch(c *couch.Client) Couch { return kivikCouch{c} }

type kivikCouch struct{ c *couch.Client }

func (k kivikCouch) DBInfo(ctx context.Context, db string) (*couch.DBInfo, error) {
	return k.c.DBInfo(ctx, db)
}

func (k kivikCouch) ViewInfo(ctx context.Context, db, ddoc string) (*couch.ViewInfo, error) {
	return k.c.ViewInfo(ctx, db, ddoc)
}

// DesignDocs reads _all_docs between "_design/" and "_design0" with the
// documents: _design_docs would be shorter but 1.x and PouchDB lack it.
func (k kivikCouch) DesignDocs(ctx context.Context, db string) ([]DesignDoc, error) {
	start := time.Now()
	path := "/" + url.PathEscape(db) + "/_all_docs"
	rows := k.c.Kivik().DB(db).AllDocs(ctx, kivik.Params(map[string]any{
		"startkey": "_design/", "endkey": "_design0", "include_docs": true,
	}))
	defer rows.Close()
	var out []DesignDoc
	for rows.Next() {
		var doc struct {
			ID       string `json:"_id"`
			Language string `json:"language"`
			Views    map[string]struct {
				Reduce json.RawMessage `json:"reduce"`
			} `json:"views"`
		}
		if err := rows.ScanDoc(&doc); err != nil {
			return nil, k.c.Problem(http.MethodGet, path, start, err)
		}
		d := DesignDoc{ID: doc.ID, Language: doc.Language}
		for name, v := range doc.Views {
			d.Views = append(d.Views, View{Name: name, Reduce: len(v.Reduce) > 0 && string(v.Reduce) != "null"})
		}
		slices.SortFunc(d.Views, func(a, b View) int {
			if a.Name < b.Name {
				return -1
			}
			if a.Name > b.Name {
				return 1
			}
			return 0
		})
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, k.c.Problem(http.MethodGet, path, start, err)
	}
	return out, nil
}

func (k kivikCouch) Query(ctx context.Context, db, ddoc, view string, params map[string]any) (int, error) {
	start := time.Now()
	q := url.Values{}
	kivik.Params(params).Apply(&q)
	path := "/" + url.PathEscape(db) + "/_design/" + url.PathEscape(ddoc) + "/_view/" + url.PathEscape(view) + "?" + q.Encode()
	rows := k.c.Kivik().DB(db).Query(ctx, ddoc, view, kivik.Params(params))
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Err(); err != nil {
		return n, k.c.Problem(http.MethodGet, path, start, err)
	}
	return n, nil
}
