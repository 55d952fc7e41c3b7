package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"kmcr/demo"
	"kmcr/server"
	"kmcr/server/store"
)

// realDocs builds the full documents of n demo patients with the real
// importer (on bbolt), the bytes PostgreSQL would keep.
func realDocs(b *testing.B, n int) [][]byte {
	b.Helper()
	seed := b.TempDir()
	if _, err := demo.Write(seed, demo.Options{Patients: n, Seed: 7}); err != nil {
		b.Fatal(err)
	}
	st, err := store.OpenBolt(b.TempDir(), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	svc, err := server.New(server.Config{Store: st, Logf: func(string, ...any) {}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.Import([]string{seed}, nil); err != nil {
		b.Fatal(err)
	}
	var docs [][]byte
	for i := range n {
		d, err := st.Doc(demo.NHSNumber(7, i).Digits(), store.DocFull)
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, d)
	}
	return docs
}

// BenchmarkDocumentColumn compares keeping documents as bytea with jsonb:
// writing 1,000 real documents, reading them all back, and the table's
// size (docs/storage.md has the numbers and the choice).
func BenchmarkDocumentColumn(b *testing.B) {
	docs := realDocs(b, 1000)
	var raw int64
	byNHS := map[string][]byte{}
	for i, d := range docs {
		raw += int64(len(d))
		byNHS[demo.NHSNumber(7, i).Digits()] = d
	}
	for _, typ := range []string{"bytea", "jsonb"} {
		b.Run(typ, func(b *testing.B) {
			url := newDB(b)
			ctx := context.Background()
			c, err := pgx.Connect(ctx, url)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(ctx)
			var read time.Duration
			var size int64
			identical := true
			for i := range b.N {
				if _, err := c.Exec(ctx, "DROP TABLE IF EXISTS d; CREATE TABLE d (nhs text PRIMARY KEY, body "+typ+")"); err != nil {
					b.Fatal(err)
				}
				rows := make([][]any, len(docs))
				for j, d := range docs {
					if typ == "jsonb" {
						rows[j] = []any{demo.NHSNumber(7, j).Digits(), string(d)}
					} else {
						rows[j] = []any{demo.NHSNumber(7, j).Digits(), d}
					}
				}
				if _, err := c.CopyFrom(ctx, pgx.Identifier{"d"}, []string{"nhs", "body"}, pgx.CopyFromRows(rows)); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				q := "SELECT nhs, body FROM d ORDER BY nhs"
				if typ == "jsonb" {
					q = "SELECT nhs, body::text FROM d ORDER BY nhs"
				}
				r, err := c.Query(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				j := 0
				for r.Next() {
					var nhs string
					var got []byte
					if err := r.Scan(&nhs, &got); err != nil {
						b.Fatal(err)
					}
					if string(got) != string(byNHS[nhs]) {
						identical = false
					}
					j++
				}
				if j != len(docs) {
					b.Fatalf("read %d documents of %d", j, len(docs))
				}
				r.Close()
				read += time.Since(start)
				if i == 0 {
					if err := c.QueryRow(ctx, "SELECT pg_total_relation_size('d')").Scan(&size); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(read.Microseconds())/float64(b.N)/1000, "ms-read-all")
			b.ReportMetric(float64(size)/float64(raw), "size/raw")
			b.ReportMetric(float64(raw)/float64(len(docs)), "bytes/doc")
			if !identical {
				b.ReportMetric(0, "bytes-identical")
			} else {
				b.ReportMetric(1, "bytes-identical")
			}
		})
	}
}
