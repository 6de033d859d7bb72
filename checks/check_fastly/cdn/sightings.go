package cdn

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/registry-checks/registry-checks/lib/safefile"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// Sighting is what this check remembers of a stale packument between runs:
// the copy the CDN served when the check first saw it differ from the
// origin's, and when. As long as the CDN serves that same copy and the
// origin has another, the CDN has been stale since at least then.
type Sighting struct {
	Packument string    `json:"packument"`  // the CDN URL, without credentials
	Origin    string    `json:"origin"`     // the origin database URL, without credentials
	Served    string    `json:"served"`     // the served _rev (or time.modified without _rev)
	OriginRev string    `json:"origin_rev"` // the origin's at the first sighting
	FirstSeen time.Time `json:"first_seen"`
}

// Sightings keeps sightings across runs, one per packument and origin.
type Sightings interface {
	// Sight returns the sighting kept for s's packument and origin when it
	// is of the same served copy; otherwise it keeps s and returns it.
	Sight(s Sighting) (Sighting, error)
	// Forget drops the sighting of a packument the CDN serves fresh.
	Forget(packument, origin string) error
	// Where names the state file, for messages.
	Where(packument, origin string) string
}

// FileSightings keeps each sighting in a JSON file of its own under Dir,
// written atomically (safefile.WriteFile), mode 0640. Runs checking
// different packuments never share a file; two runs on the same one both
// write the earliest sighting they know.
type FileSightings struct {
	Dir string
	// Redact is the run's redactor: a state file leaves the run like its
	// output, so it passes the same last line of defense.
	Redact func(string) string
}

// Sight implements Sightings.
func (f *FileSightings) Sight(s Sighting) (Sighting, error) {
	path := f.Where(s.Packument, s.Origin)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		var old Sighting
		// A damaged file is replaced: the bound starts again from now,
		// which only makes it smaller, never wrong.
		if json.Unmarshal(b, &old) == nil && old.Served == s.Served && !old.FirstSeen.IsZero() && !old.FirstSeen.After(s.FirstSeen) {
			return old, nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return s, fmt.Errorf("state file %s: %w", path, unwrapPathErr(err))
	}
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return s, err
	}
	text := string(out) + "\n"
	if f.Redact != nil {
		text = f.Redact(text)
	}
	return s, safefile.WriteFile(path, []byte(text), 0o640)
}

// Forget implements Sightings.
func (f *FileSightings) Forget(packument, origin string) error {
	path := f.Where(packument, origin)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("state file %s: %w", path, unwrapPathErr(err))
	}
	return nil
}

// Where implements Sightings: "<dir>/<host><path>@<origin host><db>.json",
// made file-name safe; a name too long for a file system gets a hash.
func (f *FileSightings) Where(packument, origin string) string {
	name := hostPathOf(packument) + "@" + hostPathOf(origin)
	name = unsafeName().ReplaceAllString(name, "_")
	if len(name) > 180 {
		sum := sha256.Sum256([]byte(name))
		name = name[:150] + "-" + hex.EncodeToString(sum[:8])
	}
	return filepath.Join(f.Dir, name+".json")
}

func hostPathOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return secret.RedactURL(raw)
	}
	return u.Host + u.EscapedPath()
}

var unsafeName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^A-Za-z0-9._@-]+`) })

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
