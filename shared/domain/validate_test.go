package domain_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/urlshort/shortener/shared/domain"
)

// check runs a Check* function over cases that say only whether the value is valid: the
// messages are for people, the tests assert the outcome.
func check(t *testing.T, fn func(string) string, cases map[string]struct {
	in string
	ok bool
}) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := fn(tc.in)
			if tc.ok && got != "" {
				t.Errorf("%q: want valid, got %q", tc.in, got)
			}
			if !tc.ok && got == "" {
				t.Errorf("%q: want invalid, got valid", tc.in)
			}
		})
	}
}

type vcase = struct {
	in string
	ok bool
}

func TestCheckUsername(t *testing.T) {
	check(t, domain.CheckUsername, map[string]vcase{
		"Plain":                   {"alice", true},
		"InnerSpaces":             {"Alice Smith", true},
		"LeadingSpaceKept":        {" alice", true},
		"OneChar":                 {"a", true},
		"Empty":                   {"", false},
		"Blank":                   {"   ", false},
		"BlankTabsAndNewlines":    {"\t\n", false},
		"BlankUnicodeSpace":       {"\u00a0\u2003", false},
		"Max255ASCII":             {strings.Repeat("a", 255), true},
		"TooLong256ASCII":         {strings.Repeat("a", 256), false},
		"Max255CodePointsMultiB":  {strings.Repeat("é", 255), true}, // 510 bytes
		"Max255CodePoints4Bytes":  {strings.Repeat("😀", 255), true}, // 1020 bytes
		"TooLong256CodePointsMbB": {strings.Repeat("é", 256), false},
	})
}

func TestCheckEmail(t *testing.T) {
	local := strings.Repeat("a", 64)
	// 254 characters in all: local@ + domain.com padded with labels.
	long := local + "@" + strings.Repeat("b", 254-len(local)-1-4) + ".com"
	check(t, domain.CheckEmail, map[string]vcase{
		"Plain":           {"alice@example.com", true},
		"Subdomain":       {"a.b+tag@mail.example.co.uk", true},
		"UpperCase":       {"Alice@Example.COM", true},
		"Unicode":         {"jörg@bücher.de", true},
		"Max254":          {long, true},
		"TooLong255":      {"x" + long, false},
		"Empty":           {"", false},
		"NoAt":            {"alice.example.com", false},
		"NoTLD":           {"alice@example", false},
		"TwoAts":          {"a@b@example.com", false},
		"EmptyLocal":      {"@example.com", false},
		"EmptyLabel":      {"alice@example..com", false},
		"TrailingDot":     {"alice@example.com.", false},
		"LeadingDotHost":  {"alice@.example.com", false},
		"InnerSpace":      {"ali ce@example.com", false},
		"LeadingSpace":    {" alice@example.com", false},
		"TrailingSpace":   {"alice@example.com ", false},
		"TrailingNewline": {"alice@example.com\n", false},
	})
}

func TestCheckOriginalURL(t *testing.T) {
	prefix := "https://example.com/"
	at2048 := prefix + strings.Repeat("a", 2048-len(prefix))
	// 2048 code points but far more bytes: the limit counts characters.
	at2048Multi := prefix + strings.Repeat("é", 2048-len(prefix))
	check(t, domain.CheckOriginalURL, map[string]vcase{
		"HTTPS":              {"https://example.com", true},
		"HTTP":               {"http://example.com/a?b=c#d", true},
		"UpperScheme":        {"HTTPS://EXAMPLE.COM/", true},
		"Port":               {"http://localhost:8080/x", true},
		"IPv6":               {"http://[::1]:80/", true},
		"UserInfo":           {"https://u:p@example.com/", true},
		"UnicodeHost":        {"https://bücher.de/ä", true},
		"Max2048":            {at2048, true},
		"Max2048CodePoints":  {at2048Multi, true},
		"TooLong2049":        {at2048 + "a", false},
		"TooLong2049Multi":   {at2048Multi + "é", false},
		"Empty":              {"", false},
		"Hello":              {"hello", false},
		"NoScheme":           {"example.com", false},
		"SchemeRelative":     {"//example.com/x", false},
		"FTP":                {"ftp://x", false},
		"JavaScript":         {"javascript:alert(1)", false},
		"Mailto":             {"mailto:a@example.com", false},
		"Data":               {"data:text/html,hi", false},
		"OpaqueHTTP":         {"http:example.com", false},
		"NoHost":             {"http://", false},
		"NoHostPath":         {"http:///path", false},
		"PortOnly":           {"http://:80/", false},
		"LeadingSpace":       {" https://example.com", false},
		"TrailingSpace":      {"https://example.com ", false},
		"InnerSpace":         {"https://example.com/a b", false},
		"Tab":                {"https://example.com/\ta", false},
		"Newline":            {"https://example.com/\n", false},
		"NonBreakingSpace":   {"https://example.com/\u00a0", false},
		"ControlChar":        {"https://example.com/\x01", false},
		"BadPercentEncoding": {"https://example.com/%zz", false},
		"PortMax":            {"https://example.com:65535/", true},
		"PortTooLarge":       {"https://example.com:99999/", false},
		"PortZero":           {"https://example.com:0/", false},
		"EmptyPortIsNone":    {"https://example.com:/", true},
		"ZeroWidthSpace":     {"https://exa\u200bmple.com/", false},
		"BidiOverride":       {"https://example.com/\u202egnp.exe", false},
		"SoftHyphen":         {"https://example.com/a\u00adb", false},
		"ByteOrderMark":      {"\ufeffhttps://example.com/", false},
		"PrivateUse":         {"https://example.com/\ue000", false},
		"Unassigned":         {"https://example.com/\U000e0fff", false},
		"ReplacementChar":    {"https://example.com/\ufffd", false},
		"InvalidUTF8":        {"https://example.com/\xff", false},
		"EmojiKept":          {"https://example.com/😀", true},
	})
}

