// Package notify tells patients of accesses they would want to know of:
// a break-glass (emergency) access to their record, and the first access
// by an organisation that had never accessed it before. Each is an entry
// in the store's durable outbox (store.Outbox), listed on the portal's
// home page and sent by email through an SMTP relay.
//
// # Basics
//
// Queue runs where the server stores a device's audit upload: each
// access it holds yields the entries it calls for, with IDs derived from
// the event ("break-glass/DEVICE/SEQ", "first-view/NHS/ODS"), so an
// upload sent again, or handled by another node, adds nothing. Sender is
// the service that sends them: it claims one entry at a time
// (ClaimNotification, atomic across nodes on one database), sends it,
// and marks it sent once the relay accepted it; a relay failure releases
// the claim with a backoff (RetryMin doubling to RetryMax), and a claim a
// dead node left is taken again after ClaimTimeout. The email says what
// happened, who (break-glass: the person; first view: the organisation)
// and when, and links to the portal; it carries no NHS number, name or
// clinical detail. A patient with no address (none given at sign-in) has
// the portal listing only.
//
// # Caveats
//
// "At most once" holds for every path but one: a node that stops after
// the relay accepted an email and before it marked the entry sent leaves
// a claim that another node retakes after ClaimTimeout, and that email
// goes again (its Message-ID is the same, so a mail system that removes
// duplicates shows it once). An organisation's accesses recorded before
// the outbox existed count as earlier accesses (its first access is not
// announced again) when recorded more than RecentWindow before.
package notify

import (
	"errors"
	"fmt"
	"time"

	"kmcr/audit"
	"kmcr/server/store"
)

// defaultOrg is the ODS code of users stored before organisations.
const defaultOrg = "DEFAULT"

// RecentWindow: an organisation's access recorded within it is not taken
// as an earlier access (it may be another node's concurrent upload of
// the very first one).
const RecentWindow = 10 * time.Minute

// counts reports whether an action is an access a patient is told of.
func counts(a audit.Action) bool {
	return a == audit.ActionView || a == audit.ActionBreakGlass || a == audit.ActionExport
}

// Queue adds the outbox entries a device's accesses call for. u is the
// device's user (every event names them); now is when they were stored.
func Queue(st store.Store, device string, u store.User, events []audit.Event, now time.Time) error {
	org := u.Org
	if org == "" {
		org = defaultOrg
	}
	var add []store.Notification
	first := map[string]store.Notification{} // by ID: the batch's earliest access of each patient
	for _, e := range events {
		nhs := e.Patient.Digits()
		if nhs == "" || !counts(e.Action) || e.Outcome.Result == audit.ResultFailure {
			continue
		}
		if e.Action == audit.ActionBreakGlass {
			add = append(add, store.Notification{ID: fmt.Sprintf("%s/%s/%d", store.NotifyBreakGlass, device, e.Seq), NHS: nhs, Kind: store.NotifyBreakGlass,
				Org: org, Who: e.User.Name, At: e.Occurred.UTC(), Created: now})
		}
		id := fmt.Sprintf("%s/%s/%s", store.NotifyFirstView, nhs, org)
		n := store.Notification{ID: id, NHS: nhs, Kind: store.NotifyFirstView, Org: org, At: e.Occurred.UTC(), Created: now,
			// A break-glass's own email names the organisation already.
			Quiet: e.Action == audit.ActionBreakGlass}
		if prev, ok := first[id]; !ok || e.Occurred.Before(prev.At) {
			first[id] = n
		}
	}
	orgOf := map[string]string{u.Name: org}
	for id, n := range first {
		if _, err := st.Notification(id); err == nil {
			continue // announced (or known) already
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		earlier, err := accessedBefore(st, n.NHS, n.Org, now.Add(-RecentWindow), orgOf)
		if err != nil {
			return err
		}
		if earlier {
			n.Quiet = true
		}
		add = append(add, n)
	}
	if len(add) == 0 {
		return nil
	}
	_, err := st.AddNotifications(add)
	return err
}

// accessedBefore reports whether a user of org accessed the patient's
// record in an event recorded before before (the patient's history from
// before the outbox).
func accessedBefore(st store.Store, nhs, org string, before time.Time, orgOf map[string]string) (bool, error) {
	found := false
	stop := errors.New("found")
	err := st.AccessLog(nhs, func(se store.StoredEvent) error {
		if se.Malformed || !se.Recorded.Before(before) {
			return nil
		}
		e, err := audit.Decode(se.Canonical)
		if err != nil || !counts(e.Action) {
			return nil
		}
		o, ok := orgOf[e.User.ID]
		if !ok {
			o = defaultOrg
			if u, err := st.User(e.User.ID); err == nil && u.Org != "" {
				o = u.Org
			}
			orgOf[e.User.ID] = o
		}
		if o == org {
			found = true
			return stop
		}
		return nil
	})
	if errors.Is(err, stop) {
		err = nil
	}
	return found, err
}
