package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"kmcr/core"
)

// lineReader reads lines from stdin one at a time, so the password and
// the passphrase can both come from it.
type lineReader struct {
	r  io.Reader
	br *bufio.Reader
}

func (l *lineReader) line() (string, error) {
	if l.br == nil {
		l.br = bufio.NewReader(l.r)
	}
	s, err := l.br.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && s != "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("standard input ended before the expected line")
		}
		return "", err
	}
	return strings.TrimRight(s, "\r\n"), nil
}

// terminal returns stdin as a terminal file descriptor, if it is one.
func (e *env) terminal() (int, bool) {
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	return int(f.Fd()), true
}

// prompt reads a secret from the terminal without echo.
func (e *env) prompt(label string) (string, error) {
	fd, ok := e.terminal()
	if !ok {
		return "", fmt.Errorf("%w: no terminal to ask for the %s; use the --%s-stdin flag or, for the passphrase, KMCR_PASSPHRASE", errUsage, label, strings.ReplaceAll(label, " ", "-"))
	}
	fmt.Fprintf(e.stderr, "%s: ", strings.ToUpper(label[:1])+label[1:])
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(e.stderr)
	return string(b), err
}

// passphrase returns the cache passphrase: KMCR_PASSPHRASE, then
// --passphrase-stdin, then a prompt. confirm asks twice on a terminal.
func (e *env) passphrase(fromStdin, confirm bool) ([]byte, error) {
	if p := e.getenv("KMCR_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	if fromStdin {
		s, err := e.input.line()
		return []byte(s), err
	}
	p, err := e.prompt("passphrase")
	if err != nil {
		return nil, err
	}
	if confirm {
		again, err := e.prompt("passphrase again")
		if err != nil {
			return nil, err
		}
		if again != p {
			return nil, errors.New("the passphrases do not match")
		}
	}
	return []byte(p), nil
}

// unlock opens the cache for a command, explaining a wrong passphrase and
// the wait before the next try.
func (e *env) unlock(fromStdin bool) error {
	if !e.core.Enrolled() {
		return core.ErrNotEnrolled
	}
	p, err := e.passphrase(fromStdin, false)
	if err != nil {
		return err
	}
	err = e.core.UnlockForCommand(p)
	var re *core.RetryError
	switch {
	case errors.As(err, &re) && re.Wait > 0:
		return fmt.Errorf("%w; wait %s before trying again", err, re.Wait.Round(time.Second))
	case errors.Is(err, core.ErrAlreadyRunning):
		return fmt.Errorf("%w (the window or \"kmcr sync\" is running with this profile)", err)
	}
	return err
}
