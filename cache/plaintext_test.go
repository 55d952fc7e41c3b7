package cache

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// letters spells i in base 26 with the letters a to z, for names that are
// distinctive and contain no digits.
func letters(i, width int) string {
	b := make([]byte, width)
	for j := width - 1; j >= 0; j-- {
		b[j] = byte('a' + i%26)
		i /= 26
	}
	return string(b)
}

// Ensure that after storing 1,000 patients, neither file contains any of
// their names, postcodes, birth dates, display labels, documents or NHS
// numbers (spaced or not), even after a replace and a delete.
func TestCache_NoPlaintext(t *testing.T) {
	c, e := mustCreate(t)
	ns := nhsNumbers(0, 1000)
	var needles [][]byte
	err := c.Update(func(tx *Tx) error {
		for i, n := range ns {
			family := "Qzxv" + letters(i, 3)
			given := "Wyjk" + letters(i, 3)
			postcode := fmt.Sprintf("ZX%d %dQJ", i%90+10, i%10)
			dob := time.Date(1901+i%100, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
			ie := IndexEntry{Family: family, Given: given, BirthDate: dob, Postcode: postcode,
				Display: strings.ToUpper(family) + ", " + given}
			doc := fmt.Sprintf(`{"name":"%s %s","nhs":"%s","postcode":"%s","note":"Vrrkdoc%s"}`, given, family, n.Digits(), postcode, letters(i, 3))
			if err := tx.Put(Record{NHS: n, Version: 1, NotAfter: lease, Data: []byte(doc)}, ie); err != nil {
				return err
			}
			needles = append(needles, []byte(family), []byte(given), []byte(strings.ToUpper(family)),
				[]byte(postcode), []byte(strings.ReplaceAll(postcode, " ", "")), []byte(n.Digits()), []byte(n.String()))
			if i%10 == 0 {
				needles = append(needles, []byte(dob))
			}
		}
		return tx.OutboxAppend(1, epoch, []byte("viewed "+ns[0].Digits()+" "+ns[0].String()))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Update(func(tx *Tx) error {
		return tx.Put(testRecord(ns[1], 2, lease), IndexEntry{Family: "Qzxvaab"})
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(func(tx *Tx) error { return tx.Delete(ns[2]) }); err != nil {
		t.Fatal(err)
	}
	mustClose(t, c)
	// Common prefixes first: one scan covers every name and document.
	needles = append(needles, []byte("Qzxv"), []byte("QZXV"), []byte("Wyjk"), []byte("Vrrkdoc"), []byte("penicillin"))
	for _, name := range []string{e.opts.dbPath(), e.opts.keysPath()} {
		f := readFile(t, name)
		for _, n := range needles {
			if bytes.Contains(f, n) {
				t.Errorf("%s contains %q", name, n)
			}
		}
	}
}
