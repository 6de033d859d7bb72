package cdnlog

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"time"
)

// Lag is how far a run finished behind the end of a log: the bytes of
// complete lines left to read, and the log time between the last line
// read and the log's last line.
type Lag struct {
	Bytes   int64
	Seconds float64 // NaN when no line time could be read at either end
}

// tailWindow bounds how far back from an offset LagOf looks for a line
// with a time: a run of unparsable lines longer than this leaves the
// seconds unknown rather than read the whole file.
const tailWindow = 64 << 10

// LagOf measures how far pos is behind the end of the log at path. A
// last line without its newline does not count: its writer is still at
// it, and no run would read it yet. When pos is in the rotated file
// (PATH.1, the same inode), its unread rest counts too. last is the time
// of the last line read at pos, if this run read one; otherwise it is
// taken from the line before pos, when pos is in the file at path.
func LagOf(path string, pos Position, p *Parser, last time.Time) (Lag, error) {
	f, err := os.Open(path)
	if err != nil {
		return Lag{Seconds: math.NaN()}, err
	}
	defer f.Close()
	id, err := identify(f)
	if err != nil {
		return Lag{Seconds: math.NaN()}, err
	}
	end, err := lastLineEnd(f, id.size)
	if err != nil {
		return Lag{Seconds: math.NaN()}, err
	}
	lag := Lag{}
	same := id.dev == pos.Dev && id.ino == pos.Ino && end >= pos.Offset
	if same {
		lag.Bytes = end - pos.Offset
	} else {
		lag.Bytes = end
		if old, err := os.Open(path + ".1"); err == nil {
			if oid, err := identify(old); err == nil && oid.dev == pos.Dev && oid.ino == pos.Ino && oid.size >= pos.Offset {
				lag.Bytes += oid.size - pos.Offset
			}
			old.Close()
		}
	}
	if lag.Bytes == 0 {
		return lag, nil
	}
	if last.IsZero() && same {
		last, _ = timeBefore(f, pos.Offset, p)
	}
	endTime, ok := timeBefore(f, end, p)
	if last.IsZero() || !ok {
		lag.Seconds = math.NaN()
		return lag, nil
	}
	lag.Seconds = max(endTime.Sub(last).Seconds(), 0)
	return lag, nil
}

// timeBefore is the time of the last line before off that parses, looking
// at most tailWindow bytes back.
func timeBefore(f io.ReaderAt, off int64, p *Parser) (time.Time, bool) {
	start := max(off-tailWindow, 0)
	buf := make([]byte, off-start)
	if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
		return time.Time{}, false
	}
	buf = bytes.TrimSuffix(buf, []byte("\n"))
	var rec Record
	for len(buf) > 0 {
		i := bytes.LastIndexByte(buf, '\n')
		if i < 0 && start > 0 {
			break // the window's first line is cut
		}
		if p.Parse(buf[i+1:], &rec) == nil && !rec.Time.IsZero() {
			return rec.Time, true
		}
		if i < 0 {
			break
		}
		buf = buf[:i]
	}
	return time.Time{}, false
}
