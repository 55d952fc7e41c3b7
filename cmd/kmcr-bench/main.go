// Command kmcr-bench measures kmcr against baselines taken in the same run
// and prints a table of ratios: the product's speed goals live here, never
// in timed tests.
//
// Usage:
//
//	kmcr-bench [SUITE...]      (default: every suite)
//
// Each suite prints its own table. Absolute times depend on the machine;
// the ratios against the same-run baseline are what to compare.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// suite is one group of measurements.
type suite struct {
	name    string
	summary string
	run     func(w io.Writer, opt options) error
}

// options apply to every suite.
type options struct {
	quick    bool // smaller sizes, for a smoke test in CI
	dir      string
	patients int // the store suite's import size (0: its default)
}

var suites = map[string]*suite{}

func register(s *suite) { suites[s.name] = s }

func main() {
	quick := flag.Bool("quick", false, "smaller sizes (a smoke test, not a measurement)")
	dir := flag.String("dir", "", "scratch folder (default: a new temporary folder)")
	patients := flag.Int("patients", 0, "store: patients to import (default 100,000); past 100,000 PostgreSQL also imports them in slices of 100,000 into one database, reporting the cost per patient of each slice")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: kmcr-bench [--quick] [--patients N] [SUITE...]\n\nSuites:")
		for _, n := range names() {
			fmt.Fprintf(os.Stderr, "  %-8s %s\n", n, suites[n].summary)
		}
	}
	flag.Parse()
	opt := options{quick: *quick, dir: *dir, patients: *patients}
	if opt.dir == "" {
		d, err := os.MkdirTemp("", "kmcr-bench-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer os.RemoveAll(d)
		opt.dir = d
	}
	want := flag.Args()
	if len(want) == 0 {
		want = names()
	}
	failed := false
	for _, n := range want {
		s, ok := suites[n]
		if !ok {
			fmt.Fprintf(os.Stderr, "kmcr-bench: unknown suite %q (have %s)\n", n, strings.Join(names(), ", "))
			os.Exit(2)
		}
		fmt.Printf("\n## %s: %s\n\n", s.name, s.summary)
		start := time.Now()
		if err := s.run(os.Stdout, opt); err != nil {
			fmt.Fprintf(os.Stderr, "kmcr-bench %s: %v\n", n, err)
			failed = true
		}
		fmt.Printf("(%s took %s)\n", n, time.Since(start).Round(time.Millisecond))
	}
	if failed {
		os.Exit(1)
	}
}

func names() []string {
	out := make([]string, 0, len(suites))
	for n := range suites {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// table prints aligned rows.
type table struct {
	w    io.Writer
	rows [][]string
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) flush() {
	widths := map[int]int{}
	for _, r := range t.rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for i, r := range t.rows {
		var b strings.Builder
		b.WriteString("| ")
		for j, c := range r {
			b.WriteString(c + strings.Repeat(" ", widths[j]-utf8.RuneCountInString(c)) + " | ")
		}
		fmt.Fprintln(t.w, strings.TrimRight(b.String(), " "))
		if i == 0 {
			b.Reset()
			b.WriteString("|")
			for j := range r {
				b.WriteString(strings.Repeat("-", widths[j]+2) + "|")
			}
			fmt.Fprintln(t.w, b.String())
		}
	}
	t.rows = nil
}
