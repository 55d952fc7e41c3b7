// Command traindict trains the zstd dictionary the sync protocol embeds
// (sync/protocol/dict/dN.zdict) on FHIR summaries: the documents
// kmcr-server builds from generated demo patients and from the public
// FHIR test data in ../shared/fhir when it is there.
//
//	go run ./server/traindict -id 1 -o sync/protocol/dict/d1.zdict
//
// A new dictionary gets a new id; the old files stay, so older peers keep
// negotiating the dictionary they have. The output is deterministic for
// the same flags and data.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/klauspost/compress/zstd"

	"kmcr/demo"
	"kmcr/server"
	"kmcr/server/store"
)

func main() {
	id := flag.Uint("id", 1, "dictionary id (names the subprotocol kmcr.sync.v1+zstd.dID)")
	out := flag.String("o", "", "output file (required)")
	patients := flag.Int("patients", 400, "demo patients to generate for training")
	seed := flag.Uint64("seed", 1101, "demo seed for training (tests use other seeds, so they measure unseen documents)")
	shared := flag.String("shared", "../shared/fhir", "public FHIR test data to add, if present")
	size := flag.Int("size", 96<<10, "dictionary content size in bytes")
	flag.Parse()
	if *out == "" || *id == 0 {
		fmt.Fprintln(os.Stderr, "traindict: -o FILE and -id N (N > 0) are required")
		os.Exit(2)
	}
	if err := run(uint32(*id), *out, *patients, *seed, *shared, *size); err != nil {
		fmt.Fprintln(os.Stderr, "traindict:", err)
		os.Exit(1)
	}
}

func run(id uint32, out string, patients int, seed uint64, shared string, size int) error {
	tmp, err := os.MkdirTemp("", "traindict")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	samples, err := summaries(tmp, patients, seed, shared)
	if err != nil {
		return err
	}
	hist := history(samples, size)
	// BuildDict's statistics pass takes pieces of at most one block.
	var contents [][]byte
	for _, s := range samples {
		for len(s) > 64<<10 {
			contents = append(contents, s[:64<<10])
			s = s[64<<10:]
		}
		contents = append(contents, s)
	}
	dict, err := zstd.BuildDict(zstd.BuildDictOptions{
		ID: id, Contents: contents, History: hist, Offsets: [3]int{1, 4, 8}, Level: zstd.SpeedDefault,
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, dict, 0o644); err != nil {
		return err
	}
	raw, plain, withDict := 0, 0, 0
	encPlain, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	encDict, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderDict(dict))
	if err != nil {
		return err
	}
	for _, s := range samples {
		raw += len(s)
		plain += len(encPlain.EncodeAll(s, nil))
		withDict += len(encDict.EncodeAll(s, nil))
	}
	fmt.Printf("%d summaries, %d bytes; zstd alone %.1fx, with the %d-byte dictionary %.1fx (per document)\n",
		len(samples), raw, float64(raw)/float64(plain), len(dict), float64(raw)/float64(withDict))
	return nil
}

// summaries imports the training data into a scratch store and returns
// every patient's documents, as the server sends them.
func summaries(dir string, patients int, seed uint64, shared string) ([][]byte, error) {
	data := filepath.Join(dir, "demo")
	if _, err := demo.Write(data, demo.Options{Patients: patients, Seed: seed}); err != nil {
		return nil, err
	}
	paths := []string{data}
	for _, sub := range []string{"uk", "synthea-bundles", "bulk-ndjson"} {
		if _, err := os.Stat(filepath.Join(shared, sub)); err == nil {
			paths = append(paths, filepath.Join(shared, sub))
		}
	}
	st, err := store.OpenBolt(filepath.Join(dir, "store"), time.Second)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	svc, err := server.New(server.Config{Store: st, Logf: func(string, ...any) {}})
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		// One path at a time: the public data has files the importer
		// refuses in part, which must not stop the rest.
		if _, err := svc.Import([]string{p}, nil); err != nil {
			fmt.Fprintf(os.Stderr, "traindict: importing %s: %v (skipped)\n", p, err)
		}
	}
	seen := map[string]bool{}
	err = st.Changes(0, func(c store.Change) error {
		if c.Kind == store.ChangePatient {
			seen[c.NHS] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	nhs := make([]string, 0, len(seen))
	for n := range seen {
		nhs = append(nhs, n)
	}
	sort.Strings(nhs)
	var out [][]byte
	for _, n := range nhs {
		for _, kind := range []string{store.DocFull, store.DocDemographics} {
			d, err := st.Doc(n, kind)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no summaries to train on")
	}
	return out, nil
}

// history picks the dictionary content: the JSON fragments that occur in
// the most documents, weighted by length, the most valuable last (zstd
// reaches the end of a dictionary with the shortest offsets).
func history(samples [][]byte, size int) []byte {
	type frag struct {
		s     string
		docs  int
		score int
	}
	count := map[string]int{}
	for _, doc := range samples {
		mine := map[string]bool{}
		for _, f := range fragments(doc) {
			if !mine[f] {
				mine[f] = true
				count[f]++
			}
		}
	}
	var fs []frag
	for s, n := range count {
		if n < 2 {
			continue
		}
		fs = append(fs, frag{s, n, n * len(s)})
	}
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].score != fs[j].score {
			return fs[i].score > fs[j].score
		}
		return fs[i].s < fs[j].s
	})
	var chosen []string
	total := 0
	for _, f := range fs {
		if total+len(f.s) > size {
			continue
		}
		chosen = append(chosen, f.s)
		total += len(f.s)
	}
	var b bytes.Buffer
	for i := len(chosen) - 1; i >= 0; i-- {
		b.WriteString(chosen[i])
	}
	return b.Bytes()
}

// fragments cuts a JSON document at value boundaries into pieces of about
// 24 to 160 bytes.
func fragments(doc []byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		if c != ',' && c != '{' && c != '[' && c != '}' {
			continue
		}
		if i+1-start >= 24 {
			if i+1-start <= 160 {
				out = append(out, string(doc[start:i+1]))
			}
			start = i + 1
		}
	}
	return out
}
