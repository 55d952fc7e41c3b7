package shareddata

import "testing"

// TestExpect_Totals pins what the independent decoder reads from the
// shared data, counted with jq: 22 NHS numbers (one of them, 900 000 0025,
// restricted), 181 immunisations across 16 patients, SMITH, Jane for
// 900 000 0009 from the PDS file although the SCR bundle names her first.
func TestExpect_Totals(t *testing.T) {
	e := Expect(t, Dir(t))
	imms, withImms, restricted := 0, 0, 0
	for _, p := range e {
		if n := len(p.Items[immunizations]); n > 0 {
			imms += n
			withImms++
		}
		if p.Restricted {
			restricted++
		}
	}
	if len(e) != 22 || imms != 181 || withImms != 16 || restricted != 1 {
		t.Errorf("%d patients, %d immunisations across %d, %d restricted", len(e), imms, withImms, restricted)
	}
	jane := e["9000000009"]
	if jane == nil || jane.Family != "SMITH" || jane.Given != "Jane" || jane.Postcode != "LS1 6AE" || jane.GP != "Y12345" || !jane.Deceased ||
		len(jane.Items[problems]) != 5 || len(jane.Documents) != 16 {
		t.Errorf("900 000 0009: %+v", jane)
	}
	if j := e["9999777503"]; j == nil || j.AgeAtDeath != "(58y)" || j.Family != "ABBOTT770" {
		t.Errorf("999 977 7503: %+v", j)
	}
	if j := e["9993462381"]; j == nil || j.Other["Claim"] != 16 || j.Other["DiagnosticReport"] != 4 {
		t.Errorf("999 346 2381: %+v", j)
	}
}
