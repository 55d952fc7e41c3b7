package cache

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt's meta page layout (bbolt file format version 2), read in native
// byte order as bbolt writes it. Only what the truncation check needs.
const (
	boltPageHeader = 16 // id (8), flags (2), count (2), overflow (4)
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	bmMagic        = 0
	bmVersion      = 4
	bmPageSize     = 8
	bmPgid         = 40 // high-water mark: pages [0, pgid) are in use
	bmTxid         = 48
	bmChecksum     = 56 // FNV-64a over bytes [0, 56)
	bmSize         = 64
)

// checkBoltFile refuses a cache.db shorter than its own meta page says it
// is. bbolt memory-maps the file and would touch pages beyond the end,
// which kills the process with a fault that cannot be recovered; checking
// first turns a truncated file into ErrCorrupt.
func checkBoltFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening cache.db: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("opening cache.db: %w", err)
	}
	size := st.Size()
	meta0, ok0 := readBoltMeta(f, boltPageHeader)
	pageSize := int64(os.Getpagesize())
	if ok0 {
		pageSize = int64(binary.NativeEndian.Uint32(meta0[bmPageSize:]))
	}
	meta1, ok1 := readBoltMeta(f, pageSize+boltPageHeader)
	var meta []byte
	switch {
	case ok0 && ok1:
		meta = meta0
		if binary.NativeEndian.Uint64(meta1[bmTxid:]) > binary.NativeEndian.Uint64(meta0[bmTxid:]) {
			meta = meta1
		}
	case ok0:
		meta = meta0
	case ok1:
		meta = meta1
	default:
		return fmt.Errorf("%w: cache.db is not a valid database file (%d bytes; both meta pages are unreadable)", ErrCorrupt, size)
	}
	pageSize = int64(binary.NativeEndian.Uint32(meta[bmPageSize:]))
	pgid := binary.NativeEndian.Uint64(meta[bmPgid:])
	if pageSize < 512 || pageSize > 1<<20 || pgid > uint64(size)/uint64(pageSize) {
		return fmt.Errorf("%w: cache.db is truncated (%d bytes, but it records %d pages of %d bytes)", ErrCorrupt, size, pgid, pageSize)
	}
	return nil
}

func readBoltMeta(r io.ReaderAt, off int64) ([]byte, bool) {
	m := make([]byte, bmSize)
	if _, err := r.ReadAt(m, off); err != nil {
		return nil, false
	}
	if binary.NativeEndian.Uint32(m[bmMagic:]) != boltMagic || binary.NativeEndian.Uint32(m[bmVersion:]) != boltVersion {
		return nil, false
	}
	h := fnv.New64a()
	h.Write(m[:bmChecksum])
	return m, h.Sum64() == binary.NativeEndian.Uint64(m[bmChecksum:])
}
