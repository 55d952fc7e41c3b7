package demo

// kind numbers the resource kinds inside one patient, so that every id is
// derived from (seed, patient index, kind, ordinal) and nothing else.
type kind uint8

const (
	kindPatient kind = iota + 1
	kindAllergy
	kindCondition
	kindMedStatement
	kindMedRequest
	kindEncounter
	kindObservation
	kindFlag
	kindCarePlan
	kindImmunization
	kindDevice
	kindOrganization
	kindPractitioner
)

// mix is the SplitMix64 finaliser: a fast bijection on 64 bits with good
// avalanche, used to derive independent seeds and ids from small integers.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Domain-separation constants: each derived stream starts from a different
// value so that, say, the id key and the random stream of the same seed
// never coincide.
const (
	domainRand   = 0x6b6d63722d72616e // "kmcr-ran"
	domainID     = 0x6b6d63722d696473 // "kmcr-ids"
	domainNHS    = 0x6b6d63722d6e6873 // "kmcr-nhs"
	domainShared = 0x6b6d63722d6f7267 // "kmcr-org": organisations, the same for every seed
)

const mask62 = 1<<62 - 1

// scramble62 is a bijection on 62-bit values (xor-shifts and odd
// multipliers modulo 2^62 are each invertible). Because it is a bijection,
// distinct inputs give distinct ids: uniqueness is by construction, not by
// luck.
func scramble62(x uint64) uint64 {
	x &= mask62
	x ^= x >> 31
	x = x * 0xbf58476d1ce4e5b9 & mask62
	x ^= x >> 29
	x = x * 0x94d049bb133111eb & mask62
	x ^= x >> 32
	return x
}

// makeID returns an RFC 9562 version 8 ("custom") UUID for (key, index,
// kind, n). The low 62 bits are a keyed bijection of the packed triple, so
// ids never collide within one key; the high half is derived from them.
func makeID(key uint64, index int, k kind, n int) string {
	packed := uint64(index)<<28 | uint64(k)<<20 | uint64(n)&(1<<20-1)
	lo := scramble62(packed^key) | 2<<62 // variant 10
	hi := mix(lo ^ key)
	hi = hi&^(0xf<<12) | 0x8<<12 // version 8
	var b [36]byte
	hexInto(b[0:8], hi>>32)
	b[8] = '-'
	hexInto(b[9:13], hi>>16)
	b[13] = '-'
	hexInto(b[14:18], hi)
	b[18] = '-'
	hexInto(b[19:23], lo>>48)
	b[23] = '-'
	hexInto(b[24:36], lo)
	return string(b[:])
}

// hexInto writes the low 4*len(dst) bits of v as lower-case hex.
func hexInto(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = hexDigits[v&0xf]
		v >>= 4
	}
}

func idKey(seed uint64) uint64 { return mix(seed ^ domainID) }

// PatientID returns the FHIR id of patient i in the data set made with seed.
func PatientID(seed uint64, i int) string {
	return makeID(idKey(seed), i, kindPatient, 0)
}
