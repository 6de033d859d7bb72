package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
)

// RPM header tags rewritten by RelativePayload.
const (
	sigTagSize          = 1000 // header + compressed payload, bytes
	sigTagSHA256        = 273  // hex SHA-256 of the main header
	headerTagPayloadSHA = 5092 // hex SHA-256 of the compressed payload
)

// RelativePayload rewrites an .rpm written by nfpm so that its cpio payload
// names files "./usr/..." as rpmbuild does, not "/usr/...": with absolute
// names, `rpm2cpio x.rpm | cpio -idm` (the usual way to look inside a
// package) writes into / instead of the current folder. rpm itself reads
// either. Only the payload, its digest in the main header, and the
// header's digest and the size in the signature change; the digests keep
// their length, so every other byte stays where it was.
func RelativePayload(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := relativePayload(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}

func relativePayload(b []byte) ([]byte, error) {
	const leadSize = 96
	sig, err := parseHeader(b, leadSize)
	if err != nil {
		return nil, fmt.Errorf("signature header: %w", err)
	}
	for _, t := range []uint32{267, 268, 1002} { // DSA, RSA, PGP
		if _, ok := sig.entries[t]; ok {
			return nil, fmt.Errorf("signed package: rewriting the payload would break the signature (sign after make package)")
		}
	}
	hdrStart := sig.end
	if pad := (sig.end - leadSize) % 8; pad != 0 {
		hdrStart += 8 - pad
	}
	hdr, err := parseHeader(b, hdrStart)
	if err != nil {
		return nil, fmt.Errorf("main header: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b[hdr.end:]))
	if err != nil {
		return nil, fmt.Errorf("payload: %w (want gzip)", err)
	}
	archive, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	archive, err = relativeCpio(archive)
	if err != nil {
		return nil, err
	}
	var payload bytes.Buffer
	zw, err := gzip.NewWriterLevel(&payload, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(archive); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}

	out := append([]byte{}, b[:hdr.end]...)
	pd := sha256.Sum256(payload.Bytes())
	if err := hdr.setHex(out, headerTagPayloadSHA, pd[:]); err != nil {
		return nil, err
	}
	hd := sha256.Sum256(out[hdrStart:hdr.end])
	if err := sig.setHex(out, sigTagSHA256, hd[:]); err != nil {
		return nil, err
	}
	if err := sig.setInt32(out, sigTagSize, uint32(hdr.end-hdrStart+payload.Len())); err != nil {
		return nil, err
	}
	return append(out, payload.Bytes()...), nil
}

// header is one RPM header structure: index entries and data store.
type header struct {
	entries map[uint32][2]uint32 // tag -> type, offset into the store
	store   int                  // where the data store starts
	end     int
}

func parseHeader(b []byte, at int) (header, error) {
	if len(b) < at+16 || !bytes.Equal(b[at:at+3], []byte{0x8e, 0xad, 0xe8}) {
		return header{}, fmt.Errorf("no header magic at %d", at)
	}
	n := int(binary.BigEndian.Uint32(b[at+8:]))
	size := int(binary.BigEndian.Uint32(b[at+12:]))
	h := header{entries: map[uint32][2]uint32{}, store: at + 16 + 16*n}
	h.end = h.store + size
	if h.end > len(b) {
		return header{}, fmt.Errorf("header at %d runs past the file", at)
	}
	for i := 0; i < n; i++ {
		e := b[at+16+16*i:]
		h.entries[binary.BigEndian.Uint32(e)] = [2]uint32{binary.BigEndian.Uint32(e[4:]), binary.BigEndian.Uint32(e[8:])}
	}
	return h, nil
}

// setHex overwrites the hex string (or first string of a string array) of
// tag with sum, which must have the length already there.
func (h header) setHex(b []byte, tag uint32, sum []byte) error {
	e, ok := h.entries[tag]
	if !ok || (e[0] != 6 && e[0] != 8) {
		return fmt.Errorf("tag %d: no string", tag)
	}
	s := hex.EncodeToString(sum)
	at := h.store + int(e[1])
	if end := bytes.IndexByte(b[at:], 0); end != len(s) {
		return fmt.Errorf("tag %d: %d hex digits, want %d", tag, end, len(s))
	}
	copy(b[at:], s)
	return nil
}

func (h header) setInt32(b []byte, tag uint32, v uint32) error {
	e, ok := h.entries[tag]
	if !ok || e[0] != 4 {
		return fmt.Errorf("tag %d: no int32", tag)
	}
	binary.BigEndian.PutUint32(b[h.store+int(e[1]):], v)
	return nil
}

// relativeCpio prefixes "." to every absolute name of a newc cpio archive.
func relativeCpio(a []byte) ([]byte, error) {
	const hdrLen = 110
	pad4 := func(n int) int { return (4 - n%4) % 4 }
	var out bytes.Buffer
	for pos := 0; ; {
		if pos+hdrLen > len(a) || string(a[pos:pos+6]) != "070701" {
			return nil, fmt.Errorf("payload: no newc cpio header at %d", pos)
		}
		field := func(i int) int {
			v, _ := strconv.ParseUint(string(a[pos+6+8*i:pos+14+8*i]), 16, 32)
			return int(v)
		}
		fileSize, nameSize := field(6), field(11)
		name := a[pos+hdrLen : pos+hdrLen+nameSize-1]
		dataAt := pos + hdrLen + nameSize + pad4(hdrLen+nameSize)
		next := dataAt + fileSize + pad4(fileSize)
		if next > len(a) {
			return nil, fmt.Errorf("payload: entry %q runs past the archive", name)
		}
		newName := name
		if bytes.HasPrefix(name, []byte("/")) {
			newName = append([]byte("."), name...)
		}
		h := append([]byte{}, a[pos:pos+hdrLen]...)
		copy(h[6+8*11:], fmt.Sprintf("%08X", len(newName)+1))
		out.Write(h)
		out.Write(newName)
		out.WriteByte(0)
		out.Write(make([]byte, pad4(hdrLen+len(newName)+1)))
		out.Write(a[dataAt : dataAt+fileSize])
		out.Write(make([]byte, pad4(fileSize)))
		pos = next
		if string(name) == "TRAILER!!!" {
			return out.Bytes(), nil
		}
	}
}
