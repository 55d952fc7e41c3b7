package storetest

import (
	"bytes"
	"errors"
	"testing"

	"kmcr/server/store"
)

// fullDevice has every field set.
func fullDevice(id, user string) store.Device {
	return store.Device{
		ID: id, User: user, PublicKey: []byte{1, 2, 3, 4}, Host: "ambulance-7",
		Registered: at(0), LastSeen: at(5),
		RefreshHash: []byte{9, 9}, RefreshExpires: at(600),
		PrevRefreshHash: []byte{8}, PrevRefreshUntil: at(10),
		TokenGen: 3, Chain: []byte(`{"LastSeq":0}`),
		SpentRefresh: [][]byte{{6, 6}, {5}},
	}
}

// sameDevice compares every field.
func sameDevice(t *testing.T, got, want store.Device, what string) {
	t.Helper()
	ok := got.ID == want.ID && got.User == want.User && bytes.Equal(got.PublicKey, want.PublicKey) && got.Host == want.Host &&
		got.Registered.Equal(want.Registered) && got.LastSeen.Equal(want.LastSeen) && got.Revoked == want.Revoked &&
		got.RevokedAt.Equal(want.RevokedAt) && bytes.Equal(got.RefreshHash, want.RefreshHash) && got.RefreshExpires.Equal(want.RefreshExpires) &&
		bytes.Equal(got.PrevRefreshHash, want.PrevRefreshHash) && got.PrevRefreshUntil.Equal(want.PrevRefreshUntil) &&
		got.TokenGen == want.TokenGen && bytes.Equal(got.Chain, want.Chain) &&
		len(got.SpentRefresh) == len(want.SpentRefresh)
	for i := 0; ok && i < len(want.SpentRefresh); i++ {
		ok = bytes.Equal(got.SpentRefresh[i], want.SpentRefresh[i])
	}
	if !ok {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

var errRefused = errors.New("storetest: the update refuses")

var deviceCases = []testCase{
	{"RegisterAndRead", func(t *testing.T, e *env) {
		d := fullDevice("device-1", "amy")
		must(t, e.s.RegisterDevice(d))
		got, err := e.s.Device("device-1")
		must(t, err)
		sameDevice(t, got, d, "Device")
		got.PublicKey[0] = 0xff // the caller's copy is its own
		again, _ := e.s.Device("device-1")
		sameDevice(t, again, d, "Device after changing a returned copy")
		noChanges(t, e.s, 0, "RegisterDevice")
	}},
	{"RegisterExistingRefused", func(t *testing.T, e *env) {
		must(t, e.s.RegisterDevice(fullDevice("device-1", "amy")))
		wantIs(t, e.s.RegisterDevice(store.Device{ID: "device-1", User: "bob"}), store.ErrExists, "RegisterDevice twice")
		got, _ := e.s.Device("device-1")
		sameDevice(t, got, fullDevice("device-1", "amy"), "a device after a refused second registration")
	}},
	{"UnknownDevice", func(t *testing.T, e *env) {
		_, err := e.s.Device("device-absent")
		wantIs(t, err, store.ErrNotFound, "Device(absent)")
		called := false
		err = e.s.UpdateDevice("device-absent", func(*store.Device) error { called = true; return nil })
		wantIs(t, err, store.ErrNotFound, "UpdateDevice(absent)")
		if called {
			t.Fatal("UpdateDevice called its function for an unknown device")
		}
		wantIs(t, e.s.RevokeDevice("device-absent", at(1)), store.ErrNotFound, "RevokeDevice(absent)")
		noChanges(t, e.s, 0, "revoking an unknown device")
		if ds, err := e.s.Devices(); err != nil || len(ds) != 0 {
			t.Fatalf("Devices after failed operations = %v, %v", ds, err)
		}
	}},
	{"ListAll", func(t *testing.T, e *env) {
		if ds, err := e.s.Devices(); err != nil || len(ds) != 0 {
			t.Fatalf("Devices of a new store = %v, %v", ds, err)
		}
		ids := []string{"device-3", "device-1", "device-2"}
		for _, id := range ids {
			must(t, e.s.RegisterDevice(fullDevice(id, "amy")))
		}
		ds, err := e.s.Devices()
		must(t, err)
		var got []string
		for _, d := range ds {
			sameDevice(t, d, fullDevice(d.ID, "amy"), "a listed device")
			got = append(got, d.ID)
		}
		sameSet(t, got, ids, "Devices")
	}},
	{"UpdateChangesWhatTheFunctionSets", func(t *testing.T, e *env) {
		must(t, e.s.RegisterDevice(fullDevice("device-1", "amy")))
		must(t, e.s.RegisterDevice(fullDevice("device-2", "amy")))
		err := e.s.UpdateDevice("device-1", func(d *store.Device) error {
			sameDevice(t, *d, fullDevice("device-1", "amy"), "the device UpdateDevice hands over")
			d.LastSeen, d.TokenGen, d.RefreshHash = at(30), 4, []byte{7}
			return nil
		})
		must(t, err)
		want := fullDevice("device-1", "amy")
		want.LastSeen, want.TokenGen, want.RefreshHash = at(30), 4, []byte{7}
		got, _ := e.s.Device("device-1")
		sameDevice(t, got, want, "Device after UpdateDevice")
		other, _ := e.s.Device("device-2")
		sameDevice(t, other, fullDevice("device-2", "amy"), "another device after UpdateDevice")
		noChanges(t, e.s, 0, "UpdateDevice")
	}},
	{"UpdateErrorChangesNothing", func(t *testing.T, e *env) {
		must(t, e.s.RegisterDevice(fullDevice("device-1", "amy")))
		err := e.s.UpdateDevice("device-1", func(d *store.Device) error {
			d.LastSeen, d.Revoked, d.Host = at(99), true, "changed"
			return errRefused
		})
		wantIs(t, err, errRefused, "UpdateDevice whose function fails")
		got, _ := e.s.Device("device-1")
		sameDevice(t, got, fullDevice("device-1", "amy"), "Device after a failed update")
	}},
	{"UpdateCannotMoveTheDevice", func(t *testing.T, e *env) {
		must(t, e.s.RegisterDevice(fullDevice("device-1", "amy")))
		err := e.s.UpdateDevice("device-1", func(d *store.Device) error { d.ID = "device-2"; return nil })
		if err == nil {
			t.Fatal("UpdateDevice let its function change the device's ID")
		}
		got, _ := e.s.Device("device-1")
		sameDevice(t, got, fullDevice("device-1", "amy"), "Device after a refused ID change")
		if _, err := e.s.Device("device-2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a refused ID change made device-2: %v", err)
		}
	}},
	{"RevokeOnceAndLogs", func(t *testing.T, e *env) {
		must(t, e.s.RegisterDevice(fullDevice("device-1", "amy")))
		must(t, e.s.RevokeDevice("device-1", at(40)))
		expectChanges(t, e.s, 0, true, change{Kind: store.ChangeDeviceRevoked, Device: "device-1", User: "amy", At: at(40)})
		got, _ := e.s.Device("device-1")
		want := fullDevice("device-1", "amy")
		want.Revoked, want.RevokedAt, want.RefreshHash, want.PrevRefreshHash = true, at(40), nil, nil
		if !got.Revoked || !got.RevokedAt.Equal(at(40)) || len(got.RefreshHash) != 0 || len(got.PrevRefreshHash) != 0 {
			t.Fatalf("a revoked device keeps its credentials or lacks its mark: %+v", got)
		}
		got.RefreshHash, got.PrevRefreshHash = nil, nil
		sameDevice(t, got, want, "a revoked device's other fields")
		seq := lastSeq(t, e.s)
		must(t, e.s.RevokeDevice("device-1", at(50)))
		noChanges(t, e.s, seq, "revoking a revoked device")
		if again, _ := e.s.Device("device-1"); !again.RevokedAt.Equal(at(40)) {
			t.Fatalf("a second revocation moved RevokedAt to %v", again.RevokedAt)
		}
	}},
}
