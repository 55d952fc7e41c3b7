package cache_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"kmcr/cache"
	"kmcr/record"
)

func Example() {
	dir, err := os.MkdirTemp("", "kmcr-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	opts := cache.Options{
		Dir: filepath.Join(dir, "profile"),
		// A machine without an OS keyring: the user chose a device secret file.
		Secrets: cache.NewFileSecretStore(filepath.Join(dir, "device.secret")),
		// Tiny Argon2 parameters keep the example fast; leave KDF zero for DefaultKDF.
		KDF: cache.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1},
	}
	c, err := cache.Create(opts, []byte("correct horse battery staple"))
	if err != nil {
		log.Fatal(err)
	}

	nhs := record.NHSNumber("9434765919")
	err = c.Update(func(tx *cache.Tx) error {
		rec := cache.Record{NHS: nhs, Version: 1, NotAfter: time.Now().Add(24 * time.Hour), Data: []byte(`{"allergies":[]}`)}
		idx := cache.IndexEntry{Family: "Ó Briain", Given: "Siobhán", BirthDate: "1962-03-12", Postcode: "ME7 2JH"}
		if err := tx.Put(rec, idx); err != nil {
			return err
		}
		return tx.PutMeta("sync-cursor", []byte("epoch-1:42"))
	})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Search("obriain 12-Mar-1962", 10)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Total, res.Entries[0].NHS, res.Entries[0].Family)
	rec, err := c.Get(nhs)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(rec.Data))
	c.Close()

	_, err = cache.Open(opts, []byte("wrong"))
	var retry *cache.RetryError
	if errors.As(err, &retry) && errors.Is(err, cache.ErrWrongPassphrase) {
		fmt.Println("wrong passphrase; wait", retry.Wait)
	}
	// Output:
	// 1 943 476 5919 Ó Briain
	// {"allergies":[]}
	// wrong passphrase; wait 0s
}
