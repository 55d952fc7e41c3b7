package present

import (
	"strings"

	"kmcr/record"
)

// IncidentAddress is an incident's address as a screen shows it: the
// first line and town the dispatch system gave, then the postcode in its
// one normalised form ("12 High Street, Rochester ME1 1AA"). A postcode
// the address already ends with is not repeated.
func IncidentAddress(address, postcode string) string {
	address = strings.TrimSpace(address)
	pc := record.NormalisePostcode(postcode)
	if pc == "" || strings.HasSuffix(record.CompactPostcode(address), record.CompactPostcode(pc)) {
		return address
	}
	if address == "" {
		return pc
	}
	return address + " " + pc
}

// IncidentHeading is the line a crew's screen shows for an open incident:
// "Incident 4711: 2 people recorded at 12 High Street, Rochester ME1 1AA".
// people counts the candidates the record found at the address.
func IncidentHeading(id string, people int, address string) string {
	return "Incident " + id + ": " + Plural(people, "person", "people") + " recorded at " + address
}

// IncidentNobody is what follows the heading when nobody is recorded at
// the address: the record holds no one to show, so the crew must find the
// patient the ordinary way.
const IncidentNobody = "No summary was sent for this address. Search for the patient when you arrive; if they are not on this device, use emergency access (break-glass)."

// IncidentPurpose is the purpose of use an incident candidate's view is
// recorded under: "emergency care, incident 4711".
func IncidentPurpose(id string) string { return "emergency care, incident " + id }

// IncidentEnded is what replaces a candidate's summary when the incident
// it was opened for ends.
func IncidentEnded(id string) string {
	return "Incident " + id + " has ended, so this summary was closed. If you still need it, search for the patient; emergency access remains available."
}
