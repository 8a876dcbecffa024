package auth

// Service manages staff accounts and sessions.
// PLACEHOLDER: being implemented (staff users, sessions, throttling).
type Service struct{}
