package logging

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
)

// fastHandler writes the same JSON lines as slog.JSONHandler, byte for byte, but encodes
// the flat records logged on every request itself: the JSONHandler runs each float
// through encoding/json, which at tens of thousands of redirects a second cost more
// than the redirect. A record it cannot encode exactly the same way (groups, other
// kinds, strings that need escaping, unusual floats) goes to the JSONHandler it wraps.
type fastHandler struct {
	json  slog.Handler // the JSONHandler, with the same attributes
	w     io.Writer
	level slog.Leveler
	attrs []byte // attributes from WithAttrs, encoded as `,"key":value`
	fast  bool   // false once a group or an attribute only json can encode was added
}

func newFastHandler(w io.Writer, level slog.Leveler) *fastHandler {
	return &fastHandler{
		json: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}),
		w:    w, level: level, fast: true,
	}
}

func (h *fastHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *fastHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.json = h.json.WithAttrs(as)
	c.attrs = append([]byte(nil), h.attrs...)
	for _, a := range as {
		if c.attrs, c.fast = appendAttr(c.attrs, a); !c.fast {
			break
		}
	}
	c.fast = c.fast && h.fast
	return &c
}

func (h *fastHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.json, c.fast = h.json.WithGroup(name), false
	return &c
}

var lines = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (h *fastHandler) Handle(ctx context.Context, r slog.Record) error {
	if !h.fast || r.Time.IsZero() || r.Time.Year() < 0 || r.Time.Year() > 9999 || !plain(r.Message) {
		return h.json.Handle(ctx, r)
	}
	p := lines.Get().(*[]byte)
	defer lines.Put(p)
	b := append((*p)[:0], `{"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, r.Level.String()...)
	b = append(b, `","msg":"`...)
	b = append(b, r.Message...)
	b = append(b, '"')
	b = append(b, h.attrs...)
	ok := true
	r.Attrs(func(a slog.Attr) bool {
		b, ok = appendAttr(b, a)
		return ok
	})
	*p = b
	if !ok {
		return h.json.Handle(ctx, r)
	}
	_, err := h.w.Write(append(b, "}\n"...))
	return err
}

// appendAttr encodes one attribute as `,"key":value`, or reports that only the
// JSONHandler can.
func appendAttr(b []byte, a slog.Attr) ([]byte, bool) {
	if a.Equal(slog.Attr{}) {
		return b, true // slog drops empty attributes
	}
	if !plain(a.Key) {
		return b, false
	}
	b = append(b, `,"`...)
	b = append(b, a.Key...)
	b = append(b, `":`...)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if !plain(v.String()) {
			return b, false
		}
		b = append(b, '"')
		b = append(b, v.String()...)
		return append(b, '"'), true
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10), true
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10), true
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool()), true
	case slog.KindDuration:
		return strconv.AppendInt(b, int64(v.Duration()), 10), true
	case slog.KindFloat64:
		// encoding/json writes floats in this range in 'f' format, shortest exact.
		f := v.Float64()
		if abs := math.Abs(f); f != 0 && (abs < 1e-6 || abs >= 1e21) || math.IsNaN(f) {
			return b, false
		}
		return strconv.AppendFloat(b, f, 'f', -1, 64), true
	}
	return b, false
}

// plain reports whether s goes into JSON as it is: printable ASCII without a quote or a
// backslash. Anything else is left to the JSONHandler's escaping.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
