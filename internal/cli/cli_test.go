package cli

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
)

// TestParseFlags checks flags are found before, between and after
// positional arguments, and "--" ends them.
func TestParseFlags(t *testing.T) {
	tests := []struct {
		args []string
		pos  []string
		dir  string
	}{
		{[]string{"a", "--data-dir", "d", "b"}, []string{"a", "b"}, "d"},
		{[]string{"--data-dir=d", "a"}, []string{"a"}, "d"},
		{[]string{"a", "--", "--data-dir", "x"}, []string{"a", "--data-dir", "x"}, ""},
		{nil, nil, ""},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		dir := fs.String("data-dir", "", "")
		pos, err := ParseFlags(fs, tt.args)
		if err != nil || !reflect.DeepEqual(pos, tt.pos) || *dir != tt.dir {
			t.Fatalf("ParseFlags(%q) = %q, dir %q, %v", tt.args, pos, *dir, err)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := ParseFlags(fs, []string{"--nope"}); !errors.Is(err, ErrUsage) {
		t.Fatalf("unknown flag: %v", err)
	}
}

// TestListCommands checks commands are listed by name with their
// summaries in one column.
func TestListCommands(t *testing.T) {
	var b strings.Builder
	ListCommands(&b, map[string]int{"sync": 2, "access-log": 1}, func(n int) string { return strings.Repeat("x", n) })
	want := "  access-log   x\n  sync         xx\n"
	if b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}
