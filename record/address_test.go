package record

import "testing"

func TestNormaliseAddressLine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"12, High St.", "12 HIGH STREET"},
		{"12 high   street", "12 HIGH STREET"},
		{"Flt 3, 4 Rosé Rd", "FLAT 3 4 ROSE ROAD"},
		{"", ""},
	} {
		if got := NormaliseAddressLine(c.in); got != c.want {
			t.Errorf("NormaliseAddressLine(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

func TestAddressPremise(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"12 High Street", "12"},
		{"12a High Street", "12A"},
		{"12 A High Street", "12A"},
		{"Flat 3, 12 High Street", "FLAT 3/12"},
		{"Flat 3", "FLAT 3"},
		{"Rose Cottage, Mill Lane", "ROSE COTTAGE"},
		{"The Old Rectory", "THE OLD RECTORY"},
		{"  ", ""},
	} {
		if got := AddressPremise(c.in); got != c.want {
			t.Errorf("AddressPremise(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

func TestSamePremise(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"12 High Street", "12, High St.", true},
		{"12 High Street", "12a High Street", false},
		{"12 High Street", "14 High Street", false},
		{"12 High Street", "112 High Street", false},
		{"Flat 3, 12 High Street", "Flat 3 12 High St", true},
		{"Flat 3, 12 High Street", "Flat 4, 12 High Street", false},
		{"Rose Cottage", "Rose Cottage, Mill Lane", true},
		{"Rose Cottage Mill Lane", "Rose Cottage", true},
		{"Rose Cottage", "Rosebank", false},
		{"", "12 High Street", false},
	} {
		if got := SamePremise(c.a, c.b); got != c.same {
			t.Errorf("SamePremise(%q, %q) = %v; want %v", c.a, c.b, got, c.same)
		}
	}
}
