package audit_test

import (
	"fmt"
	"time"

	"kmcr/audit"
	"kmcr/record"
)

// outbox stands in for the client core's cache transaction.
type outbox struct {
	head  audit.Head
	queue []audit.Uploaded
}

func (o *outbox) ChainHead() (audit.Head, error) { return o.head, nil }

func (o *outbox) AppendEvent(e audit.Event, canonical []byte, h audit.Head) error {
	o.queue = append(o.queue, audit.Uploaded{Seq: e.Seq, Canonical: canonical})
	o.head = h
	return nil
}

// Example shows one view audited on the device, uploaded with a signed head,
// and verified on the server.
func Example() {
	pub, priv, _ := audit.NewDeviceKey()
	patient, _ := record.ParseNHSNumber("943 476 5919")
	ob := &outbox{}
	at := time.Date(2026, 3, 12, 9, 30, 0, 0, time.UTC)

	// Client: record the view in the same transaction that reads the summary.
	_, err := audit.Append(ob, audit.Event{
		Action:   audit.ActionView,
		Occurred: at,
		User:     audit.Actor{ID: "u-1042", Name: "Sam Patel", Role: "paramedic"},
		Device:   audit.Device{ID: "dev-amb-17", Host: "amb-17-laptop"},
		Patient:  patient,
		Sections: []string{"allergies", "medications"},
		Purpose:  "TREAT",
		Outcome:  audit.Outcome{Result: audit.ResultSuccess},
	})
	if err != nil {
		fmt.Println("no audit, no view:", err)
		return
	}

	// Upload: the queue plus the signed current head.
	head := audit.SignHead(priv, "dev-amb-17", ob.head)

	// Server: verify against the device's chain state, store, then acknowledge.
	state := audit.DeviceChain{DeviceID: "dev-amb-17"}
	r, err := audit.VerifyBatch(state, pub, ob.queue, &head, nil, at.Add(time.Minute))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("accepted:", len(r.Accepted), "alerts:", len(r.Alerts), "ack through:", r.AckThrough)
	// Output: accepted: 1 alerts: 0 ack through: 1
}
