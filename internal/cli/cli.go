// Package cli holds what the kmcr and kmcr-server command lines share.
package cli

import (
	"errors"
	"flag"
	"fmt"
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
