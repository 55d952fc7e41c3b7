package record

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// assignedPrefix is the first three digits of every assigned number: the
// 999 range is never issued to a real person, so an assigned number can
// never be mistaken for someone's real NHS number.
const assignedPrefix = "999"

// AssignNHSNumber returns the NHS number given to a patient whose source
// carries none (Synthea and other non-UK data). The rule, which never
// changes because cached records and audit trails depend on it:
//
//  1. h = SHA-256 of key (the patient's canonical key, "Patient/<id>");
//  2. n = the first 8 bytes of h as a big-endian integer, modulo 1,000,000;
//  3. the candidate is "999" followed by n as six digits, completed with
//     its modulus 11 check digit;
//  4. if that prefix has no valid check digit, n = (n+1) mod 1,000,000 and
//     try again (at most a few steps: 1 prefix in 11 is unusable).
//
// The same key always gets the same number, and the number always passes
// the check. Different keys can share a number (there are about 909,000
// valid ones); ReadPaths reports such clashes as warnings.
func AssignNHSNumber(key string) NHSNumber {
	sum := sha256.Sum256([]byte(key))
	n := binary.BigEndian.Uint64(sum[:8]) % 1_000_000
	for {
		if num, ok := CompleteNHSNumber(fmt.Sprintf("%s%06d", assignedPrefix, n)); ok {
			return num
		}
		n = (n + 1) % 1_000_000
	}
}

// patientNHSNumber returns a Patient's NHS number: the one it carries, or
// one assigned from its key when it carries none. The error says why a
// carried number is unusable.
func patientNHSNumber(h *header, key string) (n NHSNumber, assigned bool, err error) {
	v, ok := h.nhsIdentifier()
	if !ok {
		return AssignNHSNumber(key), true, nil
	}
	n, err = ParseNHSNumber(v)
	return n, false, err
}
