package core

import "fmt"

// ChangePassphrase re-wraps the cache's master key under a new passphrase
// (the device secret stays the same). The cache must be unlocked, and old
// must be the current passphrase: a wrong one counts as a failed unlock
// and returns an error matching ErrWrongPassphrase, with the wait before
// the next attempt in a *RetryError. The new passphrase must
// pass PassphraseHint.
func (c *Core) ChangePassphrase(old, new []byte) error {
	if _, ok := PassphraseHint(string(new)); !ok {
		return fmt.Errorf("the new passphrase must be at least %d characters", MinPassphrase)
	}
	cc, _, err := c.open()
	if err != nil {
		return err
	}
	if err := cc.ChangePassphrase(old, new); err != nil {
		return boundary(fmt.Errorf("changing the passphrase: %w", err))
	}
	return nil
}
