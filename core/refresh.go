package core

import (
	"kmcr/cache"
)

// Refreshed is what a screen showing v shows now: when the cache holds a
// newer version of the patient's record (a sync applied it while the
// patient was open), that version, opened with its audit event as any
// view; when only the cache was confirmed current since ("as of" later),
// v with the later "as of" (the same content, so no new event). It
// reports false when nothing changed, and when the patient is no longer
// on the device (the screen keeps what it shows until it is closed).
func (c *Core) Refreshed(v *PatientView) (*PatientView, bool, error) {
	cc, _, err := c.open()
	if err != nil {
		return nil, false, err
	}
	ver, ok := cc.Version(v.NHS)
	if !ok {
		return nil, false, nil
	}
	if ver > v.Version {
		var nv *PatientView
		if v.Incident != "" {
			// Opened for an incident: read again for it (its purpose),
			// and not at all once it has ended.
			nv, err = c.OpenIncidentPatient(v.Incident, v.NHS.Digits())
		} else {
			nv, err = c.OpenPatient(v.NHS.Digits(), nil)
		}
		if err != nil {
			return nil, false, err
		}
		nv.BreakGlass = nv.BreakGlass || v.BreakGlass
		return nv, true, nil
	}
	var asOf = v.AsOf
	if err := cc.View(func(tx *cache.Tx) error { _, err := getJSON(tx, metaAsOf, &asOf); return err }); err != nil {
		return nil, false, err
	}
	if !asOf.After(v.AsOf) {
		return nil, false, nil
	}
	nv := *v
	sum := *v.Summary
	sum.AsOf = asOf
	nv.Summary, nv.AsOf = &sum, asOf
	nv.Stale = nv.Freshness > 0 && c.now().Sub(asOf) > nv.Freshness
	return &nv, true, nil
}
