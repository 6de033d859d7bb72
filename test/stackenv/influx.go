package stackenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// InfluxResult is the answer of InfluxDB 1.x's /query.
type InfluxResult struct {
	Results []struct {
		Error  string `json:"error"`
		Series []struct {
			Name    string            `json:"name"`
			Tags    map[string]string `json:"tags"`
			Columns []string          `json:"columns"`
			Values  [][]any           `json:"values"`
		} `json:"series"`
	} `json:"results"`
	Error string `json:"error"`
}

// InfluxQuery runs one InfluxQL statement on the stack's InfluxDB (numbers
// as json.Number, times in ns); an error of the answer or of any statement
// is an error.
func InfluxQuery(influxURL, db, q string) (*InfluxResult, error) {
	form := url.Values{"db": {db}, "q": {q}, "epoch": {"ns"}}
	resp, err := http.PostForm(influxURL+"/query", form)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r InfluxResult
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("query %q: %d: %w", q, resp.StatusCode, err)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("query %q: %s", q, r.Error)
	}
	for _, res := range r.Results {
		if res.Error != "" {
			return nil, fmt.Errorf("query %q: %s", q, res.Error)
		}
	}
	return &r, nil
}
