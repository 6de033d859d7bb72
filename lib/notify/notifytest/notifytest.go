// Package notifytest is a local stand-in for a chat incoming webhook and
// for PagerDuty's Events API v2: it checks every body against the schema,
// and can refuse connections, hang, or answer what a test tells it to.
package notifytest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"
)

// Receiver is an HTTP server on a fixed 127.0.0.1 port that can go down
// (connections refused) and come back on the same port.
type Receiver struct {
	t        testing.TB
	addr     string
	validate func([]byte) error

	mu       sync.Mutex
	srv      *http.Server
	respond  func(w http.ResponseWriter, r *http.Request) bool
	accepted [][]byte
	invalid  []string
	tries    int
	release  chan struct{}
}

// New starts a receiver whose accepted bodies must pass validate (nil:
// any); an invalid body gets a 400 and is recorded (Invalid).
func New(t testing.TB, validate func([]byte) error) *Receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{t: t, addr: ln.Addr().String(), validate: validate, release: make(chan struct{})}
	r.serve(ln)
	t.Cleanup(func() {
		r.mu.Lock()
		close(r.release)
		srv := r.srv
		r.srv = nil
		r.mu.Unlock()
		if srv != nil {
			srv.Close()
		}
	})
	return r
}

func (r *Receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 10 * time.Second}
	r.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

// URL is the receiver's base URL: http://127.0.0.1:port.
func (r *Receiver) URL() string { return "http://" + r.addr }

// Down closes the listener and every connection: posts are refused.
func (r *Receiver) Down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Up listens again on the same port.
func (r *Receiver) Up() {
	r.t.Helper()
	var ln net.Listener
	var err error
	// The port was ours a moment ago; a socket in TIME_WAIT does not stop
	// a listener, but give the kernel a few tries.
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("receiver back on %s: %v", r.addr, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.serve(ln)
}

// Respond makes f answer every post before the normal handling; f
// returns true when it answered (the body is then not accepted). nil
// restores the normal handling.
func (r *Receiver) Respond(f func(w http.ResponseWriter, req *http.Request) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.respond = f
}

// Hang makes every post wait until the client gives up (or the test ends).
func (r *Receiver) Hang() {
	r.Respond(func(w http.ResponseWriter, req *http.Request) bool {
		select {
		case <-req.Context().Done():
		case <-r.release:
		}
		return true
	})
}

// Status makes every post answer code with the headers and body given.
func (r *Receiver) Status(code int, header map[string]string, body string) {
	r.Respond(func(w http.ResponseWriter, req *http.Request) bool {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
		return true
	})
}

func (r *Receiver) handle(w http.ResponseWriter, req *http.Request) {
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(req.Body)
	r.mu.Lock()
	r.tries++
	respond := r.respond
	r.mu.Unlock()
	if respond != nil && respond(w, req) {
		return
	}
	body := buf.Bytes()
	var err error
	switch {
	case req.Method != http.MethodPost:
		err = fmt.Errorf("method %s", req.Method)
	case req.Header.Get("Content-Type") != "application/json":
		err = fmt.Errorf("Content-Type %q", req.Header.Get("Content-Type"))
	case r.validate != nil:
		err = r.validate(body)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.invalid = append(r.invalid, err.Error())
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": []string{err.Error()}})
		return
	}
	r.accepted = append(r.accepted, slices.Clone(body))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"success","message":"Event processed"}`))
}

// Accepted are the bodies taken, in order.
func (r *Receiver) Accepted() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.accepted)
}

// Invalid are the schema errors of the bodies refused.
func (r *Receiver) Invalid() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.invalid)
}

// Tries counts every post that reached the receiver.
func (r *Receiver) Tries() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tries
}

// Chat checks a chat webhook body: exactly {"text": "<non-empty>"}.
func Chat(body []byte) error {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	text, ok := m["text"].(string)
	if len(m) != 1 || !ok || text == "" {
		return fmt.Errorf("want exactly {\"text\": \"...\"}, got %s", body)
	}
	return nil
}

// PDEvent is an Events API v2 event as PagerDuty documents it.
type PDEvent struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Client      string `json:"client"`
	ClientURL   string `json:"client_url"`
	Payload     *struct {
		Summary       string         `json:"summary"`
		Source        string         `json:"source"`
		Severity      string         `json:"severity"`
		Timestamp     string         `json:"timestamp"`
		Component     string         `json:"component"`
		Group         string         `json:"group"`
		Class         string         `json:"class"`
		CustomDetails map[string]any `json:"custom_details"`
	} `json:"payload"`
	Images []any `json:"images"`
	Links  []any `json:"links"`
}

var routingKey = regexp.MustCompile(`^[0-9a-zA-Z]{32}$`)

// PagerDuty checks an Events API v2 body: no field PagerDuty does not
// know, a 32-character routing key, a known action, a dedup_key of at
// most 255 characters, and for a trigger a payload with a summary (at
// most 1024 characters), a source, a known severity and an RFC 3339
// timestamp if any.
func PagerDuty(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var ev PDEvent
	if err := dec.Decode(&ev); err != nil {
		return err
	}
	var errs []error
	if !routingKey.MatchString(ev.RoutingKey) {
		errs = append(errs, errors.New("routing_key is not 32 characters"))
	}
	if ev.DedupKey == "" || len(ev.DedupKey) > 255 {
		errs = append(errs, fmt.Errorf("dedup_key %q: want 1 to 255 characters", ev.DedupKey))
	}
	switch ev.EventAction {
	case "acknowledge", "resolve":
	case "trigger":
		p := ev.Payload
		if p == nil {
			errs = append(errs, errors.New("trigger without payload"))
			break
		}
		if p.Summary == "" || len(p.Summary) > 1024 {
			errs = append(errs, fmt.Errorf("payload.summary of %d characters: want 1 to 1024", len(p.Summary)))
		}
		if p.Source == "" {
			errs = append(errs, errors.New("payload.source is empty"))
		}
		if !slices.Contains([]string{"critical", "error", "warning", "info"}, p.Severity) {
			errs = append(errs, fmt.Errorf("payload.severity %q", p.Severity))
		}
		if p.Timestamp != "" {
			if _, err := time.Parse(time.RFC3339, p.Timestamp); err != nil {
				errs = append(errs, fmt.Errorf("payload.timestamp %q is not RFC 3339", p.Timestamp))
			}
		}
	default:
		errs = append(errs, fmt.Errorf("event_action %q", ev.EventAction))
	}
	return errors.Join(errs...)
}

// Decode is a PagerDuty body the receiver accepted.
func Decode(t testing.TB, body []byte) PDEvent {
	t.Helper()
	var ev PDEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// Text is the text of a chat body the receiver accepted.
func Text(t testing.TB, body []byte) string {
	t.Helper()
	var m struct{ Text string }
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return m.Text
}
