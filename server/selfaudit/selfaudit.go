// Package selfaudit records a citizen's own accesses to their record (the
// portal's pages, the FHIR API's reads by a patient app) in the audit
// trail, each channel in a chain of its own kept under a device ID that
// starts with Prefix, stored like any device's events: so they are in the
// patient's access log, "kmcr-server audit verify" checks them, and
// "who viewed" leaves them out (IsSelf).
//
// # Caveats
//
// A chain is appended to by one process at a time (Chain holds a mutex):
// nodes sharing one database each use a device ID of their own (Device
// with the node's name), so two nodes never fork one chain.
package selfaudit

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"

	"kmcr/audit"
	"kmcr/server/store"
)

// Prefix starts every self-access chain's device ID.
const Prefix = "kmcr-patient-"

// Channels.
const (
	Portal = Prefix + "portal" // the portal's pages
	API    = Prefix + "api"    // the FHIR API for patient apps
)

// Device is a channel's device ID on a node: the channel alone for a
// single node (node empty), else channel@node.
func Device(channel, node string) string {
	if node == "" {
		return channel
	}
	return channel + "@" + node
}

// IsSelf reports whether a device ID is one of a citizen's own channels.
func IsSelf(device string) bool { return strings.HasPrefix(device, Prefix) }

// Chain appends events to one device's chain.
type Chain struct {
	st     store.Store
	device string
	host   string
	mu     sync.Mutex
}

// New makes the chain of device; host names the channel in the events
// ("patient portal").
func New(st store.Store, device, host string) *Chain {
	return &Chain{st: st, device: device, host: host}
}

// DeviceID is the chain's device.
func (c *Chain) DeviceID() string { return c.device }

// Record appends e (its Device is set here) and stores it with the new
// chain state in one transaction.
func (c *Chain) Record(e audit.Event) error {
	e.Device = audit.Device{ID: c.device, Host: c.host}
	if err := e.Validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, err := c.st.Device(c.device)
	if errors.Is(err, store.ErrNotFound) {
		d = store.Device{ID: c.device, User: "kmcr-" + strings.TrimPrefix(c.device, Prefix), Host: c.host, Registered: e.Occurred}
		if err := c.st.RegisterDevice(d); err != nil && !errors.Is(err, store.ErrExists) {
			return err
		}
		d, err = c.st.Device(c.device)
	}
	if err != nil {
		return err
	}
	var chain audit.DeviceChain
	if len(d.Chain) > 0 {
		if err := json.Unmarshal(d.Chain, &chain); err != nil {
			return err
		}
	}
	e, head := audit.Next(audit.Head{Seq: chain.LastSeq, Hash: chain.LastHash}, e)
	chain = audit.DeviceChain{DeviceID: c.device, LastSeq: head.Seq, LastHash: head.Hash, LastOccurred: e.Occurred, SignedSeq: chain.SignedSeq}
	cb, err := json.Marshal(chain)
	if err != nil {
		return err
	}
	se := store.StoredEvent{Device: c.device, Seq: e.Seq, Hash: head.Hash[:], Canonical: e.Canonical(), Recorded: e.Occurred, NHS: e.Patient.Digits()}
	return c.st.StoreAudit(c.device, []store.StoredEvent{se}, nil, nil, cb)
}
