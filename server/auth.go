package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"kmcr/sync/protocol"
)

// PasswordParams are the Argon2id parameters for stored password hashes;
// they travel inside each hash, so they can be raised without breaking
// old ones.
type PasswordParams struct {
	Time    uint32
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultPasswordParams follow the common Argon2id recommendation
// (t=3, m=64 MiB, p=4).
var DefaultPasswordParams = PasswordParams{Time: 3, Memory: 64 * 1024, Threads: 4}

const (
	saltLen = 16
	hashLen = 32
)

// HashPassword returns a PHC-style Argon2id string.
func HashPassword(pw string, p PasswordParams) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	h := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, hashLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(h)), nil
}

// ErrBadHash is returned for a stored hash that cannot be parsed.
var ErrBadHash = errors.New("stored password hash is malformed")

// VerifyPassword checks pw against a HashPassword string in constant time.
func VerifyPassword(encoded, pw string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrBadHash
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, ErrBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false, ErrBadHash
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// Token errors.
var (
	// ErrTokenExpired is returned for a well-signed access token past its expiry.
	ErrTokenExpired = errors.New("access token expired")
	// ErrTokenInvalid is returned for a token that is malformed or badly signed.
	ErrTokenInvalid = errors.New("access token invalid")
)

// claims are what an access token asserts.
type claims struct {
	User   string `json:"u"`
	Device string `json:"d"`
	Expiry int64  `json:"exp"`
	// Issued is when the server signed it: the server caps a token's life
	// at AccessTokenTTL from here, whatever Expiry claims.
	Issued int64 `json:"iat"`
	// Key names the signing key (TokenKeys), so a rotation can accept the
	// tokens of the key it retired.
	Key string `json:"k"`
	// Gen numbers the device's token answers; only the newest answer's
	// token is accepted (a later login or refresh ends earlier ones).
	Gen uint64 `json:"g,omitempty"`
}

const tokenPrefix = "kmcr1."

// tokenSkew is the clock difference tolerated between the moment a token
// claims it was issued and the server's clock (a restart on a host whose
// clock was stepped, say).
const tokenSkew = time.Minute

// tokens signs and checks access tokens with HMAC-SHA256 keys held apart
// from the database: stateless to check, useless once expired.
type tokens struct{ keys *TokenKeys }

func (tk tokens) issue(c claims) string {
	k := tk.keys.current()
	c.Key = k.ID
	body, _ := json.Marshal(c)
	b64 := base64.RawURLEncoding
	p := b64.EncodeToString(body)
	mac := hmac.New(sha256.New, k.Key)
	mac.Write([]byte(tokenPrefix + p))
	return tokenPrefix + p + "." + b64.EncodeToString(mac.Sum(nil))
}

// check verifies a token's signature with the key it names and returns
// its claims, with Expiry capped at Issued + AccessTokenTTL.
func (tk tokens) check(tok string, now time.Time) (claims, error) {
	var c claims
	if !strings.HasPrefix(tok, tokenPrefix) {
		return c, ErrTokenInvalid
	}
	rest := tok[len(tokenPrefix):]
	i := strings.IndexByte(rest, '.')
	if i < 0 {
		return c, ErrTokenInvalid
	}
	b64 := base64.RawURLEncoding
	sig, err := b64.DecodeString(rest[i+1:])
	if err != nil {
		return c, ErrTokenInvalid
	}
	body, err := b64.DecodeString(rest[:i])
	if err != nil || json.Unmarshal(body, &c) != nil || c.User == "" || c.Device == "" || c.Key == "" || c.Issued == 0 {
		return claims{}, ErrTokenInvalid
	}
	key, ok := tk.keys.lookup(c.Key, now)
	if !ok {
		return claims{}, ErrTokenInvalid
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(tokenPrefix + rest[:i]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return claims{}, ErrTokenInvalid
	}
	issued := time.Unix(c.Issued, 0)
	if issued.After(now.Add(tokenSkew)) {
		return claims{}, ErrTokenInvalid
	}
	// The server decides how long a token lives: a longer claimed expiry
	// (a token minted with a stolen key, or by a buggy version) is cut.
	if limit := issued.Add(protocol.AccessTokenTTL); time.Unix(c.Expiry, 0).After(limit) {
		c.Expiry = limit.Unix()
	}
	if !now.Before(time.Unix(c.Expiry, 0)) {
		return c, ErrTokenExpired
	}
	return c, nil
}

// newRefresh returns a random refresh credential and the hash the server keeps.
func newRefresh() (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	return tok, hashRefresh(tok), nil
}

func hashRefresh(tok string) []byte {
	h := sha256.Sum256([]byte("kmcr refresh credential\x00" + tok))
	return h[:]
}
