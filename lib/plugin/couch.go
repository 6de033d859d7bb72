package plugin

import (
	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
)

// Couch connects to the CouchDB node opts names, through the run's HTTP
// client, and registers its credentials with the run's redactor. An error
// is a usage problem (a bad URL, a credentials file others can read):
// UNKNOWN.
func (e *Env) Couch(opts couch.Options) (*couch.Client, error) {
	return e.CouchWith(e.HTTP, opts)
}

// CouchWith is Couch through another client of the run's builder (one with
// a larger body cap, for tarball attachments).
func (e *Env) CouchWith(hc *httpclient.Client, opts couch.Options) (*couch.Client, error) {
	c, err := couch.Connect(opts, hc)
	if err != nil {
		return nil, &nagios.Problem{Status: nagios.UNKNOWN, Msg: err.Error(), Err: err}
	}
	e.Secrets.AddCredentials(c.Credentials())
	return c, nil
}
