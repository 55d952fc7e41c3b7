package notify_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"kmcr/audit"
	"kmcr/internal/pgtest"
	"kmcr/server/notify"
	"kmcr/server/store/postgres"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestNotify_TwoNodesOnePostgreSQLSendOnce: two nodes on one PostgreSQL
// both receive the same uploads (a device sends again to the other node)
// and both run a sender; every event's email goes exactly once.
func TestNotify_TwoNodesOnePostgreSQLSendOnce(t *testing.T) {
	srv := pgtest.Shared(t)
	if err := srv.Template("kmcr_notify", func(url string) error {
		_, err := postgres.Migrate(context.Background(), url)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	url := pgtest.NewDB(t, "kmcr_notify")
	open := func() *postgres.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	fixture(t, a)
	r := newRelay(t)
	clk := &clock{now: time.Date(2026, 12, 3, 14, 30, 0, 0, time.UTC)}
	const patients = 12
	nhs := []string{}
	for i := range patients {
		n := nhsFor(i)
		nhs = append(nhs, n)
		if err := a.SetContact(n, "patient"+n+"@example.org"); err != nil {
			t.Fatal(err)
		}
	}
	at := clk.Now().Add(-time.Hour)
	var upload []audit.Event
	for i, n := range nhs {
		upload = append(upload, access(audit.ActionBreakGlass, uint64(2*i+1), "priya", "Priya Raman", n, at), access(audit.ActionView, uint64(2*i+2), "priya", "Priya Raman", n, at))
	}
	var wg sync.WaitGroup
	for _, st := range []*postgres.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := st.User("priya")
			if err != nil {
				t.Error(err)
				return
			}
			if err := notify.Queue(st, "dev-priya", u, upload, clk.Now()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i, st := range []*postgres.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newSender(t, st, r, []string{"node-a", "node-b"}[i], clk)
			for {
				more, err := s.SendOne(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if !more {
					return
				}
			}
		}()
	}
	wg.Wait()
	got := r.received()
	if len(got) != patients {
		t.Fatalf("%d emails for %d break-glass accesses; want one each", len(got), patients)
	}
	seen := map[string]bool{}
	for _, m := range got {
		if seen[m.To[0]] {
			t.Fatalf("two emails to %s", m.To[0])
		}
		seen[m.To[0]] = true
	}
}

// nhsFor returns valid NHS numbers (modulus 11) for the cluster test.
func nhsFor(i int) string {
	for n := 943476000 + i*37; ; n++ {
		d := []byte{}
		for x, k := n, 0; k < 9; k++ {
			d = append([]byte{byte('0' + x%10)}, d...)
			x /= 10
		}
		sum := 0
		for k := range 9 {
			sum += int(d[k]-'0') * (10 - k)
		}
		c := 11 - sum%11
		if c == 11 {
			c = 0
		}
		if c == 10 {
			continue
		}
		return string(d) + string(rune('0'+c))
	}
}
