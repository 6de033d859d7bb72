package cdnlog

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Position is where the reading of one log stopped: the file (device and
// inode), the offset just after the last line read, and a hash of the
// bytes before the offset. The hash tells the same file from a new one on
// a reused inode, and finds the file again after copytruncate, where only
// the content moved.
type Position struct {
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	Offset int64  `json:"offset"`
	Hash   string `json:"hash"`
}

// hashSpan is how many bytes before the offset the hash covers.
const hashSpan = 1024

// readBuffer bounds a line: a longer one is cut here (and will not parse).
const readBuffer = 256 << 10

// ReadOptions say how far to read.
type ReadOptions struct {
	FromStart bool // first run: read the whole file rather than start at its end
	MaxLines  int  // stop after this many lines (0: no bound); the rest waits for the next run
	Exact     bool // MaxLines is the exact count of a replay: 0 means none
}

// ReadReport says what one Read did.
type ReadReport struct {
	Path    string
	Lines   int
	Bytes   int64
	First   bool     // no position yet: started at the end (or start) of the file
	Files   []string // what was read, in order: "PATH.1.gz from 1234", "PATH from 0"
	Notes   []string // rotations followed, positions lost
	Backlog bool     // MaxLines stopped the reading before the end
}

// Read calls fn with every complete line (without its newline) appended to
// the log at path since pos, and returns the position after the last one.
// A rotated file (PATH.1, or PATH.1.gz) that holds pos is read to its end
// first, including a last line without a newline: nothing will complete
// it. In the live file a line without its newline yet is left for the next
// run. pos nil is the first run: the position is the end of the file's
// last complete line, or 0 with FromStart. fn must not keep line; when it
// returns false the reading stops before that line (it is read next time).
func Read(ctx context.Context, path string, pos *Position, opts ReadOptions, fn func(line []byte) bool) (Position, ReadReport, error) {
	rep := ReadReport{Path: path}
	cur, err := os.Open(path)
	if err != nil && !(errors.Is(err, fs.ErrNotExist) && pos != nil) {
		return Position{}, rep, err
	}
	var curID fileID
	if cur != nil {
		defer cur.Close()
		if curID, err = identify(cur); err != nil {
			return Position{}, rep, err
		}
	}

	if pos == nil {
		rep.First = true
		start := Position{Dev: curID.dev, Ino: curID.ino, Offset: 0, Hash: hashOf(nil)}
		if !opts.FromStart {
			end, err := lastLineEnd(cur, curID.size)
			if err != nil {
				return Position{}, rep, err
			}
			h, err := hashBefore(cur, end)
			if err != nil {
				return Position{}, rep, err
			}
			return Position{Dev: curID.dev, Ino: curID.ino, Offset: end, Hash: h}, rep, nil
		}
		pos = &start
	}

	if opts.Exact && opts.MaxLines == 0 {
		return *pos, rep, nil
	}
	r := &reader{ctx: ctx, opts: opts, fn: fn, rep: &rep}
	if cur != nil && curID.dev == pos.Dev && curID.ino == pos.Ino && curID.size >= pos.Offset {
		if h, err := hashBefore(cur, pos.Offset); err == nil && h == pos.Hash {
			return r.plain(cur, curID, path, pos.Offset, true)
		}
	}
	// The file at path is not the one we were reading: rotated
	// (rename+create), truncated in place (copytruncate), or replaced.
	if cur != nil && curID.dev == pos.Dev && curID.ino == pos.Ino {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%s was truncated or rewritten in place (copytruncate)", path))
	}
	old, err := findRotated(path, pos, curID)
	if err != nil {
		return Position{}, rep, err
	}
	if old != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("rotation followed: %s read from %d to its end", old.name, pos.Offset))
		next, done, err := old.read(r, pos)
		old.close()
		if err != nil || done || cur == nil {
			return next, rep, err
		}
	} else {
		rep.Notes = append(rep.Notes, fmt.Sprintf("position lost: %s was rotated and the old file is neither %s.1 nor %s.1.gz: reading %s from its start (lines in between are missed)", path, path, path, path))
	}
	if cur == nil {
		return Position{}, rep, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	return r.plain(cur, curID, path, 0, true)
}

type fileID struct {
	dev, ino uint64
	size     int64
}

