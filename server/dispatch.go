package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"kmcr/record"
	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// maxDispatchBody bounds a dispatch API request body.
const maxDispatchBody = 16 << 10

// Dispatch API error codes, beside protocol's (bad_request, not_found).
const (
	ErrCodeUnauthorized   = "unauthorized"   // no or a wrong dispatch credential
	ErrCodeUnknownCrew    = "unknown_crew"   // a crew user name the record does not know
	ErrCodeBadPostcode    = "bad_postcode"   // not a UK postcode
	ErrCodeBadExpiry      = "bad_expiry"     // not a duration or time, in the past, or more than 12 hours away
	ErrCodeBadNHS         = "bad_nhs_number" // an NHS number that fails its check digit
	ErrCodeTooLarge       = "too_large"      // a body over the limit
	ErrCodeIncidentOwned  = "incident_owned" // another dispatch system's incident
	ErrCodeUnknownField   = "unknown_field"  // a JSON field the API does not take
	ErrCodeBadIncidentArg = "bad_incident"   // any other bad field (id, address line, crew count)
)

// dispatchRequest is the body of POST /v1/dispatch/incidents.
type dispatchRequest struct {
	ID      string `json:"id"`
	Address struct {
		Line     string `json:"line"`
		Postcode string `json:"postcode"`
	} `json:"address"`
	NHS     []string `json:"nhs"`
	Crew    []string `json:"crew"`
	Expires string   `json:"expires"`
}

// dispatchAnswer is what the API returns for an incident: never the
// candidates' NHS numbers, only how many were found.
type dispatchAnswer struct {
	ID         string    `json:"id"`
	Address    string    `json:"address"`
	Postcode   string    `json:"postcode"`
	Opened     time.Time `json:"opened"`
	Expires    time.Time `json:"expires"`
	Crew       []string  `json:"crew"`
	Candidates int       `json:"candidates"`
	Updated    bool      `json:"updated"`
}

// dispatchAuth checks the Bearer dispatch credential.
func (s *Service) dispatchAuth(w http.ResponseWriter, r *http.Request) (string, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get(protocol.AuthHeader), "Bearer ")
	name, good := "", false
	if ok {
		name, good = s.dispatcher(strings.TrimSpace(tok))
	}
	if !good {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kmcr-dispatch"`)
		apiError(w, http.StatusUnauthorized, ErrCodeUnauthorized, "a dispatch system's credential is required (Authorization: Bearer NAME.SECRET, from kmcr-server dispatch add)")
		return "", false
	}
	return name, true
}

// handleDispatchOpen is POST /v1/dispatch/incidents.
func (s *Service) handleDispatchOpen(w http.ResponseWriter, r *http.Request) {
	source, ok := s.dispatchAuth(w, r)
	if !ok {
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		apiError(w, http.StatusUnsupportedMediaType, protocol.ErrCodeBadRequest, "send the incident as application/json")
		return
	}
	var req dispatchRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxDispatchBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			apiError(w, http.StatusRequestEntityTooLarge, ErrCodeTooLarge, fmt.Sprintf("the incident is over %d bytes", maxDispatchBody))
		case strings.Contains(err.Error(), "unknown field"):
			apiError(w, http.StatusBadRequest, ErrCodeUnknownField, err.Error())
		default:
			apiError(w, http.StatusBadRequest, protocol.ErrCodeBadRequest, "the body is not an incident: "+err.Error())
		}
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		apiError(w, http.StatusBadRequest, protocol.ErrCodeBadRequest, "the body holds more than one JSON value")
		return
	}
	prev, perr := s.st.Incident(req.ID)
	in, err := s.OpenIncident(IncidentArgs{ID: req.ID, Line: req.Address.Line, Postcode: req.Address.Postcode,
		NHS: req.NHS, Crew: req.Crew, Expires: req.Expires, Source: source})
	if err != nil {
		s.dispatchError(w, err, req)
		return
	}
	status := http.StatusCreated
	updated := perr == nil && prev.ID == in.ID
	if updated {
		status = http.StatusOK
	}
	writeJSON(w, status, dispatchAnswer{ID: in.ID, Address: in.Address, Postcode: in.Postcode, Opened: in.Opened,
		Expires: in.Expires, Crew: in.Crew, Candidates: len(in.NHS), Updated: updated})
}

// dispatchError maps OpenIncident's and CloseIncident's errors to codes.
func (s *Service) dispatchError(w http.ResponseWriter, err error, req dispatchRequest) {
	var ae *AdminError
	if !errors.As(err, &ae) {
		s.cfg.Logf("dispatch: %v", err)
		apiError(w, http.StatusServiceUnavailable, protocol.ErrCodeInternal, "the record could not store the incident; try again")
		return
	}
	code, status := ErrCodeBadIncidentArg, http.StatusBadRequest
	switch {
	case errors.Is(err, ErrIncidentOwned):
		code, status = ErrCodeIncidentOwned, http.StatusConflict
	case errors.Is(err, record.ErrInvalidNHSNumber):
		code = ErrCodeBadNHS
	case errors.Is(err, store.ErrNotFound) && strings.HasPrefix(ae.Message, "crew:"):
		code, status = ErrCodeUnknownCrew, http.StatusUnprocessableEntity
	case errors.Is(err, store.ErrNotFound):
		code, status = protocol.ErrCodeNotFound, http.StatusNotFound
	case strings.HasPrefix(ae.Message, "postcode"):
		code = ErrCodeBadPostcode
	case strings.HasPrefix(ae.Message, "expiry"):
		code = ErrCodeBadExpiry
	}
	apiError(w, status, code, ae.Message)
}

// handleDispatchClose is DELETE /v1/dispatch/incidents/{id} (or
// DELETE /v1/dispatch/incidents?id=ID for ids with a '/').
func (s *Service) handleDispatchClose(w http.ResponseWriter, r *http.Request) {
	source, ok := s.dispatchAuth(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if id == "" {
		id = r.URL.Query().Get("id")
	}
	if id == "" {
		apiError(w, http.StatusBadRequest, ErrCodeBadIncidentArg, "name the incident: DELETE "+protocol.PathDispatchIncidents+"/ID")
		return
	}
	in, err := s.CloseIncident(id, source)
	if err != nil {
		s.dispatchError(w, err, dispatchRequest{ID: id})
		return
	}
	writeJSON(w, http.StatusOK, dispatchAnswer{ID: in.ID, Address: in.Address, Postcode: in.Postcode, Opened: in.Opened,
		Expires: in.Expires, Crew: in.Crew, Candidates: len(in.NHS)})
}
