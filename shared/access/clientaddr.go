package access

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrusted reads TRUSTED_PROXIES: addresses ("10.0.0.7", "2001:db8::1") and CIDRs
// ("10.0.0.0/8"). An address is a prefix of its full length; IPv4-mapped IPv6 forms
// are read as the IPv4 they carry, as client addresses are, so that either spelling
// matches. Empty entries are skipped; anything else that is not an address or a CIDR is
// an error, since a mistyped proxy would quietly make every client look like the proxy.
func ParseTrusted(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		var p netip.Prefix
		if strings.Contains(s, "/") {
			var err error
			if p, err = netip.ParsePrefix(s); err != nil {
				return nil, fmt.Errorf("access: trusted proxy %q: not an address or CIDR", s)
			}
			if a := p.Addr(); a.Is4In6() {
				if p.Bits() < 96 {
					return nil, fmt.Errorf("access: trusted proxy %q: an IPv4-mapped prefix shorter than /96", s)
				}
				p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
			}
			p = p.Masked()
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("access: trusted proxy %q: not an address or CIDR", s)
			}
			a = a.WithZone("").Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p)
	}
	return out, nil
}

// maxForwardedHops bounds how many X-Forwarded-For entries ClientAddr reads: real chains
// are a few proxies long, and a client must not make each request parse a megabyte of
// trusted-looking addresses.
const maxForwardedHops = 32

// ClientAddr returns the address of the client a request came from: the connection's
// peer, unless the peer is a trusted proxy. Then X-Forwarded-For (every such header, in
// order, as one list) is read from the right, the end the trusted proxies appended to,
// skipping trusted hops: the first untrusted hop is the client, since everything left of
// it was written by the client and may be made up. When every hop is trusted the leftmost
// is the client. A malformed entry (or more than maxForwardedHops of them) ends the walk
// at the last good hop, which a trusted proxy wrote, rather than believing anything past
// it. IPv4-mapped IPv6 addresses are returned as IPv4, zones dropped. The zero Addr means
// the peer is not an IP address (a Unix socket).
func ClientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := parsePeer(r.RemoteAddr)
	if !peer.IsValid() || !isTrusted(peer, trusted) {
		return peer
	}
	last := peer
	hops := 0
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for {
			j := strings.LastIndexByte(v, ',') // -1 for the header's leftmost entry
			hops++
			a := parseHop(strings.TrimSpace(v[j+1:]))
			if !a.IsValid() || hops > maxForwardedHops {
				return last
			}
			if !isTrusted(a, trusted) {
				return a
			}
			last = a
			if j < 0 {
				break
			}
			v = v[:j]
		}
	}
	return last
}

// parseHop reads one address as a peer or an X-Forwarded-For entry writes it: bare, or
// with a port ("192.0.2.1:4711", "[2001:db8::1]:443"), as some proxies append it.
func parseHop(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}
		}
		a = ap.Addr()
	}
	return a.WithZone("").Unmap()
}

// parsePeer reads a connection's remote address, which net/http writes as host:port.
func parsePeer(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().WithZone("").Unmap()
	}
	return parseHop(s)
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// AddrKey returns the key a client address is limited by: an IPv4 address itself, an
// IPv6 address its /64, since one IPv6 client is usually given a whole /64 and could
// otherwise take a fresh limit with every address in it.
func AddrKey(a netip.Addr) string {
	if a = a.Unmap(); a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
