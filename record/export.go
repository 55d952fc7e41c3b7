package record

// References calls fn with every reference string ("Organization/1",
// "urn:uuid:...", absolute URLs) anywhere in a resource's JSON. The server
// uses it to ship the shared resources a patient's record refers to.
func References(raw []byte, fn func(ref string)) { eachReference(raw, fn) }

// CanonicalRef turns a relative or absolute literal reference, with or
// without a _history suffix, into its canonical "Type/id" key. It reports
// false for urn: references, contained (#) references and searches.
func CanonicalRef(ref string) (string, bool) { return canonicalRef(ref) }

// ResourceFromRaw reads a stored resource's identity and security labels
// without decoding the rest: the inverse of keeping only Raw. raw must be a
// JSON object that Scan accepted.
func ResourceFromRaw(raw []byte, fullURL string) Resource {
	h := readIdentity(raw)
	return Resource{Type: h.typ, ID: h.id, FullURL: fullURL, Raw: raw, Security: h.security, Contained: h.contained}
}
