package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"kmcr/internal/fsperm"
	"kmcr/server"
)

func init() {
	register(&command{name: "keys", summary: "keys list|rotate [--json]: the access-token signing keys (kept apart from the database)", run: runKeys})
}

// legacyTokenSecret is the name under which versions before the key file
// kept the token-signing key inside the database.
const legacyTokenSecret = "access-token"

// openTokenKeys opens the token key file (the data directory's when path
// is ""), making it on first use, and moves an older version's key out of
// the database: it is deleted there, and tokens it signed are no longer
// accepted (each client refreshes once with its refresh credential).
func openTokenKeys(dataDir, path string, st secretDropper, logf func(string, ...any)) (*server.TokenKeys, error) {
	if path == "" {
		path = filepath.Join(dataDir, server.TokenKeysFile)
	}
	keys, err := server.OpenTokenKeys(path, time.Now(), logf)
	if err != nil {
		return nil, err
	}
	found, err := st.DropSecret(legacyTokenSecret)
	if err != nil {
		return nil, fmt.Errorf("removing the old token key from the database: %w", err)
	}
	if found {
		logf("moved token signing out of the database into %s; tokens signed with the old key are refused (clients refresh once)", path)
	}
	return keys, nil
}

// secretDropper is a store an older version's key can be moved out of
// (store.Bolt, postgres.Store).
type secretDropper interface {
	DropSecret(name string) (bool, error)
}

// privateDataDir tightens a data directory readable by others, reporting
// the change through logf (or refuses one another user owns).
func privateDataDir(dir string, logf func(string, ...any)) (string, error) {
	msg, err := fsperm.TightenDir(dir)
	if err != nil {
		return "", err
	}
	if msg != "" && logf != nil {
		logf("%s", msg)
	}
	return msg, nil
}

func runKeys(env *cmdEnv, args []string) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "rotate") {
		return fmt.Errorf("%w: kmcr-server keys list|rotate [--json] [--token-keys FILE]", errUsage)
	}
	fs := newFlags(env, "keys "+args[0])
	dir := dataDirFlag(fs)
	keysPath := fs.String("token-keys", "", "the token key file when no server is running (default: token-keys.json in the data directory)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	return withAdminKeys(*dir, *keysPath, func(ctx context.Context, a server.Admin) error {
		var keys []server.TokenKeyInfo
		var err error
		if args[0] == "rotate" {
			keys, err = a.KeysRotate(ctx)
		} else {
			keys, err = a.KeysList(ctx)
		}
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(env.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(keys)
		}
		if args[0] == "rotate" {
			fmt.Fprintf(env.stdout, "new signing key %s; the previous one is accepted for one token lifetime\n", keys[len(keys)-1].ID)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tCREATED\tSTATE")
		for _, k := range keys {
			state := "current"
			if !k.Current {
				state = "retired, accepted until " + k.AcceptedUntil.Format("2006-01-02 15:04:05")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", k.ID, k.Created.Format("2006-01-02 15:04"), state)
		}
		return tw.Flush()
	})
}
