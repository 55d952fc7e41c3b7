package demo

import (
	"fmt"
	"sync"

	"kmcr/record"
)

// MaxPatients is how many valid NHS numbers the 999 test range holds: of the
// million nine-digit stems 999000000..999999999, those whose modulus 11
// check digit would be 10 can never be valid, which leaves 909,091. A data
// set cannot have more distinct patients than this without leaving the
// range that is never issued to real people.
const MaxPatients = 909091

// testStems lists, in ascending order, the six digits after "999" of every
// stem that has a valid check digit. Built once (about 5 ms) on first use.
var testStems = sync.OnceValue(func() []uint32 {
	stems := make([]uint32, 0, MaxPatients)
	var d [9]byte
	d[0], d[1], d[2] = '9', '9', '9'
	for s := uint32(0); s < 1000000; s++ {
		v := s
		for j := 8; j >= 3; j-- {
			d[j] = byte('0' + v%10)
			v /= 10
		}
		if _, ok := record.CompleteNHSNumber(string(d[:])); ok {
			stems = append(stems, s)
		}
	}
	return stems
})

// NHSNumber returns the NHS number of patient i in the data set made with
// seed. Numbers are in the 999 test range, pass the modulus 11 check, and
// are distinct for distinct i: i goes through a seed-keyed permutation of
// [0, MaxPatients) (a Feistel network with cycle walking) and then indexes
// the sorted list of valid stems. It panics if i is outside [0, MaxPatients).
func NHSNumber(seed uint64, i int) record.NHSNumber {
	if i < 0 || i >= MaxPatients {
		panic(fmt.Sprintf("demo: patient index %d outside [0, %d)", i, MaxPatients))
	}
	stem := testStems()[permute(mix(seed^domainNHS), uint32(i))]
	var d [9]byte
	d[0], d[1], d[2] = '9', '9', '9'
	for j := 8; j >= 3; j-- {
		d[j] = byte('0' + stem%10)
		stem /= 10
	}
	n, ok := record.CompleteNHSNumber(string(d[:]))
	if !ok {
		panic("demo: stem table holds an invalid stem") // cannot happen: the table is filtered
	}
	return n
}

const (
	feistelHalf   = 10 // bits per half: the network permutes [0, 2^20)
	feistelMask   = 1<<feistelHalf - 1
	feistelRounds = 4 // enough to scatter neighbours; this is shuffling, not secrecy
)

// permute is a keyed bijection on [0, MaxPatients). A balanced Feistel
// network permutes [0, 2^20); values that land at or beyond MaxPatients are
// fed through again (cycle walking), which keeps it a bijection on the
// smaller range and, since 2^20 is only 15% larger, costs little.
func permute(key uint64, x uint32) uint32 {
	for {
		l, r := x>>feistelHalf, x&feistelMask
		for round := uint64(0); round < feistelRounds; round++ {
			f := uint32(mix(key^round<<32^uint64(r))) & feistelMask
			l, r = r, l^f
		}
		x = l<<feistelHalf | r
		if x < MaxPatients {
			return x
		}
	}
}
