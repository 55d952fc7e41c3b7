package record

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// ndjsonBufferSize is the read buffer for NDJSON. Lines longer than this
// are assembled in a separate buffer, which stops growing at
// MaxResourceSize: the rest of an over-long line is read and dropped.
const ndjsonBufferSize = 64 << 10

// maxLineRead bounds how much of one over-long line is read and dropped
// before the rest of the file is given up: a line that never ends (a file
// of one endless line) must not keep the import reading.
const maxLineRead = 8 * MaxResourceSize

// errEndlessLine is readLine's error for a line past maxLineRead.
var errEndlessLine = errors.New("line with no end in sight")

// readNDJSON streams one FHIR Bulk Data file: one resource a line, blank
// lines ignored. Each bad line is one rejection; the others still import.
func (s *scanState) readNDJSON(path string) error {
	f, _, err := openRegular(path)
	if err != nil {
		s.rep.reject(Source{File: path}, "cannot read: %v", unwrapPathError(err))
		return nil
	}
	defer f.Close()
	return s.scanNDJSON(path, f)
}

func (s *scanState) scanNDJSON(path string, r io.Reader) error {
	br := bufio.NewReaderSize(r, ndjsonBufferSize)
	var line []byte
	found := false
	for n := 1; ; n++ {
		var size int
		var err error
		line, size, err = readLine(br, line[:0], MaxResourceSize)
		src := lineSource(path, n)
		if errors.Is(err, errEndlessLine) {
			s.rep.reject(src, "line is over %s; it and the rest of the file are not read", byteSize(maxLineRead))
			return nil
		}
		switch {
		case size > MaxResourceSize:
			found = true
			s.rep.reject(src, "resource is over the %s limit (line skipped)", byteSize(MaxResourceSize))
		case len(bytes.TrimSpace(line)) > 0:
			found = true
			if e := s.ndjsonLine(line, src); e != nil {
				return e
			}
		}
		if err == io.EOF {
			if !found {
				s.rep.Warnings = append(s.rep.Warnings, Warning{Source{File: path}, "file holds no resources"})
			}
			return nil
		}
		if err != nil {
			s.rep.reject(src, "read error: %v", err)
			return nil
		}
	}
}

// readLine appends the next line (without its newline) to buf and returns
// it with the line's full length. Once the length passes limit, the rest of
// the line is read and dropped, so memory stays bounded by the limit
// however long the line; past maxLineRead it stops with errEndlessLine, so
// reading stays bounded too. err is io.EOF after the last line.
func readLine(br *bufio.Reader, buf []byte, limit int) ([]byte, int, error) {
	size := 0
	for {
		chunk, err := br.ReadSlice('\n')
		size += len(chunk)
		if size <= limit+1 { // +1: the newline is not part of the resource
			buf = appendDoubling(buf, chunk)
		}
		if size > maxLineRead {
			return buf[:0], size, errEndlessLine
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(buf, []byte{'\n'}), size - 1, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return buf, size, err
		}
	}
}

func (s *scanState) ndjsonLine(line []byte, src Source) error {
	start, end, depth, err := checkDocument(line)
	if err != nil {
		s.rep.reject(src, "malformed JSON: %v", err)
		return nil
	}
	raw := line[start:end]
	if reason := checkParsed(raw, depth); reason != "" {
		s.rep.reject(src, "%s", reason)
		return nil
	}
	raw = bytes.Clone(raw) // line is reused for the next one
	h := readHeader(raw)
	r := Resource{Type: h.typ, ID: h.id, Raw: raw, Security: h.security, Contained: h.contained, Source: src}
	return s.accept(r, &h, plainResolver{}, "")
}

// appendDoubling is append with the capacity doubled when it grows, so a
// long line costs about twice its length in allocations, not the five times
// append's gentler growth for large slices would.
func appendDoubling(buf, more []byte) []byte {
	if need := len(buf) + len(more); need > cap(buf) {
		grown := make([]byte, len(buf), max(need, 2*cap(buf)))
		copy(grown, buf)
		buf = grown
	}
	return append(buf, more...)
}
