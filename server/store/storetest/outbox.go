package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"kmcr/server/store"
)

func note(id, nhsNo string, created, atMin int) store.Notification {
	return store.Notification{ID: id, NHS: nhsNo, Kind: store.NotifyFirstView, Org: "RYD", Who: "A Person", At: at(atMin), Created: at(created)}
}

func claim(t *testing.T, s store.Store, node string, now time.Time) (store.Notification, bool) {
	t.Helper()
	n, ok, err := s.ClaimNotification(node, now, 5*time.Minute)
	must(t, err)
	return n, ok
}

var outboxCases = []testCase{
	{"AddOnceReadBack", func(t *testing.T, e *env) {
		n := note("first-view/a/RYD", nhs(0), 1, 0)
		added, err := e.s.AddNotifications([]store.Notification{n, n})
		must(t, err)
		if added != 1 {
			t.Fatalf("AddNotifications of one entry twice added %d", added)
		}
		again := n
		again.Who = "Someone else"
		if added, err = e.s.AddNotifications([]store.Notification{again}); err != nil || added != 0 {
			t.Fatalf("AddNotifications of a known ID = %d, %v", added, err)
		}
		got, err := e.s.Notification(n.ID)
		must(t, err)
		if got.ID != n.ID || got.NHS != n.NHS || got.Kind != n.Kind || got.Org != n.Org || got.Who != "A Person" || !got.At.Equal(n.At) || !got.Created.Equal(n.Created) ||
			got.Quiet || got.ClaimedBy != "" || got.Attempts != 0 || !got.Sent.IsZero() {
			t.Fatalf("Notification = %+v; want %+v", got, n)
		}
		_, err = e.s.Notification("first-view/b/RYD")
		wantIs(t, err, store.ErrNotFound, "Notification(absent)")
		wantIs(t, e.s.NotificationSent("absent", "node", at(2), ""), store.ErrNotFound, "NotificationSent(absent)")
		wantIs(t, e.s.NotificationRetry("absent", "node", at(2), "x"), store.ErrNotFound, "NotificationRetry(absent)")
		noChanges(t, e.s, 0, "the outbox")
	}},
	{"PatientListNewestFirstNoQuiet", func(t *testing.T, e *env) {
		q := note("q", nhs(0), 1, 9)
		q.Quiet = true
		_, err := e.s.AddNotifications([]store.Notification{note("old", nhs(0), 1, 1), note("new", nhs(0), 2, 5), note("other", nhs(1), 1, 3), q})
		must(t, err)
		ns, err := e.s.PatientNotifications(nhs(0))
		must(t, err)
		if len(ns) != 2 || ns[0].ID != "new" || ns[1].ID != "old" {
			t.Fatalf("PatientNotifications = %+v; want new, old", ns)
		}
		if ns, err := e.s.PatientNotifications(nhs(2)); err != nil || len(ns) != 0 {
			t.Fatalf("PatientNotifications(none) = %v, %v", ns, err)
		}
		// A quiet entry holds its ID and is never claimed.
		if _, err := e.s.Notification("q"); err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			n, ok := claim(t, e.s, "a", at(100))
			if !ok {
				break
			}
			got = append(got, n.ID)
		}
		sameSet(t, got, []string{"old", "new", "other"}, "claimed")
	}},
	{"ClaimOldestOnceSentNeverAgain", func(t *testing.T, e *env) {
		_, err := e.s.AddNotifications([]store.Notification{note("b", nhs(0), 2, 0), note("a", nhs(0), 2, 0), note("c", nhs(0), 1, 0)})
		must(t, err)
		var order []string
		for range 3 {
			n, ok := claim(t, e.s, "node-1", at(10))
			if !ok {
				t.Fatal("nothing to claim")
			}
			if n.ClaimedBy != "node-1" || !n.ClaimedAt.Equal(at(10)) || n.Attempts != 1 {
				t.Fatalf("claimed %+v", n)
			}
			order = append(order, n.ID)
		}
		if fmt.Sprint(order) != "[c a b]" {
			t.Fatalf("claim order %v; want oldest first, then by ID", order)
		}
		if n, ok := claim(t, e.s, "node-2", at(11)); ok {
			t.Fatalf("claimed %s, held by another node", n.ID)
		}
		must(t, e.s.NotificationSent("c", "node-1", at(12), "p@example.org"))
		got, _ := e.s.Notification("c")
		if !got.Sent.Equal(at(12)) || got.To != "p@example.org" || got.ClaimedBy != "" {
			t.Fatalf("after NotificationSent: %+v", got)
		}
		// Long after every claim went stale, only the unsent are taken again.
		var again []string
		for {
			n, ok := claim(t, e.s, "node-2", at(100))
			if !ok {
				break
			}
			if n.Attempts != 2 {
				t.Fatalf("retaken %s with attempts %d", n.ID, n.Attempts)
			}
			again = append(again, n.ID)
		}
		sameSet(t, again, []string{"a", "b"}, "retaken after the claims went stale")
	}},
	{"RetryWaitsAndKeepsReason", func(t *testing.T, e *env) {
		_, err := e.s.AddNotifications([]store.Notification{note("a", nhs(0), 1, 0)})
		must(t, err)
		claim(t, e.s, "node-1", at(10))
		// A node that lost its claim does not release the new holder's.
		must(t, e.s.NotificationRetry("a", "node-9", at(11), "not mine"))
		if got, _ := e.s.Notification("a"); got.ClaimedBy != "node-1" || got.LastError != "" {
			t.Fatalf("another node's retry changed the claim: %+v", got)
		}
		must(t, e.s.NotificationRetry("a", "node-1", at(20), "relay refused"))
		got, _ := e.s.Notification("a")
		if got.ClaimedBy != "" || !got.NextAttempt.Equal(at(20)) || got.LastError != "relay refused" {
			t.Fatalf("after NotificationRetry: %+v", got)
		}
		if _, ok := claim(t, e.s, "node-1", at(19)); ok {
			t.Fatal("claimed before its next attempt")
		}
		n, ok := claim(t, e.s, "node-2", at(20))
		if !ok || n.ID != "a" || n.Attempts != 2 {
			t.Fatalf("claim at the next attempt = %+v, %v", n, ok)
		}
	}},
	{"ConcurrentClaimsTakeEachOnce", func(t *testing.T, e *env) {
		const entries, claimers = 40, 6
		var ns []store.Notification
		for i := range entries {
			ns = append(ns, note(fmt.Sprintf("n%02d", i), nhs(i%5), i, i))
		}
		_, err := e.s.AddNotifications(ns)
		must(t, err)
		var mu sync.Mutex
		seen := map[string]string{}
		var wg sync.WaitGroup
		for c := range claimers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				node := fmt.Sprintf("node-%d", c)
				for {
					n, ok, err := e.s.ClaimNotification(node, at(100), time.Hour)
					if err != nil {
						t.Error(err)
						return
					}
					if !ok {
						return
					}
					mu.Lock()
					if prev, dup := seen[n.ID]; dup {
						t.Errorf("%s claimed by %s and %s", n.ID, prev, node)
					}
					seen[n.ID] = node
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != entries {
			t.Fatalf("%d of %d entries claimed", len(seen), entries)
		}
	}},
	{"ContactSetReplaceRemove", func(t *testing.T, e *env) {
		if c, err := e.s.Contact(nhs(0)); err != nil || c != "" {
			t.Fatalf("Contact of nobody = %q, %v", c, err)
		}
		must(t, e.s.SetContact(nhs(0), "one@example.org"))
		must(t, e.s.SetContact(nhs(0), "two@example.org"))
		if c, _ := e.s.Contact(nhs(0)); c != "two@example.org" {
			t.Fatalf("Contact = %q", c)
		}
		if c, _ := e.s.Contact(nhs(1)); c != "" {
			t.Fatalf("another patient's Contact = %q", c)
		}
		must(t, e.s.SetContact(nhs(0), ""))
		if c, _ := e.s.Contact(nhs(0)); c != "" {
			t.Fatalf("Contact after removal = %q", c)
		}
	}},
	{"SurvivesReopen", func(t *testing.T, e *env) {
		_, err := e.s.AddNotifications([]store.Notification{note("a", nhs(0), 1, 0), note("b", nhs(0), 2, 0)})
		must(t, err)
		must(t, e.s.SetContact(nhs(0), "p@example.org"))
		claim(t, e.s, "node-1", at(10))
		must(t, e.s.NotificationSent("a", "node-1", at(11), "p@example.org"))
		claim(t, e.s, "node-1", at(12)) // b, claimed by a node that then dies
		s := e.reopen(t)
		if c, _ := s.Contact(nhs(0)); c != "p@example.org" {
			t.Fatalf("Contact after reopen = %q", c)
		}
		if _, ok, _ := s.ClaimNotification("node-2", at(13), 5*time.Minute); ok {
			t.Fatal("claimed an entry already sent or freshly claimed, after reopen")
		}
		n, ok, err := s.ClaimNotification("node-2", at(12).Add(5*time.Minute), 5*time.Minute)
		must(t, err)
		if !ok || n.ID != "b" {
			t.Fatalf("the dead node's claim was not retaken after the timeout: %+v %v", n, ok)
		}
	}},
}
