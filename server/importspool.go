package server

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"kmcr/server/store"
)

// Import staging order. Feeds come a resource type at a time (every
// patient's allergies, then every patient's conditions...), so written as
// they come each store transaction would touch nearly every patient's
// part of the store: bbolt rewrites every page a transaction touches, and
// PostgreSQL's indexes are walked at random, so the cost per patient grew
// with the store. The spool instead holds what an import stages and hands
// it to the store grouped by source patient, in key order: each patient's
// resources are written once, together.
//
// Up to spoolMemory bytes are held in memory; past that, the spool moves
// everything into spoolParts files in a temporary folder, each holding the
// patients whose keys hash to it, and hands the parts over one at a time,
// so memory stays bounded by one part however large the import.
var spoolMemory = 64 << 20 // a variable so that a test can make an import spill

const spoolParts = 256

type spool struct {
	mem      []store.StagedResource
	memBytes int

	dir   string // set once spilled
	files []*os.File
	bufs  []*bufio.Writer
	tmp   []byte
}

func itemBytes(it store.StagedResource) int {
	return len(it.PatientKey) + len(it.Key) + len(it.FullURL) + len(it.Raw) + 96
}

// add keeps one staged resource.
func (sp *spool) add(it store.StagedResource) error {
	if sp.dir != "" {
		return sp.write(it)
	}
	sp.mem = append(sp.mem, it)
	sp.memBytes += itemBytes(it)
	if sp.memBytes < spoolMemory {
		return nil
	}
	return sp.spill()
}

// spill moves what memory holds into the part files, and every later item
// goes there.
func (sp *spool) spill() error {
	dir, err := os.MkdirTemp("", "kmcr-import-")
	if err != nil {
		return fmt.Errorf("import: a temporary folder for staging: %w", err)
	}
	sp.dir = dir
	for i := range spoolParts {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("part-%03d", i)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("import: staging file: %w", err)
		}
		sp.files = append(sp.files, f)
		sp.bufs = append(sp.bufs, bufio.NewWriterSize(f, 16<<10))
	}
	for _, it := range sp.mem {
		if err := sp.write(it); err != nil {
			return err
		}
	}
	sp.mem, sp.memBytes = nil, 0
	return nil
}

func partOf(patientKey string) int {
	h := fnv.New32a()
	h.Write([]byte(patientKey))
	return int(h.Sum32() % spoolParts)
}

func (sp *spool) write(it store.StagedResource) error {
	b := sp.tmp[:0]
	for _, f := range []string{it.PatientKey, it.Key, it.FullURL} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	b = binary.AppendUvarint(b, uint64(len(it.Raw)))
	b = append(b, it.Raw...)
	sp.tmp = b
	if _, err := sp.bufs[partOf(it.PatientKey)].Write(b); err != nil {
		return fmt.Errorf("import: writing staged resources to a temporary file: %w", err)
	}
	return nil
}

// drain hands everything kept to fn in batches of at most n, grouped by
// source patient in key order; of several items with one key, the one
// added last comes last.
func (sp *spool) drain(n int, fn func([]store.StagedResource) error) error {
	if sp.dir == "" {
		err := handOver(sp.mem, n, fn)
		sp.mem, sp.memBytes = nil, 0
		return err
	}
	for i, f := range sp.files {
		if err := sp.bufs[i].Flush(); err != nil {
			return fmt.Errorf("import: writing staged resources to a temporary file: %w", err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		items, err := readPart(bufio.NewReaderSize(f, 64<<10))
		if err != nil {
			return fmt.Errorf("import: reading staged resources back from %s: %w", f.Name(), err)
		}
		if err := handOver(items, n, fn); err != nil {
			return err
		}
		// A part handed over is not needed again: give its disk back.
		if err := f.Truncate(0); err != nil {
			return err
		}
	}
	return nil
}

func handOver(items []store.StagedResource, n int, fn func([]store.StagedResource) error) error {
	slices.SortStableFunc(items, func(a, b store.StagedResource) int {
		if c := strings.Compare(a.PatientKey, b.PatientKey); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	for len(items) > 0 {
		k := min(n, len(items))
		if err := fn(items[:k]); err != nil {
			return err
		}
		items = items[k:]
	}
	return nil
}

func readPart(r *bufio.Reader) ([]store.StagedResource, error) {
	var out []store.StagedResource
	field := func() ([]byte, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, err
		}
		b := make([]byte, n)
		_, err = io.ReadFull(r, b)
		return b, err
	}
	for {
		pk, err := field()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var f [3][]byte
		for i := range f {
			if f[i], err = field(); err != nil {
				return nil, fmt.Errorf("truncated: %w", err)
			}
		}
		out = append(out, store.StagedResource{PatientKey: string(pk), Key: string(f[0]), FullURL: string(f[1]), Raw: f[2]})
	}
}

// close removes the temporary files.
func (sp *spool) close() {
	for _, f := range sp.files {
		_ = f.Close()
	}
	if sp.dir != "" {
		_ = os.RemoveAll(sp.dir)
	}
	sp.files, sp.bufs, sp.dir = nil, nil, ""
}
