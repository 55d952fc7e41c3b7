package protocol

import (
	"embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Compression is negotiated per connection in the websocket subprotocol
// list: a client offers "kmcr.sync.v1+zstd.dN" for every dictionary it
// has, newest first, then plain Subprotocol; the server picks the first of
// its own list the client offered. A client or server without compression
// speaks plain Subprotocol and is still understood. With "+zstd.dN" every
// websocket message, both ways, is one zstd frame (of the kmcr frame
// above) compressed with dictionary N.
//
// Dictionaries are named by id: a later one is added under a new id
// beside the old ones, so an older peer keeps negotiating the one it has.
// Each is trained on FHIR summaries by server/traindict and embedded here.

// zstdMarker separates the protocol name from its compression suffix.
const zstdMarker = "+zstd.d"

//go:embed dict/*.zdict
var dictFS embed.FS

// dictionary is one embedded zstd dictionary.
type dictionary struct {
	id   uint32
	data []byte
}

var (
	dictsOnce sync.Once
	dicts     []dictionary // newest (highest id) first
	dictsErr  error
)

// loadDicts reads the embedded dictionaries, named dict/dN.zdict.
func loadDicts() ([]dictionary, error) {
	dictsOnce.Do(func() {
		ents, err := dictFS.ReadDir("dict")
		if err != nil {
			dictsErr = err
			return
		}
		for _, e := range ents {
			name := strings.TrimSuffix(e.Name(), ".zdict")
			id, err := strconv.ParseUint(strings.TrimPrefix(name, "d"), 10, 32)
			if err != nil || !strings.HasPrefix(name, "d") {
				dictsErr = fmt.Errorf("embedded dictionary %q is not named dN.zdict", e.Name())
				return
			}
			data, err := dictFS.ReadFile("dict/" + e.Name())
			if err != nil {
				dictsErr = err
				return
			}
			dicts = append(dicts, dictionary{id: uint32(id), data: data})
		}
		slices.SortFunc(dicts, func(a, b dictionary) int { return int(b.id) - int(a.id) })
	})
	return dicts, dictsErr
}

// DictionaryIDs lists the embedded dictionaries' ids, newest first.
func DictionaryIDs() []uint32 {
	ds, _ := loadDicts()
	ids := make([]uint32, len(ds))
	for i, d := range ds {
		ids[i] = d.id
	}
	return ids
}

// Dictionary returns the embedded dictionary with id, nil if there is
// none (for benchmarks and tools).
func Dictionary(id uint32) []byte {
	ds, _ := loadDicts()
	for _, d := range ds {
		if d.id == id {
			return d.data
		}
	}
	return nil
}

// CompressedSubprotocol is the subprotocol name for zstd with dictionary id.
func CompressedSubprotocol(id uint32) string {
	return Subprotocol + zstdMarker + strconv.FormatUint(uint64(id), 10)
}

// Subprotocols is the list a peer offers (client) or accepts (server), in
// order of preference: each embedded dictionary, newest first, then the
// uncompressed protocol.
func Subprotocols() []string {
	var out []string
	for _, id := range DictionaryIDs() {
		out = append(out, CompressedSubprotocol(id))
	}
	return append(out, Subprotocol)
}

// Supported reports whether name is a subprotocol this build speaks.
func Supported(name string) bool { return slices.Contains(Subprotocols(), name) }

// Compression names the compression a negotiated subprotocol implies:
// "" for none, "zstd.dN" otherwise.
func Compression(subprotocol string) string {
	if i := strings.Index(subprotocol, zstdMarker); i >= 0 {
		return subprotocol[i+1:]
	}
	return ""
}

// codec compresses and decompresses one connection's frames. Encoders
// and decoders are shared (EncodeAll and DecodeAll are safe for
// concurrent use), one decoder per read limit.
type codec struct {
	id    uint32
	enc   *zstd.Encoder
	dec   *zstd.Decoder
	limit int
}

var (
	codecMu sync.Mutex
	codecs  = map[[2]uint64]*codec{}
)

// codecFor returns the codec for a negotiated subprotocol and read limit,
// nil when the subprotocol is uncompressed or unknown.
func codecFor(subprotocol string, readLimit int64) (*codec, error) {
	c := Compression(subprotocol)
	if c == "" {
		return nil, nil
	}
	id64, err := strconv.ParseUint(strings.TrimPrefix(c, "zstd.d"), 10, 32)
	if err != nil {
		return nil, fmt.Errorf("subprotocol %q: bad dictionary id", subprotocol)
	}
	id := uint32(id64)
	key := [2]uint64{id64, uint64(readLimit)}
	codecMu.Lock()
	defer codecMu.Unlock()
	if cd, ok := codecs[key]; ok {
		return cd, nil
	}
	ds, err := loadDicts()
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(ds, func(d dictionary) bool { return d.id == id })
	if i < 0 {
		return nil, fmt.Errorf("subprotocol %q: no dictionary %d in this build", subprotocol, id)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderDict(ds[i].data), zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderDicts(ds[i].data),
		zstd.WithDecoderMaxMemory(uint64(readLimit)), zstd.WithDecoderMaxWindow(uint64(readLimit)),
		zstd.WithDecoderConcurrency(0))
	if err != nil {
		return nil, err
	}
	cd := &codec{id: id, enc: enc, dec: dec, limit: int(readLimit)}
	codecs[key] = cd
	return cd, nil
}

func (cd *codec) compress(frame []byte) []byte { return cd.enc.EncodeAll(frame, nil) }

// decompress expands one received message, refusing to produce more than
// the read limit (a decompression bomb fails before it has expanded).
func (cd *codec) decompress(wire []byte) ([]byte, error) {
	out, err := cd.dec.DecodeAll(wire, nil)
	switch {
	case errors.Is(err, zstd.ErrDecoderSizeExceeded), errors.Is(err, zstd.ErrWindowSizeExceeded), errors.Is(err, zstd.ErrFrameSizeExceeded):
		return nil, fmt.Errorf("compressed frame of %d bytes expands past the %d-byte limit: %w", len(wire), cd.limit, ErrTooLarge)
	case err != nil:
		// Corrupt, or an unknown dictionary: close code CloseProtocolError.
		return nil, fmt.Errorf("%w: cannot decompress a frame of %d bytes: %v", ErrMalformed, len(wire), err)
	case len(out) > cd.limit:
		return nil, fmt.Errorf("compressed frame of %d bytes expands past the %d-byte limit: %w", len(wire), cd.limit, ErrTooLarge)
	}
	return out, nil
}
