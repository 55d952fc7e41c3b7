package policy

import (
	"testing"

	"kmcr/record"
	"kmcr/sync/protocol"
)

// TestDecide checks each role's decision with and without objections,
// sensitive items and oversize documents.
func TestDecide(t *testing.T) {
	all := []string{"demographics", "gp", "allergies", "medications", "problems"}
	tests := []struct {
		name     string
		role     Role
		facts    PatientFacts
		send     bool
		doc      string
		withheld []string // reasons
		revoke   string
	}{
		{"paramedic full", Paramedic, PatientFacts{Sections: all}, true, DocFull, nil, ""},
		{"community full", Community, PatientFacts{Sections: all}, true, DocFull, nil, ""},
		{"front desk demographics", FrontDesk, PatientFacts{Sections: all}, true, DocDemographics, nil, ""},
		{"paramedic objection to emergency care", Paramedic, PatientFacts{Sections: all, Objections: []string{PurposeEmergency}}, true, DocDemographics, []string{protocol.WithheldObjection}, ""},
		{"paramedic unaffected by direct-care objection", Paramedic, PatientFacts{Sections: all, Objections: []string{PurposeDirect}}, true, DocFull, nil, ""},
		{"community objection to direct care", Community, PatientFacts{Sections: all, Objections: []string{PurposeDirect, PurposeResearch}}, true, DocDemographics, []string{protocol.WithheldObjection}, ""},
		{"front desk objection revokes", FrontDesk, PatientFacts{Objections: []string{PurposeAdmin}}, false, "", nil, protocol.DelObjection},
		{"sensitive items withheld", Paramedic, PatientFacts{Sections: all, Sensitive: 2}, true, DocFull, []string{protocol.WithheldSensitive}, ""},
		{"too large", Community, PatientFacts{Sections: all, TooLarge: true}, true, DocDemographics, []string{protocol.WithheldTooLarge}, ""},
		{"restricted patient revoked", Paramedic, PatientFacts{Sections: all, Restricted: true}, false, "", nil, protocol.DelNotPermitted},
		{"restricted patient off reception too", FrontDesk, PatientFacts{Sections: all, Restricted: true}, false, "", nil, protocol.DelNotPermitted},
		{"unstorable patient not offered", Community, PatientFacts{Sections: all, Unstorable: true}, false, "", nil, protocol.DelNotPermitted},
		{"privacy officer gets nothing", PrivacyOfficer, PatientFacts{Sections: all}, false, "", nil, protocol.DelNotPermitted},
		{"admin gets nothing", Admin, PatientFacts{Sections: all}, false, "", nil, protocol.DelNotPermitted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(For(tt.role), tt.facts)
			if d.Send != tt.send || d.Doc != tt.doc || d.Revoke != tt.revoke {
				t.Fatalf("Decide = %+v", d)
			}
			if len(d.Withheld) != len(tt.withheld) {
				t.Fatalf("withheld %+v; want reasons %v", d.Withheld, tt.withheld)
			}
			for i, w := range d.Withheld {
				if w.Reason != tt.withheld[i] {
					t.Fatalf("withheld %+v; want reasons %v", d.Withheld, tt.withheld)
				}
			}
		})
	}
}

// TestFor_Leases checks the documented lease defaults per role.
func TestFor_Leases(t *testing.T) {
	if For(Paramedic).Lease != DefaultLease || For(Community).Lease != DefaultLease || For(FrontDesk).Lease != FrontDeskLease {
		t.Fatal("lease defaults changed without the docs")
	}
	if For(FrontDesk).BreakGlass || !For(Paramedic).BreakGlass {
		t.Fatal("break-glass roles changed")
	}
	if w := For(Paramedic).Wire(); w.Purpose != "ETREAT" || w.LeaseSeconds != 72*3600 {
		t.Fatalf("wire policy %+v", w)
	}
}

// TestIsSensitive checks the labels that keep an item off laptops.
func TestIsSensitive(t *testing.T) {
	tests := []struct {
		labels []record.Coding
		want   bool
	}{
		{nil, false},
		{[]record.Coding{{System: "http://terminology.hl7.org/CodeSystem/v3-ActCode", Code: "SEX"}}, true},
		{[]record.Coding{{System: "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", Code: "R"}}, true},
		{[]record.Coding{{System: "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", Code: "N"}}, false},
		{[]record.Coding{{System: "http://example.org", Code: "SEX"}}, false},
	}
	for _, tt := range tests {
		if got := IsSensitive(tt.labels); got != tt.want {
			t.Errorf("IsSensitive(%v) = %v", tt.labels, got)
		}
	}
}

// TestParse checks roles and purposes are refused with the valid list.
func TestParse(t *testing.T) {
	if _, err := ParseRole("nurse"); err == nil {
		t.Fatal("unknown role accepted")
	}
	if _, err := ParsePurpose("marketing"); err == nil {
		t.Fatal("unknown purpose accepted")
	}
	for _, p := range Purposes {
		if PurposeCode(p) == "" {
			t.Fatalf("purpose %s has no ActReason code", p)
		}
	}
}
