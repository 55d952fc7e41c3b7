package audit

import (
	"crypto/ed25519"
	"errors"
	"testing"
)

// TestVerifyHead_Cases checks a head verifies only for the key, device and
// head it was signed for.
func TestVerifyHead_Cases(t *testing.T) {
	pub, priv := testKey()
	otherPub, _, err := NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	h := Head{Seq: 42, Hash: HashCanonical([]byte("42"))}
	good := SignHead(priv, testDevice, h)
	tests := []struct {
		name   string
		pub    ed25519.PublicKey
		device string
		sh     func() SignedHead
		want   error
	}{
		{"good", pub, testDevice, func() SignedHead { return good }, nil},
		{"other key", otherPub, testDevice, func() SignedHead { return good }, ErrBadSignature},
		{"other device", pub, testDevice + "x", func() SignedHead { return good }, ErrBadSignature},
		{"device id prefix", pub, "dev-amb-1", func() SignedHead { return good }, ErrBadSignature},
		{"seq changed", pub, testDevice, func() SignedHead { s := good; s.Seq++; return s }, ErrBadSignature},
		{"hash changed", pub, testDevice, func() SignedHead { s := good; s.Hash[0] ^= 1; return s }, ErrBadSignature},
		{"signature cut", pub, testDevice, func() SignedHead { s := good; s.Signature = s.Signature[:10]; return s }, ErrBadSignature},
		{"no signature", pub, testDevice, func() SignedHead { return SignedHead{Head: h} }, ErrBadSignature},
		{"short key", pub[:31], testDevice, func() SignedHead { return good }, ErrBadKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyHead(tt.pub, tt.device, tt.sh())
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("VerifyHead = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestNewDeviceKey_Distinct checks two enrolments get different keys that
// sign and verify.
func TestNewDeviceKey_Distinct(t *testing.T) {
	p1, k1, err1 := NewDeviceKey()
	p2, _, err2 := NewDeviceKey()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if p1.Equal(p2) {
		t.Fatal("two device keys are equal")
	}
	if err := VerifyHead(p1, "d", SignHead(k1, "d", Head{Seq: 1})); err != nil {
		t.Fatal(err)
	}
}
