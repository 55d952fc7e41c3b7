package archtest

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// touchSources stats every Go file of the module, so that go test's cache
// knows the result depends on them: without it, a forbidden import added
// to another package would leave this test's cached pass in place.
func touchSources(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir(filepath.Join("..", ".."), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != filepath.Join("..", "..") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(d.Name(), ".go") || d.Name() == "go.mod") {
			_, err = os.Stat(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// goList returns the import graph of every package of the module and
// everything it depends on, as "go list -deps" reports it (tests' own
// imports are not part of it).
func goList(t *testing.T) Graph {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command on PATH to list the module (go test puts its own first): %v", err)
	}
	cmd := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "kmcr/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	g := Graph{}
	for _, ln := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(ln)
		g[f[0]] = f[1:]
	}
	return g
}

// TestModule_FollowsTheDependencyRule runs the rules on the module.
func TestModule_FollowsTheDependencyRule(t *testing.T) {
	touchSources(t)
	g := goList(t)
	for _, p := range []string{"kmcr/ui", "kmcr/cmd/kmcr", "kmcr/record", "kmcr/core", "kmcr/present"} {
		if _, ok := g[p]; !ok {
			t.Fatalf("go list did not report %s: the graph is not the module's", p)
		}
	}
	for _, v := range Check(g, Rules) {
		t.Error(v)
	}
}

// TestCheck_CatchesEachRule feeds the checker graphs that break one rule
// each (directly and through an intermediate package), and the same graphs
// mended, so the module test above can fail.
func TestCheck_CatchesEachRule(t *testing.T) {
	base := Graph{
		"kmcr/cmd/kmcr":   {"kmcr/ui", "kmcr/core", "kmcr/present", "kmcr/internal/cli", "fyne.io/fyne/v2/app"},
		"kmcr/ui":         {"kmcr/core", "kmcr/present", "kmcr/record", "fyne.io/fyne/v2"},
		"kmcr/core":       {"kmcr/cache", "kmcr/sync/syncclient", "kmcr/record", "kmcr/present", "kmcr/audit"},
		"kmcr/cache":      {"kmcr/record", "go.etcd.io/bbolt"},
		"kmcr/present":    {"kmcr/record"},
		"kmcr/record":     {"strings"},
		"kmcr/server":     {"kmcr/server/store", "kmcr/record"},
		"kmcr/internal/x": {"strings"},
		"fyne.io/fyne/v2": {"image"},
	}
	tests := []struct {
		name string
		add  map[string][]string // imports added to base
		want string              // the rule broken, "" for none
		via  string              // the chain expected, joined by " -> "
	}{
		{"the module as drawn", nil, "", ""},
		{"ui imports cache", map[string][]string{"kmcr/ui": {"kmcr/cache"}}, "ui and cmd/kmcr", "kmcr/ui -> kmcr/cache"},
		{"cmd/kmcr imports syncclient", map[string][]string{"kmcr/cmd/kmcr": {"kmcr/sync/syncclient"}}, "ui and cmd/kmcr", "kmcr/cmd/kmcr -> kmcr/sync/syncclient"},
		{"ui reaches the server through an internal helper", map[string][]string{"kmcr/ui": {"kmcr/internal/x"}, "kmcr/internal/x": {"kmcr/server"}}, "ui and cmd/kmcr", "kmcr/ui -> kmcr/internal/x -> kmcr/server"},
		{"cache imports Fyne", map[string][]string{"kmcr/cache": {"fyne.io/fyne/v2"}}, "Fyne", "kmcr/cache -> fyne.io/fyne/v2"},
		{"core reaches Fyne through present", map[string][]string{"kmcr/present": {"fyne.io/fyne/v2/widget"}}, "Fyne", "kmcr/core -> kmcr/present -> fyne.io/fyne/v2/widget"},
		{"cache imports the server's store", map[string][]string{"kmcr/cache": {"kmcr/server/store"}}, "do not import the server", "kmcr/cache -> kmcr/server/store"},
		{"record imports cache", map[string][]string{"kmcr/record": {"kmcr/cache"}}, "record imports nothing", "kmcr/record -> kmcr/cache"},
		{"present imports core", map[string][]string{"kmcr/present": {"kmcr/core"}}, "present imports nothing", "kmcr/present -> kmcr/core"},
		{"record may use an internal helper", map[string][]string{"kmcr/record": {"kmcr/internal/x"}}, "", ""},
		{"the server may import cache", map[string][]string{"kmcr/server": {"kmcr/cache"}}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := Graph{}
			for p, d := range base {
				g[p] = append([]string(nil), d...)
			}
			for p, d := range tt.add {
				g[p] = append(g[p], d...)
			}
			vs := Check(g, Rules)
			if tt.want == "" {
				for _, v := range vs {
					t.Errorf("unexpected %s", v)
				}
				return
			}
			found := false
			for _, v := range vs {
				if strings.Contains(v.Rule, tt.want) && strings.Join(v.Chain, " -> ") == tt.via {
					found = true
				}
			}
			if !found {
				t.Errorf("want a violation of %q via %s; got %v", tt.want, tt.via, vs)
			}
		})
	}
}
