package openai

// maxRequestIDLen bounds a stored request ID. OpenAI's are "req_" and 32
// hex digits; anything far longer is not one.
const maxRequestIDLen = 128

// requestID returns OpenAI's X-Request-Id header value when it looks like
// a request ID (bounded length; letters, digits, "-", "_", ".", ":"),
// redacted like every other text from OpenAI, and "" otherwise: a proxy
// or a hostile server could put anything there, and the value is stored
// and shown in the dashboard.
func requestID(v string) string {
	if v == "" || len(v) > maxRequestIDLen {
		return ""
	}
	for i := 0; i < len(v); i++ {
		switch b := v[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '-', b == '_', b == '.', b == ':':
		default:
			return ""
		}
	}
	return redact(v)
}