func identify(f *os.File) (fileID, error) {
	fi, err := f.Stat()
	if err != nil {
		return fileID{}, err
	}
	if !fi.Mode().IsRegular() {
		return fileID{}, fmt.Errorf("%s is not a regular file", f.Name())
	}
	id := fileID{size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(st.Dev), uint64(st.Ino)
	}
	return id, nil
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// hashBefore hashes the hashSpan bytes before off in f.
func hashBefore(f io.ReaderAt, off int64) (string, error) {
	start := max(off-hashSpan, 0)
	buf := make([]byte, off-start)
	if _, err := f.ReadAt(buf, start); err != nil && !(errors.Is(err, io.EOF) && off == start) {
		return "", err
	}
	return hashOf(buf), nil
}

// lastLineEnd is the offset after the last newline of f, so that a first
// run at the end of a file does not count the tail of a torn line later.
func lastLineEnd(f *os.File, size int64) (int64, error) {
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	for end := size; end > 0; {
		start := max(end-chunk, 0)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// rotated is the old file found again: plain (PATH.1) or compressed.
type rotated struct {
	name string
	f    *os.File
	id   fileID
	gz   bool
}

func (o *rotated) close() { o.f.Close() }

// findRotated looks for the file pos was in among PATH.1 and PATH.1.gz:
// by inode and hash (rename+create), or by hash alone (copytruncate, or
// compressed). An offset of 0 hashes nothing, so then only the inode can
// say it is the same file.
func findRotated(path string, pos *Position, curID fileID) (*rotated, error) {
	for _, name := range []string{path + ".1", path + ".1.gz"} {
		f, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		id, err := identify(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		o := &rotated{name: name, f: f, id: id, gz: isGzip(f)}
		sameInode := id.dev == pos.Dev && id.ino == pos.Ino
		if !o.gz && (sameInode || pos.Offset > 0) && id.size >= pos.Offset {
			if h, err := hashBefore(f, pos.Offset); err == nil && h == pos.Hash {
				return o, nil
			}
		}
		if o.gz && pos.Offset > 0 {
			if h, _, _, err := gzipAt(f, pos.Offset); err == nil && h == pos.Hash {
				f.Seek(0, io.SeekStart)
				return o, nil
			}
		}
		f.Close()
	}
	return nil, nil
}

func isGzip(f *os.File) bool {
	var magic [2]byte
	n, _ := f.ReadAt(magic[:], 0)
	return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b
}

// gzipAt opens the decompressed stream of f at off and returns the hash of
// the bytes before off and a reader from off.
func gzipAt(f *os.File, off int64) (string, []byte, io.Reader, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", nil, nil, err
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return "", nil, nil, err
	}
	start := max(off-hashSpan, 0)
	if _, err := io.CopyN(io.Discard, zr, start); err != nil {
		return "", nil, nil, err
	}
	before := make([]byte, off-start)
	if _, err := io.ReadFull(zr, before); err != nil {
		return "", nil, nil, err
	}
	return hashOf(before), before, zr, nil
}

// read reads the rotated file from pos to its end. done says that MaxLines
// stopped it there.
func (o *rotated) read(r *reader, pos *Position) (Position, bool, error) {
	if !o.gz {
		next, err := r.plainFrom(o.f, o.id, o.name, pos.Offset, false)
		return next, r.rep.Backlog, err
	}
	_, before, zr, err := gzipAt(o.f, pos.Offset)
	if err != nil {
		return *pos, false, fmt.Errorf("%s: %w", o.name, err)
	}
	r.rep.Files = append(r.rep.Files, fmt.Sprintf("%s from %d", o.name, pos.Offset))
	// A compressed file has no usable inode for the position: keep the
	// original file's identity, which the hash finds again.
	r.tail = append(r.tail[:0], before...)
	next, err := r.lines(zr, pos.Dev, pos.Ino, pos.Offset, false, nil)
	return next, r.rep.Backlog, err
}

// reader reads lines for one Read.
type reader struct {
	ctx   context.Context
	opts  ReadOptions
	fn    func([]byte) bool
	rep   *ReadReport
	total int
	tail  []byte // the last hashSpan bytes consumed, for a position in a stream without ReadAt
}

func (r *reader) plain(f *os.File, id fileID, name string, off int64, live bool) (Position, ReadReport, error) {
	next, err := r.plainFrom(f, id, name, off, live)
	return next, *r.rep, err
}

func (r *reader) plainFrom(f *os.File, id fileID, name string, off int64, live bool) (Position, error) {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return Position{}, err
	}
	r.rep.Files = append(r.rep.Files, fmt.Sprintf("%s from %d", name, off))
	return r.lines(f, id.dev, id.ino, off, live, f)
}

// lines reads src from offset off. In a live file an unterminated last
// line is left unread; in a rotated one it is a line. at, when not nil,
// hashes the position; otherwise the consumed bytes are kept in r.tail.
func (r *reader) lines(src io.Reader, dev, ino uint64, off int64, live bool, at io.ReaderAt) (Position, error) {
	br := bufio.NewReaderSize(src, readBuffer)
	pos := Position{Dev: dev, Ino: ino, Offset: off}
	var long bool // inside a line longer than the buffer: its first part was given
	for {
		if r.opts.MaxLines > 0 && r.total >= r.opts.MaxLines {
			if _, err := br.Peek(1); err == nil {
				r.rep.Backlog = true
			}
			break
		}
		if r.total&0xfff == 0 {
			if err := r.ctx.Err(); err != nil {
				return Position{}, err
			}
		}
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if !long && !r.emit(line) {
				r.rep.Backlog = true
				break
			}
			long = true
			pos.Offset += int64(len(line))
			r.keep(line, at)
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return Position{}, err
		}
		if len(line) == 0 {
			break
		}
		complete := err == nil
		if !complete && live {
			// A torn last line: the writer has not finished it. If we were
			// inside a long line, its start was counted: move past it
			// anyway rather than count it again.
			if long {
				pos.Offset += int64(len(line))
				r.keep(line, at)
			}
			break
		}
		if !long && !r.emit(bytes.TrimSuffix(line, []byte("\n"))) {
			r.rep.Backlog = true
			break
		}
		long = false
		pos.Offset += int64(len(line))
		r.rep.Bytes += int64(len(line))
		r.keep(line, at)
		if !complete {
			break
		}
	}
	var err error
	if at != nil {
		pos.Hash, err = hashBefore(at, pos.Offset)
	} else {
		pos.Hash = hashOf(r.tail)
	}
	return pos, err
}

func (r *reader) emit(line []byte) bool {
	if !r.fn(line) {
		return false
	}
	r.total++
	r.rep.Lines++
	return true
}

// keep remembers the consumed bytes' tail when the source cannot be read
// again at an offset (a compressed file).
func (r *reader) keep(b []byte, at io.ReaderAt) {
	if at != nil {
		return
	}
	if len(b) >= hashSpan {
		r.tail = append(r.tail[:0], b[len(b)-hashSpan:]...)
		return
	}
	r.tail = append(r.tail, b...)
	if n := len(r.tail) - hashSpan; n > 0 {
		r.tail = append(r.tail[:0], r.tail[n:]...)
	}
}