func TestCheckPublicTarget(t *testing.T) {
	check(t, domain.CheckPublicTarget, map[string]vcase{
		"PublicName":      {"https://example.com/", true},
		"PublicIPv4":      {"http://93.184.216.34/", true},
		"PublicIPv6":      {"http://[2606:2800:220:1::]/", true},
		"NameWithDigits":  {"https://123.example.com/", true},
		"DigitsTLDLike":   {"https://example.x1/", true},
		"Localhost":       {"http://localhost:8080/", false},
		"LocalhostDot":    {"http://LOCALHOST./", false},
		"SubLocalhost":    {"http://app.localhost/", false},
		"Loopback":        {"http://127.0.0.1/", false},
		"LoopbackOther":   {"http://127.1.2.3/", false},
		"LoopbackV6":      {"http://[::1]/", false},
		"MappedLoopback":  {"http://[::ffff:127.0.0.1]/", false},
		"Private10":       {"http://10.0.0.1/", false},
		"Private192":      {"http://192.168.1.1/", false},
		"Private172":      {"http://172.16.0.1/", false},
		"ULA":             {"http://[fd00::1]/", false},
		"LinkLocal":       {"http://169.254.169.254/latest/meta-data", false},
		"LinkLocalV6":     {"http://[fe80::1]/", false},
		"Unspecified":     {"http://0.0.0.0/", false},
		"CGNAT":           {"http://100.64.0.1/", false},
		"Multicast":       {"http://224.0.0.1/", false},
		"DecimalHost":     {"http://2130706433/", false},
		"HexHost":         {"http://0x7f000001/", false},
		"ShortDottedHost": {"http://127.1/", false},
		"OctalHost":       {"http://0177.0.0.1/", false},
	})
}

func TestIsPossibleCode(t *testing.T) {
	for s, want := range map[string]bool{
		"abcd": true, "aZ09_-": true, strings.Repeat("a", 32): true,
		"abc": false, strings.Repeat("a", 33): false, "": false, "\xff": false, "abc\x00": false,
		"ab.c": false, "abcé": false, "%FF%FF": false, strings.Repeat("a", 1_000_000): false,
		"users": true, // reserved words are well-shaped; their routes answer first
	} {
		if got := domain.IsPossibleCode(s); got != want {
			t.Errorf("IsPossibleCode(%.40q) = %v, want %v", s, got, want)
		}
	}
}

func TestCheckTitle(t *testing.T) {
	check(t, domain.CheckTitle, map[string]vcase{
		"Empty":                {"", true},
		"Plain":                {"My link", true},
		"Max255CodePoints":     {strings.Repeat("é", 255), true},
		"TooLong256CodePoints": {strings.Repeat("é", 256), false},
		"TooLong256ASCII":      {strings.Repeat("a", 256), false},
	})
}

func TestCheckShortCode(t *testing.T) {
	check(t, domain.CheckShortCode, map[string]vcase{
		"Min4":          {"abcd", true},
		"Max32":         {strings.Repeat("a", 32), true},
		"AllClasses":    {"aZ09_-", true},
		"TooShort3":     {"abc", false},
		"TooLong33":     {strings.Repeat("a", 33), false},
		"Empty":         {"", false},
		"Dot":           {"abc.d", false},
		"Slash":         {"ab/cd", false},
		"Space":         {"ab cd", false},
		"TrailingNL":    {"abcd\n", false},
		"NonASCII":      {"abcé", false},
		"Reserved":      {"users", false},
		"ReservedUpper": {"METRICS", false},
		"ReservedMixed": {"Health", false},
		"NotReserved":   {"users1", true},
	})
}

