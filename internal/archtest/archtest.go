// Package archtest checks the dependency rule of docs/architecture.md
// against an import graph: which kmcr packages may reach which. The test
// runs it on the graph "go list -deps" reports for the whole module, and
// on synthetic graphs that break each rule, so a forbidden import fails
// the build's tests.
package archtest

import (
	"fmt"
	"slices"
	"strings"
)

// Graph maps an import path to the paths it imports directly.
type Graph map[string][]string

// Rule forbids packages From from reaching packages Forbidden, following
// imports transitively but not through the packages Through (the core is
// such a boundary: what it imports is its own business).
type Rule struct {
	Name      string
	From      func(pkg string) bool
	Forbidden func(dep string) bool
	Through   func(dep string) bool // nil: follow every import
}

// Violation is one forbidden dependency and the chain of imports that
// reaches it.
type Violation struct {
	Rule  string
	Chain []string // From package first, the forbidden one last
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: %s", v.Rule, strings.Join(v.Chain, " -> "))
}

// under reports whether pkg is path or inside it.
func under(pkg, path string) bool { return pkg == path || strings.HasPrefix(pkg, path+"/") }

func underAny(pkg string, paths ...string) bool {
	for _, p := range paths {
		if under(pkg, p) {
			return true
		}
	}
	return false
}

func kmcr(pkg string) bool { return under(pkg, "kmcr") }

// Rules are the module's dependency rules.
var Rules = []Rule{
	{
		// The screens and the command line see the core, the presentation
		// and the record, never what the core is built on.
		Name: "ui and cmd/kmcr use only core, present, record and internal helpers free of cache, sync and server",
		From: func(p string) bool { return p == "kmcr/ui" || p == "kmcr/cmd/kmcr" },
		Forbidden: func(d string) bool {
			return kmcr(d) && !underAny(d, "kmcr/core", "kmcr/present", "kmcr/record", "kmcr/ui", "kmcr/assets", "kmcr/internal")
		},
		Through: func(d string) bool { return d == "kmcr/core" },
	},
	{
		// Fyne stays in the screens, the programs and the bundled assets.
		Name:      "nothing below ui and cmd imports Fyne",
		From:      func(p string) bool { return kmcr(p) && !underAny(p, "kmcr/ui", "kmcr/cmd", "kmcr/assets", "kmcr/e2e") },
		Forbidden: func(d string) bool { return under(d, "fyne.io") },
	},
	{
		// The client and the leaf packages never depend on the server;
		// the server's programs, tests and test helpers may.
		Name: "leaf and client packages do not import the server",
		From: func(p string) bool {
			return kmcr(p) && !underAny(p, "kmcr/server", "kmcr/cmd/kmcr-server", "kmcr/cmd/kmcr-bench", "kmcr/e2e", "kmcr/internal/shareddata")
		},
		Forbidden: func(d string) bool { return under(d, "kmcr/server") },
	},
	{
		Name:      "record imports nothing of kmcr but internal helpers",
		From:      func(p string) bool { return p == "kmcr/record" },
		Forbidden: func(d string) bool { return kmcr(d) && d != "kmcr/record" && !under(d, "kmcr/internal") },
	},
	{
		Name:      "present imports nothing of kmcr but record and internal helpers",
		From:      func(p string) bool { return p == "kmcr/present" },
		Forbidden: func(d string) bool { return kmcr(d) && !underAny(d, "kmcr/present", "kmcr/record", "kmcr/internal") },
	},
}

// Check returns every violation of rules in g, one per (rule, package,
// forbidden dependency), each with the shortest import chain to it.
func Check(g Graph, rules []Rule) []Violation {
	pkgs := make([]string, 0, len(g))
	for p := range g {
		pkgs = append(pkgs, p)
	}
	slices.Sort(pkgs)
	var out []Violation
	for _, r := range rules {
		for _, p := range pkgs {
			if r.From(p) {
				out = append(out, reach(g, r, p)...)
			}
		}
	}
	return out
}

// reach walks g breadth-first from start and reports each forbidden
// package it reaches.
func reach(g Graph, r Rule, start string) []Violation {
	prev := map[string]string{start: ""}
	queue := []string{start}
	var out []Violation
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, d := range g[p] {
			if _, seen := prev[d]; seen {
				continue
			}
			prev[d] = p
			if r.Forbidden(d) {
				var chain []string
				for x := d; x != ""; x = prev[x] {
					chain = append(chain, x)
				}
				slices.Reverse(chain)
				out = append(out, Violation{Rule: r.Name, Chain: chain})
				continue
			}
			if r.Through != nil && r.Through(d) {
				continue
			}
			queue = append(queue, d)
		}
	}
	return out
}
