package access_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/urlshort/shortener/shared/access"
)

func TestParseTrusted(t *testing.T) {
	got, err := access.ParseTrusted([]string{" 10.0.0.7 ", "", "192.168.0.0/16", "2001:db8::1", "2001:db8:1::/48",
		"::ffff:172.16.0.0/108", "::ffff:10.1.2.3", "fe80::1%eth0", "10.9.9.9/8"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.7/32", "192.168.0.0/16", "2001:db8::1/128", "2001:db8:1::/48",
		"172.16.0.0/12", "10.1.2.3/32", "fe80::1/128", "10.0.0.0/8"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("entry %d = %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0", "10.0.0.0/33", "proxy.local", "10.0.0.1:80", "::ffff:0:0/64", "*", "10.0.0.0/"} {
		t.Run("Invalid"+bad, func(t *testing.T) {
			if p, err := access.ParseTrusted([]string{bad}); err == nil {
				t.Fatalf("ParseTrusted(%q) = %v, want an error", bad, p)
			}
		})
	}
	if p, err := access.ParseTrusted(nil); err != nil || len(p) != 0 {
		t.Fatalf("nil: %v, %v", p, err)
	}
}

func TestClientAddr(t *testing.T) {
	trusted, err := access.ParseTrusted([]string{"10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.9"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		peer   string
		xff    []string // one X-Forwarded-For header per element
		want   string
		noTrim bool
	}{
		{name: "UntrustedPeer", peer: "203.0.113.5:4711", want: "203.0.113.5"},
		{name: "UntrustedPeerForwardedIgnored", peer: "203.0.113.5:4711", xff: []string{"198.51.100.1"}, want: "203.0.113.5"},
		{name: "TrustedPeerNoHeader", peer: "10.0.0.2:80", want: "10.0.0.2"},
		{name: "TrustedPeerOneHop", peer: "10.0.0.2:80", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "ChainSkipsTrustedHops", peer: "10.0.0.2:80", xff: []string{"198.51.100.1, 10.1.1.1, 192.0.2.9"}, want: "198.51.100.1"},
		{name: "SpoofedLeftmostIgnored", peer: "10.0.0.2:80", xff: []string{"1.1.1.1, 8.8.8.8, 198.51.100.1, 10.1.1.1"}, want: "198.51.100.1"},
		{name: "SpoofedTrustedLeftmostIgnored", peer: "10.0.0.2:80", xff: []string{"10.5.5.5, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "AllTrustedLeftmost", peer: "10.0.0.2:80", xff: []string{"10.3.3.3, 10.2.2.2"}, want: "10.3.3.3"},
		{name: "SeveralHeaders", peer: "10.0.0.2:80", xff: []string{"1.1.1.1, 198.51.100.1", "10.1.1.1", "10.2.2.2"}, want: "198.51.100.1"},
		{name: "SeveralHeadersLastUntrusted", peer: "10.0.0.2:80", xff: []string{"1.1.1.1", "198.51.100.7"}, want: "198.51.100.7"},
		{name: "GarbageLeftOfClient", peer: "10.0.0.2:80", xff: []string{"<script>, unknown, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "GarbageRightmostStopsAtPeer", peer: "10.0.0.2:80", xff: []string{"198.51.100.1, garbage"}, want: "10.0.0.2"},
		{name: "GarbageAfterTrustedHop", peer: "10.0.0.2:80", xff: []string{"198.51.100.1, nonsense, 10.1.1.1"}, want: "10.1.1.1"},
		{name: "EmptyEntryStops", peer: "10.0.0.2:80", xff: []string{"198.51.100.1,,10.1.1.1"}, want: "10.1.1.1"},
		{name: "EmptyHeader", peer: "10.0.0.2:80", xff: []string{""}, want: "10.0.0.2"},
		{name: "LeadingComma", peer: "10.0.0.2:80", xff: []string{",10.1.1.1"}, want: "10.1.1.1"},
		{name: "EntryWithPort", peer: "10.0.0.2:80", xff: []string{"198.51.100.1:5555"}, want: "198.51.100.1"},
		{name: "NoSpaces", peer: "10.0.0.2:80", xff: []string{"1.1.1.1,198.51.100.1,10.1.1.1"}, want: "198.51.100.1"},
		{name: "IPv6Peer", peer: "[2001:db8:1::5]:443", want: "2001:db8:1::5"},
		{name: "IPv6PeerZone", peer: "[fe80::1%eth0]:443", want: "fe80::1"},
		{name: "IPv6TrustedPeer", peer: "[2001:db8:ffff::1]:443", xff: []string{"2001:db8:2::9, 2001:db8:ffff::2"}, want: "2001:db8:2::9"},
		{name: "IPv6EntryBracketedWithPort", peer: "10.0.0.2:80", xff: []string{"[2001:db8:2::9]:1234"}, want: "2001:db8:2::9"},
		{name: "MappedPeerUnmapped", peer: "[::ffff:10.0.0.2]:80", xff: []string{"::ffff:198.51.100.1"}, want: "198.51.100.1"},
		{name: "MappedUntrustedPeer", peer: "[::ffff:203.0.113.5]:80", want: "203.0.113.5"},
		{name: "MappedTrustedHopSkipped", peer: "10.0.0.2:80", xff: []string{"198.51.100.1, ::ffff:10.1.1.1"}, want: "198.51.100.1"},
		{name: "PeerWithoutPort", peer: "203.0.113.5", want: "203.0.113.5"},
		{name: "PeerNotAnAddress", peer: "@", xff: []string{"198.51.100.1"}, want: "invalid IP"},
		{name: "PeerEmpty", peer: "", want: "invalid IP"},
		{name: "TooLongAChain", peer: "10.0.0.2:80", xff: []string{"198.51.100.1," + strings.Repeat("10.1.1.1,", 40) + "10.1.1.2"}, want: "10.1.1.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/abc", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := access.ClientAddr(r, trusted).String(); got != c.want {
				t.Fatalf("ClientAddr(peer %q, X-Forwarded-For %q) = %s, want %s", c.peer, c.xff, got, c.want)
			}
		})
	}
	// No trusted proxies: the header is never believed.
	r := httptest.NewRequest(http.MethodGet, "/abc", nil)
	r.RemoteAddr = "10.0.0.2:80"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	if got := access.ClientAddr(r, nil); got.String() != "10.0.0.2" {
		t.Fatalf("without trusted proxies: %s", got)
	}
}

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.1":          "198.51.100.1",
		"2001:db8:1:2:3:4:5:6":  "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":  "2001:db8:1:2::/64",
		"::1":                   "::/64",
		"::ffff:198.51.100.1":   "198.51.100.1",
		"invalid address input": "invalid IP",
	} {
		a, _ := netip.ParseAddr(in)
		if got := access.AddrKey(a); got != want {
			t.Errorf("AddrKey(%s) = %q, want %q", in, got, want)
		}
	}
}

// FuzzClientAddr: whatever the peer and X-Forwarded-For say, ClientAddr returns the peer
// or one of the header's addresses, never a mapped or zoned one, and never an address a
// trusted peer did not pass on.
func FuzzClientAddr(f *testing.F) {
	trusted, err := access.ParseTrusted([]string{"10.0.0.0/8", "::1"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("10.0.0.2:80", "198.51.100.1, 10.1.1.1")
	f.Add("[::1]:80", "[2001:db8::1]:5, ::ffff:10.0.0.1")
	f.Add("10.0.0.2:80", ",,,")
	f.Add("203.0.113.5:1", "1.1.1.1")
	f.Add("10.0.0.2:80", "fe80::1%eth0,10.0.0.3")
	f.Fuzz(func(t *testing.T, peer, xff string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = peer
		r.Header["X-Forwarded-For"] = []string{xff}
		a := access.ClientAddr(r, trusted)
		if !a.IsValid() {
			return
		}
		if a.Is4In6() || a.Zone() != "" {
			t.Fatalf("ClientAddr = %s: mapped or zoned", a)
		}
		// The answer is the peer, or appears in the header.
		p := access.ClientAddr(&http.Request{RemoteAddr: peer}, nil)
		if a == p {
			return
		}
		for _, e := range strings.Split(xff, ",") {
			e = strings.TrimSpace(e)
			if ea, err := netip.ParseAddr(e); err == nil && ea.WithZone("").Unmap() == a {
				return
			}
			if ap, err := netip.ParseAddrPort(e); err == nil && ap.Addr().WithZone("").Unmap() == a {
				return
			}
		}
		t.Fatalf("ClientAddr(%q, %q) = %s: neither the peer nor in the header", peer, xff, a)
	})
}
