package server

import (
	"bytes"
	"testing"

	"kmcr/sync/protocol"
)

// TestSession_Compression_OlderClientStillSyncs runs the same first sync
// of real summaries twice against one server: once offering every
// subprotocol (zstd with the embedded dictionary is chosen) and once as a
// client built before compression (plain kmcr.sync.v1). Both get the same
// documents; the compressed one moves several times fewer bytes.
func TestSession_Compression_OlderClientStillSyncs(t *testing.T) {
	ts := newTestServer(t, 120)
	ts.addUser("amy", "paramedic", ts.nhs...)
	run := func(dev int, protos []string) (*client, protocol.ConnStats, string) {
		tok, _ := ts.login("amy", devID(dev))
		c := ts.dialProtos(tok.AccessToken, protos)
		cl := newClient(t, c)
		cl.hello(protocol.DefaultWindow)
		cl.untilUpToDate(protocol.DefaultWindow)
		return cl, c.Stats(), c.Compression()
	}
	old, oldStats, oldComp := run(1, []string{protocol.Subprotocol})
	nu, nuStats, nuComp := run(2, protocol.Subprotocols())
	if oldComp != "" || nuComp != "zstd.d1" {
		t.Fatalf("compression: older client %q, new client %q", oldComp, nuComp)
	}
	sameSet(t, old.heldSet(), ts.nhs)
	sameSet(t, nu.heldSet(), ts.nhs)
	for nhs, d := range old.docs {
		if !bytes.Equal(nu.docs[nhs], d) {
			t.Fatalf("patient %s: the compressed sync delivered a different document", nhs)
		}
	}
	if oldStats.WireIn != oldStats.RawIn {
		t.Fatalf("plain client: %d wire bytes for %d frame bytes", oldStats.WireIn, oldStats.RawIn)
	}
	// The frames carry the same documents; only header timestamps differ.
	if d := nuStats.RawIn - oldStats.RawIn; d > oldStats.RawIn/100 || -d > oldStats.RawIn/100 {
		t.Fatalf("frame bytes differ: %d compressed, %d plain", nuStats.RawIn, oldStats.RawIn)
	}
	ratio := float64(oldStats.WireIn) / float64(nuStats.WireIn)
	t.Logf("first sync of %d summaries: %d bytes plain, %d with zstd.d1 (%.1fx)", len(ts.nhs), oldStats.WireIn, nuStats.WireIn, ratio)
	if ratio < 5 {
		t.Fatalf("compression ratio %.1f on real summaries; want at least 5x", ratio)
	}
}
