package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"

	"github.com/gorilla/sessions"
)

// CSRF tokens are bound to the session they protect, so that a token
// cannot be planted: someone who can write a cookie for this host (a
// sibling subdomain, another port, plain HTTP on the network) cannot make
// the server accept a token of their choosing, as they could with a
// double-submit cookie.
//
//   - Signed in, the token is HMAC(key, server-side session token): it
//     changes with every login (the token is new each time) and dies with
//     the session.
//   - Before login (signup, login and setup forms), it is HMAC(key,
//     pre-session id): a random id kept in the encrypted, signed session
//     cookie. SetSessionToken drops it, so pre-login tokens stop working
//     at login.
//
// The key is derived from SESSION_SECRET and used for nothing else.

// preSessionKey is the cookie session's value holding the pre-session id.
const preSessionKey = "pre"

// CSRFToken returns the token the forms of this cookie session carry.
// created is true when a pre-session was started: the caller saves the
// session so that the cookie holds it.
func (s *Service) CSRFToken(sess *sessions.Session) (token string, created bool) {
	binding, ok := csrfBinding(sess)
	if !ok {
		sess.Values[preSessionKey] = rand.Text()
		binding, _ = csrfBinding(sess)
		created = true
	}
	return s.csrfMAC(binding), created
}

// CheckCSRF reports whether got is the token of this cookie session. A
// session with neither a login nor a pre-session has no valid token.
func (s *Service) CheckCSRF(sess *sessions.Session, got string) bool {
	binding, ok := csrfBinding(sess)
	if !ok || got == "" {
		return false
	}
	return hmac.Equal([]byte(got), []byte(s.csrfMAC(binding)))
}

// csrfBinding is what the session's token is bound to.
func csrfBinding(sess *sessions.Session) (string, bool) {
	if t := SessionToken(sess); t != "" {
		return "session:" + t, true
	}
	if p, _ := sess.Values[preSessionKey].(string); p != "" {
		return "pre:" + p, true
	}
	return "", false
}

func (s *Service) csrfMAC(binding string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(binding))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
