package couch

import (
	"errors"
	"fmt"
)

// The shape checks of the answers (httpclient.Shaped): JSON decodes null,
// {} and documents of all-null fields into zero values without a word,
// and a zero value reads as "nothing there", no replication or no
// database, which a check or the handler would take for healthy. Each
// check names what is missing; only what every CouchDB version from 1.x
// to 3.x (and PouchDB where it answers) always sends is required.

// CheckShape requires the docs list and, in each doc, the replicator
// database, the document id and the state.
func (s *SchedulerDocs) CheckShape() error {
	if s.Docs == nil {
		return errors.New("no docs list")
	}
	for i, d := range s.Docs {
		if d.Database == "" || d.DocID == "" || d.State == "" {
			return fmt.Errorf("docs[%d] lacks database, doc_id or state", i)
		}
	}
	return nil
}

// CheckShape requires the jobs list and an id in each job.
func (s *SchedulerJobs) CheckShape() error {
	if s.Jobs == nil {
		return errors.New("no jobs list")
	}
	for i, j := range s.Jobs {
		if j.ID == "" {
			return fmt.Errorf("jobs[%d] has no id", i)
		}
	}
	return nil
}

// CheckShape requires the database name.
func (d *DBInfo) CheckShape() error {
	if d.DBName == "" {
		return errors.New("no db_name")
	}
	return nil
}

// activeTasks is the answer of GET /_active_tasks.
type activeTasks []ActiveTask

// CheckShape requires a list (null is not one) and a type in each task.
func (t *activeTasks) CheckShape() error {
	if *t == nil {
		return errors.New("not a list of tasks")
	}
	for i, task := range *t {
		if task.Type == "" {
			return fmt.Errorf("task %d has no type", i)
		}
	}
	return nil
}

// dbsInfoRows is the answer of /_dbs_info.
type dbsInfoRows []DBsInfoRow

// CheckShape requires a list, and in each row a key and either an info
// with its db_name or an error.
func (r *dbsInfoRows) CheckShape() error {
	if *r == nil {
		return errors.New("not a list of databases")
	}
	for i, row := range *r {
		switch {
		case row.Key == "":
			return fmt.Errorf("row %d has no key", i)
		case row.Info == nil && row.Error == "":
			return fmt.Errorf("row %d (%s) has neither info nor error", i, row.Key)
		case row.Info != nil && row.Info.DBName == "":
			return fmt.Errorf("row %d (%s): info has no db_name", i, row.Key)
		}
	}
	return nil
}