func TestIsReservedCode(t *testing.T) {
	for _, w := range []string{"users", "urls", "events", "health", "ready", "metrics", "api-keys"} {
		for _, s := range []string{w, strings.ToUpper(w), strings.ToUpper(w[:1]) + w[1:]} {
			if !domain.IsReservedCode(s) {
				t.Errorf("IsReservedCode(%q) = false, want true", s)
			}
		}
	}
	for _, s := range []string{"", "user", "usersx", "xurls", "abc123", "events/"} {
		if domain.IsReservedCode(s) {
			t.Errorf("IsReservedCode(%q) = true, want false", s)
		}
	}
}

func TestShortCodeAlphabet(t *testing.T) {
	if len(domain.ShortCodeAlphabet) != 62 {
		t.Fatalf("alphabet has %d characters, want 62", len(domain.ShortCodeAlphabet))
	}
	seen := map[rune]bool{}
	for _, r := range domain.ShortCodeAlphabet {
		if seen[r] {
			t.Errorf("alphabet repeats %q", r)
		}
		seen[r] = true
	}
	// A generated code must also be a valid custom code, or a user could not reuse it.
	code := domain.ShortCodeAlphabet[:domain.GeneratedCodeLength]
	if msg := domain.CheckShortCode(code); msg != "" {
		t.Errorf("generated-shaped code %q is invalid: %s", code, msg)
	}
}

func TestKindOf(t *testing.T) {
	notFound := domain.Errorf(domain.NotFound, "url %d not found", 5)
	cases := []struct {
		name string
		err  error
		want domain.Kind
	}{
		{"Nil", nil, domain.Internal},
		{"PlainError", errors.New("boom"), domain.Internal},
		{"DomainError", notFound, domain.NotFound},
		{"Wrapped", fmt.Errorf("find: %w", notFound), domain.NotFound},
		{"DoublyWrapped", fmt.Errorf("a: %w", fmt.Errorf("b: %w", domain.Errorf(domain.Conflict, "x"))), domain.Conflict},
		{"Joined", errors.Join(errors.New("x"), domain.Errorf(domain.TooLarge, "big")), domain.TooLarge},
		{"Unavailablef", domain.Unavailablef(errors.New("dial"), "db down"), domain.Unavailable},
		{"InternalExplicit", &domain.Error{Kind: domain.Internal, Message: "x"}, domain.Internal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := domain.KindOf(tc.err); got != tc.want {
				t.Errorf("KindOf = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestErrorKeepsCause(t *testing.T) {
	cause := errors.New("connection refused")
	err := domain.Unavailablef(cause, "database unavailable")
	if !errors.Is(err, cause) {
		t.Error("errors.Is does not reach the cause")
	}
	if !strings.Contains(err.Error(), cause.Error()) {
		t.Errorf("Error() = %q, does not carry the cause for logs", err.Error())
	}
	if e := domain.Errorf(domain.BadRequest, "no cause"); e.Unwrap() != nil {
		t.Errorf("Unwrap of a causeless error = %v, want nil", e.Unwrap())
	}
}

func TestFieldErrors(t *testing.T) {
	t.Run("NoneIsNil", func(t *testing.T) {
		if err := (domain.FieldErrors{}).Err(); err != nil {
			t.Fatalf("Err() = %v, want nil", err)
		}
	})
	t.Run("EveryFieldNamed", func(t *testing.T) {
		f := domain.FieldErrors{}
		f.Add("email", "must look like local@domain.tld")
		f.Add("username", "must not be empty")
		f.Add("email", "second message is ignored")
		err := f.Err()
		if domain.KindOf(err) != domain.Invalid {
			t.Fatalf("kind = %v, want Invalid", domain.KindOf(err))
		}
		var e *domain.Error
		if !errors.As(err, &e) {
			t.Fatalf("%T is not a *domain.Error", err)
		}
		if len(e.Fields) != 2 {
			t.Fatalf("fields = %v, want email and username", e.Fields)
		}
		if e.Fields["email"] != "must look like local@domain.tld" {
			t.Errorf("email message = %q, want the first one kept", e.Fields["email"])
		}
	})
}

func TestPage(t *testing.T) {
	cases := []struct {
		name   string
		p      domain.Page
		paged  bool
		offset int64
	}{
		{"ZeroIsEverything", domain.Page{}, false, 0},
		{"FirstPage", domain.Page{Number: 1, PerPage: 10}, true, 0},
		{"ThirdPage", domain.Page{Number: 3, PerPage: 25}, true, 50},
		{"OverflowSaturates", domain.Page{Number: math.MaxInt, PerPage: 1000}, true, math.MaxInt64},
		{"LargestExact", domain.Page{Number: math.MaxInt64/1000 + 1, PerPage: 1000}, true, math.MaxInt64 / 1000 * 1000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.p.Paged() != tc.paged {
				t.Errorf("Paged = %v, want %v", tc.p.Paged(), tc.paged)
			}
			if tc.paged && tc.p.Offset() != tc.offset {
				t.Errorf("Offset = %d, want %d", tc.p.Offset(), tc.offset)
			}
		})
	}
}
