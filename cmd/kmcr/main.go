// Command kmcr is the offline-capable desktop client for the shared care
// record. With no command it opens the window; with a command it runs the
// same core from the command line, for scripts and for people at a
// terminal.
//
// Usage:
//
//	kmcr [--data-dir DIR] [COMMAND] [flags]
//
// Run "kmcr help" for the commands.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"kmcr/core"
	"kmcr/internal/cli"
	"kmcr/internal/safetext"
)

// command is one subcommand.
type command struct {
	name    string
	usage   string
	summary string
	run     func(env *env, args []string) error
}

// env carries the streams, the profile folder and the environment.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	dataDir        string
	getenv         func(string) string
	core           *core.Core
	input          *lineReader // shared stdin reader for password and passphrase
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// errUsage marks a usage error: exit code 2.
var errUsage = cli.ErrUsage

func main() {
	// Records are the feed's text (names, addresses): nothing in them may
	// drive the terminal, so what the commands print passes through
	// internal/safetext. Progress on stderr uses escapes of its own.
	stdout := safetext.NewWriter(os.Stdout)
	e := &env{stdin: os.Stdin, stdout: stdout, stderr: os.Stderr, getenv: os.Getenv}
	code := run(e, os.Args[1:])
	_ = stdout.Flush()
	os.Exit(code)
}

// run parses the global --data-dir (before or after the command name) and
// runs the command; no command opens the GUI.
func run(e *env, args []string) int {
	args, dataDir, err := extractDataDir(args)
	if err != nil {
		fmt.Fprintf(e.stderr, "kmcr: %v\n", err)
		return 2
	}
	e.dataDir = dataDir
	if e.dataDir == "" {
		e.dataDir = core.DefaultDataDir()
	}
	e.input = &lineReader{r: e.stdin}
	if len(args) == 0 {
		return runGUI(e)
	}
	switch args[0] {
	case "help", "-h", "--help":
		usage(e.stdout)
		return 0
	case "version", "--version":
		fmt.Fprintf(e.stdout, "kmcr %s\n", core.Version)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "kmcr: unknown command %q\n\n", args[0])
		usage(e.stderr)
		return 2
	}
	tightenProfile(e)
	kc, err := core.Open(core.Config{DataDir: e.dataDir})
	if err != nil {
		fmt.Fprintf(e.stderr, "kmcr: %v\n", err)
		return 1
	}
	e.core = kc
	defer kc.Close()
	if err := c.run(e, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(e.stderr, "kmcr %s: %v\n", c.name, err)
		if errors.Is(err, errUsage) {
			fmt.Fprintf(e.stderr, "usage: kmcr %s\n", c.usage)
			return 2
		}
		return 1
	}
	return 0
}

// extractDataDir removes --data-dir DIR (or --data-dir=DIR) from anywhere
// in args.
func extractDataDir(args []string) ([]string, string, error) {
	var out []string
	dir := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--data-dir" || a == "-data-dir":
			if i+1 >= len(args) {
				return nil, "", errors.New("--data-dir needs a folder")
			}
			dir = args[i+1]
			i++
		case len(a) > 11 && (a[:11] == "--data-dir=" || a[:10] == "-data-dir="):
			dir = a[len("--data-dir="):]
			if a[1] != '-' {
				dir = a[len("-data-dir="):]
			}
		case a == "--":
			return append(out, args[i:]...), dir, nil
		default:
			out = append(out, a)
		}
	}
	return out, dir, nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "kmcr: the shared care record, offline")
	fmt.Fprintln(w, "\nUsage: kmcr [--data-dir DIR] [COMMAND] [flags]")
	fmt.Fprintln(w, "With no command, kmcr opens its window.\n\nCommands:")
	cli.ListCommands(w, commands, func(c *command) string { return c.summary })
	fmt.Fprintln(w, "\nThe passphrase comes from KMCR_PASSPHRASE, --passphrase-stdin, or a prompt.")
	fmt.Fprintf(w, "The profile folder defaults to %s.\n", core.DefaultDataDir())
}

func newFlags(e *env, name string) *flag.FlagSet {
	return cli.NewFlags("kmcr "+name, e.stderr)
}

// parseFlags allows flags after positional arguments; see cli.ParseFlags.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	return cli.ParseFlags(fs, args)
}
