package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// profileFile holds what the client needs before unlock: where the server
// is, who enrolled, and where the device secret lives. Nothing in it names
// or describes a patient; everything that does is sealed in the cache.
const profileFile = "profile.json"

// caFile is the server's CA certificate, copied into the profile at
// enrolment so the profile does not depend on where the file came from.
const caFile = "server-ca.pem"

// Secret store kinds a profile can use for the device secret.
const (
	SecretsKeyring = "os-keyring"
	SecretsFile    = "file"
)

// Profile is the plaintext description of an enrolled device.
type Profile struct {
	// Server is the sync service's address in use: the one enrolled
	// against, then whichever node last welcomed this device.
	Server string `json:"server"`
	// Servers lists every address of a sync service with several nodes,
	// in the order they are tried; empty when there is one (Server), as
	// in every profile written before several were possible.
	Servers    []string  `json:"servers,omitempty"`
	User       string    `json:"user"`
	Role       string    `json:"role"`
	DeviceID   string    `json:"device_id"`
	Host       string    `json:"host"`
	Secrets    string    `json:"secrets"`               // SecretsKeyring or SecretsFile
	SecretFile string    `json:"secret_file,omitempty"` // for SecretsFile
	Enrolled   time.Time `json:"enrolled"`
	FirstSync  bool      `json:"first_sync_complete"` // the first full sync has finished
	Autolock   int64     `json:"auto_lock_seconds"`   // from the server's policy
	Freshness  int64     `json:"freshness_seconds"`   // from the server's policy
	BreakGlass bool      `json:"break_glass_allowed"` // from the server's policy
	Sections   []string  `json:"sections,omitempty"`  // from the server's policy
}

// Addresses lists every address of the sync service this profile knows,
// in the order they are tried (Server alone for one node).
func (p Profile) Addresses() []string {
	if len(p.Servers) == 0 {
		if p.Server == "" {
			return nil
		}
		return []string{p.Server}
	}
	return slices.Clone(p.Servers)
}

// DefaultDataDir is the profile directory when none is given: the OS user
// config folder (for example ~/.config/kmcr on Linux, %AppData%\kmcr on
// Windows).
func DefaultDataDir() string {
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "kmcr")
	}
	return "kmcr-data"
}

func loadProfile(dir string) (*Profile, error) {
	b, err := os.ReadFile(filepath.Join(dir, profileFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p Profile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("profile %s is damaged: %w", filepath.Join(dir, profileFile), err)
	}
	return &p, nil
}

// saveProfile writes the profile atomically (temporary file, then rename).
func saveProfile(dir string, p *Profile) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, profileFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, profileFile))
}
