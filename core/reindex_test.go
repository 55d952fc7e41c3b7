package core

import (
	"testing"
	"time"

	"kmcr/cache"
	"kmcr/internal/memsecrets"
	"kmcr/internal/storeddoc"
	"kmcr/record"
)

// TestRefreshIndexKeys_OlderCacheLearnsDeaths checks a cache whose index
// entries were written before they carried the date of death is brought
// up to date from its documents at unlock, once, so a deceased patient's
// search row stops the age at death without waiting for a new sync.
func TestRefreshIndexKeys_OlderCacheLearnsDeaths(t *testing.T) {
	now := time.Now()
	cc, err := cache.Create(cache.Options{Dir: t.TempDir(), Secrets: memsecrets.New(), KDF: cache.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}}, []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	put := func(nhs, deceased string) {
		t.Helper()
		bundle := []byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p",` +
			`"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"` + nhs + `"}],` +
			`"name":[{"family":"Smith","given":["Jo"]}],"birthDate":"1923-12-16"` + deceased + `}}]}`)
		data, err := storeddoc.Encode(storeddoc.Header{NHS: nhs, Version: 1}, bundle)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := storeddoc.SearchKeys(bundle)
		if err != nil {
			t.Fatal(err)
		}
		idx.Died = "" // as a client before version 2 wrote it
		n := record.MustParseNHSNumber(nhs)
		if err := cc.Update(func(tx *cache.Tx) error {
			return tx.Put(cache.Record{NHS: n, Version: 1, NotAfter: now.Add(time.Hour), Data: data}, idx)
		}); err != nil {
			t.Fatal(err)
		}
	}
	put("9434765919", `,"deceasedDateTime":"2013-10-05"`)
	put("9990000018", ``)
	if err := refreshIndexKeys(cc); err != nil {
		t.Fatal(err)
	}
	dead, _ := cc.Entry(record.MustParseNHSNumber("9434765919"))
	alive, _ := cc.Entry(record.MustParseNHSNumber("9990000018"))
	if dead.Died != "2013-10-05" || alive.Died != "" || alive.Family != "Smith" {
		t.Fatalf("after the refresh: %+v, %+v", dead, alive)
	}
	var v int
	if err := cc.View(func(tx *cache.Tx) error { _, err := getJSON(tx, metaIndexKeys, &v); return err }); err != nil || v != indexKeysVersion {
		t.Fatalf("version %d, %v", v, err)
	}
	// Once recorded, the refresh does not run again.
	put("9434765919", `,"deceasedDateTime":"2013-10-05"`)
	if err := refreshIndexKeys(cc); err != nil {
		t.Fatal(err)
	}
	if e, _ := cc.Entry(record.MustParseNHSNumber("9434765919")); e.Died != "" {
		t.Errorf("the refresh ran again: %+v", e)
	}
}

// TestRefreshIndexKeys_OlderCacheLearnsGenderAndHeld checks a cache whose
// entries were written before they carried the gender and the relationship
// learns both from its documents and their headers at unlock, so a result
// row shows the gender and marks emergency access at once.
func TestRefreshIndexKeys_OlderCacheLearnsGenderAndHeld(t *testing.T) {
	now := time.Now()
	cc, err := cache.Create(cache.Options{Dir: t.TempDir(), Secrets: memsecrets.New(), KDF: cache.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}}, []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	put := func(nhs, rel string) {
		t.Helper()
		bundle := []byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p",` +
			`"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"` + nhs + `"}],` +
			`"name":[{"family":"Smith","given":["Shirley"]}],"gender":"female","birthDate":"1930-05-19"}}]}`)
		data, err := storeddoc.Encode(storeddoc.Header{NHS: nhs, Version: 1, Relationship: rel}, bundle)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := storeddoc.SearchKeys(bundle)
		if err != nil {
			t.Fatal(err)
		}
		idx.Gender, idx.Held = "", "" // as a client before version 3 wrote it
		n := record.MustParseNHSNumber(nhs)
		if err := cc.Update(func(tx *cache.Tx) error {
			if err := putJSON(tx, metaIndexKeys, 2); err != nil {
				return err
			}
			return tx.Put(cache.Record{NHS: n, Version: 1, NotAfter: now.Add(time.Hour), Data: data}, idx)
		}); err != nil {
			t.Fatal(err)
		}
	}
	put("9434765919", "break-glass")
	put("9990000018", "caseload")
	if err := refreshIndexKeys(cc); err != nil {
		t.Fatal(err)
	}
	bg := entryOf(must(cc.Entry(record.MustParseNHSNumber("9434765919"))))
	cl := entryOf(must(cc.Entry(record.MustParseNHSNumber("9990000018"))))
	if bg.Gender != "female" || bg.Held != "break-glass" || bg.HeldMark != "EMERGENCY ACCESS" {
		t.Fatalf("break-glass entry after the refresh: %+v", bg)
	}
	if cl.Gender != "female" || cl.HeldMark != "" {
		t.Fatalf("caseload entry after the refresh: %+v", cl)
	}
	if b := bg.Banner(now); b.Gender != "Female" {
		t.Fatalf("the row's banner says gender %q", b.Gender)
	}
}

func must[T any](v T, ok bool) T {
	if !ok {
		panic("missing")
	}
	return v
}
