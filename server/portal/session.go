package portal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"kmcr/server/store"
)

// MaxSession bounds a session from sign-in, however active.
const MaxSession = 12 * time.Hour

// resealAfter: a request later than this after the cookie's time seals
// it again with the new time (the idle clock); sooner ones leave it.
const resealAfter = 30 * time.Second

// sessionKeyName is the store secret the session cookies are sealed with.
const sessionKeyName = "portal-session-key"

func sessionSeal(st store.Store) (cipher.AEAD, error) {
	key, err := st.Secret(sessionKeyName)
	if err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// sealed is what the cookie carries.
type sealed struct {
	ID       string `json:"i"`
	NHS      string `json:"n"`
	Subject  string `json:"s"`
	Level    string `json:"l"`
	CSRF     string `json:"c"`
	SignedIn int64  `json:"a"` // unix milliseconds
	LastSeen int64  `json:"t"`
}

func (p *Portal) sealCookie(w http.ResponseWriter, s *Session) {
	b, _ := json.Marshal(sealed{ID: s.id, NHS: s.NHS, Subject: s.Subject, Level: s.Level, CSRF: s.CSRF, SignedIn: s.SignedIn.UnixMilli(), LastSeen: s.lastSeen.UnixMilli()})
	nonce := make([]byte, p.seal.NonceSize(), p.seal.NonceSize()+len(b)+p.seal.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	v := base64.RawURLEncoding.EncodeToString(p.seal.Seal(nonce, nonce, b, []byte(sessionCookie)))
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: v, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// open reads the request's session cookie, whatever its age.
func (p *Portal) open(r *http.Request) (*Session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 4096 {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(raw) < p.seal.NonceSize() {
		return nil, false
	}
	b, err := p.seal.Open(nil, raw[:p.seal.NonceSize()], raw[p.seal.NonceSize():], []byte(sessionCookie))
	if err != nil {
		return nil, false
	}
	var sd sealed
	if err := json.Unmarshal(b, &sd); err != nil || sd.ID == "" || sd.NHS == "" || sd.CSRF == "" {
		return nil, false
	}
	return &Session{id: sd.ID, NHS: sd.NHS, Subject: sd.Subject, Level: sd.Level, CSRF: sd.CSRF,
		SignedIn: time.UnixMilli(sd.SignedIn).UTC(), lastSeen: time.UnixMilli(sd.LastSeen).UTC()}, true
}

// session returns the request's live session, touching it (the cookie is
// sealed again with the time when it is older than resealAfter).
// expired reports a session that ended for idleness or age.
func (p *Portal) session(w http.ResponseWriter, r *http.Request) (s *Session, expired bool) {
	s, ok := p.open(r)
	if !ok {
		return nil, false
	}
	now := p.now()
	p.mu.Lock()
	_, ended := p.ended[s.id]
	p.mu.Unlock()
	if ended {
		return nil, false
	}
	if now.Sub(s.lastSeen) > IdleTimeout || now.Sub(s.SignedIn) > MaxSession {
		return nil, true
	}
	if now.Sub(s.lastSeen) > resealAfter {
		s.lastSeen = now
		p.sealCookie(w, s)
	}
	return s, false
}

func (p *Portal) newSession(w http.ResponseWriter, s *Session) {
	s.id, s.CSRF = randomToken(), randomToken()
	s.lastSeen, s.SignedIn = p.now(), p.now()
	p.sealCookie(w, s)
}

// endSession signs the request's session out here, and clears the cookie.
func (p *Portal) endSession(w http.ResponseWriter, r *http.Request) {
	if s, ok := p.open(r); ok {
		now := p.now()
		p.mu.Lock()
		// Ended sessions past any use are dropped, so they cannot pile up.
		for id, until := range p.ended {
			if now.After(until) {
				delete(p.ended, id)
			}
		}
		p.ended[s.id] = s.SignedIn.Add(MaxSession)
		p.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}
