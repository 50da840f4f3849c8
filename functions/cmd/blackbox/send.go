package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// request is one request exactly as it goes on the wire. Requests are written by hand over
// TCP, not through net/http's client, so that paths and bodies net/url would refuse or
// clean up (invalid escapes, NUL, a million-character path) reach the server unchanged.
type request struct {
	route  string // the route pattern the request reaches, as Routes() spells it (see router)
	kind   string // what was generated or hand-written, e.g. "json", "csv", "nasty: NUL escape in username"
	method string
	target string // the request-target, already encoded
	ctype  string // Content-Type, or "" for none
	accept string // Accept, or "" for none
	body   []byte
}

// wire returns the request's bytes for a server at host.
func (r request) wire(host string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: shortener-blackbox\r\nConnection: close\r\n", r.method, r.target, host)
	if r.ctype != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", r.ctype)
	}
	if r.accept != "" {
		fmt.Fprintf(&b, "Accept: %s\r\n", r.accept)
	}
	if r.body != nil || r.method == http.MethodPost || r.method == http.MethodPut {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
	}
	b.WriteString("\r\n")
	b.Write(r.body)
	return b.Bytes()
}

// response is what came back, or why nothing did.
type response struct {
	status int
	header http.Header
	body   []byte
	err    error
	took   time.Duration
}

// bodyCap bounds how much of an answer is kept; /metrics and long lists stay below it.
const bodyCap = 4 << 20

// client sends requests to one server.
type client struct {
	host    string // host:port
	timeout time.Duration
}

// send writes the request on a fresh connection and reads one answer within the timeout.
func (c client) send(r request) response {
	return c.sendRaw(r.wire(c.host), r.method)
}

// sendRaw writes raw as it is (a request of the given method) and reads the answer.
func (c client) sendRaw(raw []byte, method string) response {
	start := time.Now()
	res := c.roundTrip(raw, method)
	res.took = time.Since(start)
	return res
}

func (c client) roundTrip(raw []byte, method string) response {
	conn, err := net.DialTimeout("tcp", c.host, c.timeout)
	if err != nil {
		return response{err: fmt.Errorf("dial: %w", err)}
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(c.timeout))
	// The answer is read while the request is still being written: a server may answer
	// early (413) and reset the connection, and a reset discards what was not read yet.
	written := make(chan error, 1)
	go func() { _, err := conn.Write(raw); written <- err }()
	res, err := readResponse(conn, method)
	if err != nil {
		select {
		case werr := <-written:
			if werr != nil {
				return response{err: fmt.Errorf("write: %w; %w", werr, err)}
			}
		default:
		}
		return response{err: err}
	}
	return res
}

func readResponse(conn net.Conn, method string) (response, error) {
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		return response{}, fmt.Errorf("read: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, bodyCap))
	if err != nil {
		return response{}, fmt.Errorf("read body (status %d): %w", resp.StatusCode, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// Verdicts of one exchange.
const (
	verdictOK       = ""
	verdictUnsent   = "unsent" // the request never made it to the server as HTTP
	verdictParser   = "parser" // net/http's request parser refused it before any handler
	verdictHang     = "hang"
	verdictNoAnswer = "no answer"
)

// judge returns verdictOK, or what is wrong with the exchange, as a short class name
// ("500", "non-JSON 404", "hang", …).
func judge(r request, res response) string {
	if res.err != nil {
		var ne net.Error
		switch {
		case strings.HasPrefix(res.err.Error(), "dial:"):
			return verdictUnsent
		case errors.As(res.err, &ne) && ne.Timeout(), errors.Is(res.err, os.ErrDeadlineExceeded):
			return verdictHang
		default:
			return verdictNoAnswer
		}
	}
	if parserAnswer(res) {
		return verdictParser
	}
	if res.status >= 500 {
		return strconv.Itoa(res.status)
	}
	if res.status >= 400 && r.method != http.MethodHead && !jsonError(res.body) {
		return "non-JSON " + strconv.Itoa(res.status)
	}
	return verdictOK
}

// parserAnswer recognises the canned reply net/http's server writes when it cannot parse
// a request at all ("400 Bad Request" as text, connection closed): no handler of ours saw
// the request, so the driver generated something that is not HTTP.
func parserAnswer(res response) bool {
	if res.status != http.StatusBadRequest && res.status != http.StatusRequestHeaderFieldsTooLarge &&
		res.status != http.StatusHTTPVersionNotSupported && res.status != http.StatusNotImplemented {
		return false
	}
	return strings.HasPrefix(res.header.Get("Content-Type"), "text/plain") &&
		bytes.HasPrefix(res.body, []byte(strconv.Itoa(res.status)+" "))
}

// jsonError reports whether body is a JSON object with an "error" string, the contract's
// shape of every error answer.
func jsonError(body []byte) bool {
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		return false
	}
	s, ok := v["error"].(string)
	return ok && s != ""
}

// encodeTarget turns arbitrary bytes into a request-target that is valid HTTP, the way a
// client library would: bytes that may not appear in a request line (controls, space,
// non-ASCII, quotes, '#', …) and a '%' that starts no escape are percent-encoded. Valid
// escapes pass through untouched, so "%FF" and "%C0%AE" reach the server as sent.
func encodeTarget(raw []byte) string {
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '%' && i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2]):
			b.WriteByte(c)
		case c == '%':
			b.WriteString("%25")
		case c > 0x20 && c < 0x7f && !strings.ContainsRune("\"#<>\\^`{|}", rune(c)):
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	if !strings.HasPrefix(b.String(), "/") {
		return "/" + b.String()
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
