// Command kmcr-server is the central shared care record's sync service:
// it imports FHIR data, decides who may see what, streams permitted
// summaries to kmcr clients over a websocket, and stores their audit events.
//
// Usage:
//
//	kmcr-server COMMAND [--data-dir DIR] [--store postgres://...] [flags]
//
// Run "kmcr-server help" for the list of commands.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"kmcr/internal/cli"
	"kmcr/internal/safetext"
)

// command is one subcommand of kmcr-server.
type command struct {
	name    string
	summary string
	run     func(env *cmdEnv, args []string) error
}

// cmdEnv carries what every command needs: its streams.
type cmdEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// commands is filled by each command's file in an init function.
var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// errUsage marks an error caused by how the command was called; it exits 2.
var errUsage = cli.ErrUsage

func main() {
	// Every line a command prints may carry strings a client chose (host
	// and device names, break-glass reasons, user names tried at login):
	// both streams escape control and bidi characters (internal/safetext).
	stdout, stderr := safetext.NewWriter(os.Stdout), safetext.NewWriter(os.Stderr)
	env := &cmdEnv{stdin: os.Stdin, stdout: stdout, stderr: stderr}
	code := run(env, os.Args[1:])
	_ = stdout.Flush()
	_ = stderr.Flush()
	os.Exit(code)
}

func run(env *cmdEnv, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.stdout)
		return 0
	}
	name := args[0]
	// "caseload add" style commands are registered as "caseload".
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(env.stderr, "kmcr-server: unknown command %q\n\n", name)
		usage(env.stderr)
		return 2
	}
	if err := c.run(env, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(env.stderr, "kmcr-server %s: %v\n", name, err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "kmcr-server: the shared care record's sync service")
	fmt.Fprintln(w, "\nUsage: kmcr-server COMMAND [--data-dir DIR] [--store postgres://...] [flags]\n\nCommands:")
	cli.ListCommands(w, commands, func(c *command) string { return c.summary })
	fmt.Fprintln(w, "\nRun \"kmcr-server COMMAND --help\" for a command's flags.")
}

// newFlags makes a FlagSet for a command that reports errors instead of exiting.
func newFlags(env *cmdEnv, name string) *flag.FlagSet {
	return cli.NewFlags("kmcr-server "+name, env.stderr)
}

// parseFlags allows flags after positional arguments; see cli.ParseFlags.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	return cli.ParseFlags(fs, args)
}

// printList prints a list as indented JSON for --json: an empty list is
// [], never null, so scripts can iterate it without a special case.
func printList[T any](w io.Writer, list []T) error {
	if list == nil {
		list = []T{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(list)
}
