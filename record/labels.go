package record

import (
	"bytes"
	"encoding/json"
)

// withSecurity returns raw, a JSON object, with labels added to its
// meta.security (made if missing), every other member kept byte for byte
// and in order. A Bundle's own labels apply to each of its entries, and
// the server keeps only the entries: the labels must travel inside them.
func withSecurity(raw []byte, labels []Coding) []byte {
	if len(labels) == 0 {
		return raw
	}
	add, err := json.Marshal(labels)
	if err != nil {
		panic("record: marshalling codings: " + err.Error()) // strings only: cannot fail
	}
	add = add[1 : len(add)-1]
	var b bytes.Buffer
	b.Grow(len(raw) + len(add) + 32)
	b.WriteByte('{')
	n, sawMeta := 0, false
	eachMember(raw, func(k, v []byte) bool {
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteByte('"')
		b.Write(k)
		b.WriteString(`":`)
		if !sawMeta && keyIs(k, "meta") && len(v) > 0 && v[0] == '{' {
			sawMeta = true
			v = metaWithSecurity(v, add)
		}
		b.Write(v)
		return true
	})
	if !sawMeta {
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"meta":{"security":[`)
		b.Write(add)
		b.WriteString(`]}`)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// metaWithSecurity adds the codings in add (array elements, without the
// brackets) to a meta object's security array.
func metaWithSecurity(meta, add []byte) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	n, saw := 0, false
	eachMember(meta, func(k, v []byte) bool {
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteByte('"')
		b.Write(k)
		b.WriteString(`":`)
		if !saw && keyIs(k, "security") && len(v) > 0 && v[0] == '[' {
			saw = true
			b.WriteByte('[')
			eachElement(v, func(_ int, e []byte) bool {
				b.Write(e)
				b.WriteByte(',')
				return true
			})
			b.Write(add)
			b.WriteByte(']')
			return true
		}
		b.Write(v)
		return true
	})
	if !saw {
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"security":[`)
		b.Write(add)
		b.WriteByte(']')
	}
	b.WriteByte('}')
	return b.Bytes()
}
