package web

import (
	"net"
	"net/netip"

	"github.com/labstack/echo/v4"
)

// ipExtractor is how c.RealIP() finds the client's address, the one helper
// the signup limit, the login throttle and the logs all use. Without
// TRUSTED_PROXIES it is the connection's peer, whatever the headers say.
// With it, X-Forwarded-For is read from the right, skipping the trusted
// proxies' own entries: the first address not trusted is the client (an
// address the client wrote into the header itself sits further left and is
// never reached while the proxy appends the peer it saw).
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{
		// Only the listed proxies: not loopback, link-local or private
		// networks by default, as Echo would.
		echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false),
	}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(prefixNet(p)))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// rateKey is the key a client address is counted under: the address for
// IPv4, its /64 for IPv6, since one host commonly holds a whole /64.
func rateKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// prefixNet converts a netip.Prefix to the *net.IPNet Echo's options take.
func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
