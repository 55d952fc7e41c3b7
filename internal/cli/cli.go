// Package cli holds what the kmcr and kmcr-server command lines share.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
)

// ErrUsage marks an error in how a command was called; the programs exit
// with status 2 for it.
var ErrUsage = errors.New("usage")

// ParseFlags parses args with fs, allowing flags after positional
// arguments ("import a.json --data-dir d"), and returns the positional
// ones. Everything after "--" is positional.
func ParseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// NewFlags returns a FlagSet for one command (name is "kmcr show") that
// reports errors to w instead of exiting.
func NewFlags(name string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	return fs
}

// ListCommands writes one line per command, sorted by name, with the
// summaries aligned three spaces after the longest name.
func ListCommands[C any](w io.Writer, commands map[string]C, summary func(C) string) {
	names := make([]string, 0, len(commands))
	width := 0
	for n := range commands {
		names = append(names, n)
		width = max(width, len(n))
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s %s\n", width+2, n, summary(commands[n]))
	}
}
