package devidp

import (
	"crypto/subtle"
	"html/template"
	"net/http"
	"time"

	"kmcr/record"
)

// csrfCookie carries the sign-in form's double-submit token.
const csrfCookie = "__Host-kmcr-devidp-csrf"

var loginTmpl = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in (development) - NHS login stand-in</title>
<link rel="stylesheet" href="/my/assets/nhsuk.min.css">
</head>
<body>
<header class="nhsuk-header" role="banner"><div class="nhsuk-header__container nhsuk-width-container"><div class="nhsuk-header__service"><span class="nhsuk-header__service-name">Development sign-in (stands in for NHS login)</span></div></div></header>
<div class="nhsuk-width-container">
<main class="nhsuk-main-wrapper" id="maincontent">
<h1>Sign in</h1>
<div class="nhsuk-inset-text"><p>This is a development sign-in for demonstrations and tests. Every demo citizen's password is <strong>demo citizen</strong>.</p></div>
{{if .Error}}<div class="nhsuk-error-summary" aria-labelledby="error-summary-title" role="alert" tabindex="-1"><h2 class="nhsuk-error-summary__title" id="error-summary-title">There is a problem</h2><div class="nhsuk-error-summary__body"><ul class="nhsuk-list nhsuk-error-summary__list"><li><a href="#nhs">{{.Error}}</a></li></ul></div></div>{{end}}
<form method="post" action="/dev-idp/login" novalidate>
<input type="hidden" name="authRequestID" value="{{.ID}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<div class="nhsuk-form-group">
<label class="nhsuk-label" for="nhs">NHS number</label>
<div class="nhsuk-hint" id="nhs-hint">A 10 digit number, for example 999 000 0018</div>
<input class="nhsuk-input nhsuk-input--width-10" id="nhs" name="nhs" type="text" inputmode="numeric" autocomplete="off" aria-describedby="nhs-hint" value="{{.NHS}}">
</div>
<div class="nhsuk-form-group">
<label class="nhsuk-label" for="password">Password</label>
<input class="nhsuk-input nhsuk-input--width-20" id="password" name="password" type="password" autocomplete="current-password">
</div>
<div class="nhsuk-form-group">
<label class="nhsuk-label" for="level">Identity proofing level to assert</label>
<div class="nhsuk-hint" id="level-hint">P9 means your identity has been fully checked; record access needs it</div>
<select class="nhsuk-select" id="level" name="level" aria-describedby="level-hint">
{{range .Levels}}<option value="{{.}}">{{.}}</option>{{end}}
</select>
</div>
<button class="nhsuk-button" type="submit" data-module="nhsuk-button">Continue</button>
</form>
</main>
</div>
</body>
</html>
`))

type loginView struct {
	ID, CSRF, NHS, Error string
	Levels               []string
}

func (s *storage) renderLogin(w http.ResponseWriter, r *http.Request, status int, v loginView) {
	tok := randomID()
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: int(authRequestLifetime / time.Second)})
	v.CSRF, v.Levels = tok, Levels
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = loginTmpl.Execute(w, v)
}

func (s *storage) loginPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	if _, err := s.request(id); err != nil {
		http.Error(w, "This sign-in has expired or is unknown. Start again from the portal.", http.StatusBadRequest)
		return
	}
	s.renderLogin(w, r, http.StatusOK, loginView{ID: id})
}

func (s *storage) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		http.Error(w, "The form has expired. Go back and try again.", http.StatusForbidden)
		return
	}
	id := r.PostFormValue("authRequestID")
	req, err := s.request(id)
	if err != nil {
		http.Error(w, "This sign-in has expired or is unknown. Start again from the portal.", http.StatusBadRequest)
		return
	}
	level := r.PostFormValue("level")
	known := false
	for _, l := range Levels {
		known = known || l == level
	}
	n, nerr := record.ParseNHSNumber(r.PostFormValue("nhs"))
	fail := func(msg string) {
		s.renderLogin(w, r, http.StatusUnauthorized, loginView{ID: id, NHS: r.PostFormValue("nhs"), Error: msg})
	}
	if nerr != nil || !known {
		fail("Enter a valid NHS number")
		return
	}
	ok, err := s.citizens.IsPatient(n.Digits())
	if err != nil {
		http.Error(w, "The record could not be reached. Try again later.", http.StatusServiceUnavailable)
		return
	}
	if !ok || subtle.ConstantTimeCompare([]byte(r.PostFormValue("password")), []byte(DemoPassword)) != 1 {
		fail("The NHS number or password is not right")
		return
	}
	s.mu.Lock()
	req.nhs, req.level, req.subject, req.authTime, req.done = n.Digits(), level, Subject(s.key, n.Digits()), time.Now(), true
	s.mu.Unlock()
	http.Redirect(w, r, s.callback(r.Context(), id), http.StatusFound)
}
