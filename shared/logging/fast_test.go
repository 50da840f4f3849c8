package logging

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"
)

// TestFastHandlerMatchesJSONHandler: every record comes out byte for byte as
// slog.JSONHandler writes it, whether the fast path or the fallback encodes it.
func TestFastHandlerMatchesJSONHandler(t *testing.T) {
	at := time.Date(2026, 11, 21, 10, 27, 53, 123456789, time.UTC)
	records := map[string][]slog.Attr{
		"request line": {slog.String("request_id", "0123456789abcdef"), slog.String("route", "GET /{short_code}"),
			slog.String("method", "GET"), slog.Int("status", 302), slog.Float64("duration_ms", 0.123)},
		"numbers": {slog.Int64("neg", -5), slog.Uint64("big", math.MaxUint64), slog.Bool("ok", true),
			slog.Duration("took", 1500*time.Millisecond), slog.Float64("zero", 0), slog.Float64("negzero", math.Copysign(0, -1)),
			slog.Float64("whole", 42), slog.Float64("tiny", 1e-7), slog.Float64("huge", 1e22), slog.Float64("third", 1.0/3)},
		"odd floats":       {slog.Float64("nan", math.NaN()), slog.Float64("inf", math.Inf(1))},
		"html is safe":     {slog.String("q", "a<b>&c")},
		"needs escaping":   {slog.String("q", "say \"hi\"\n\\ é \u2028")},
		"escaped key":      {slog.String("k\"ey", "v")},
		"error and time":   {slog.Any("err", errors.New("boom")), slog.Time("at", at)},
		"group":            {slog.Group("g", slog.Int("a", 1))},
		"empty attr":       {{}, slog.Int("a", 1)},
		"no attrs":         nil,
		"log valuer":       {slog.Any("v", valuer{})},
		"any int is fast?": {slog.Any("n", 7)},
	}
	for name, attrs := range records {
		for _, msg := range []string{"request", "quote\" in message"} {
			for _, with := range [][]any{nil, {"function", "redirect"}, {"err", errors.New("x")}} {
				var fast, want bytes.Buffer
				fh := slog.Handler(newFastHandler(&fast, slog.LevelInfo))
				jh := slog.Handler(slog.NewJSONHandler(&want, nil))
				if with != nil {
					fh, jh = slog.New(fh).With(with...).Handler(), slog.New(jh).With(with...).Handler()
				}
				r := slog.NewRecord(at, slog.LevelWarn, msg, 0)
				r.AddAttrs(attrs...)
				if err := fh.Handle(context.Background(), r); err != nil {
					t.Fatal(err)
				}
				_ = jh.Handle(context.Background(), r)
				if fast.String() != want.String() {
					t.Errorf("%s, %q, with %v:\n got %s want %s", name, msg, with, fast.String(), want.String())
				}
			}
		}
	}
}

func TestFastHandlerGroupsAndLevels(t *testing.T) {
	var fast, want bytes.Buffer
	fh := slog.New(newFastHandler(&fast, slog.LevelInfo)).WithGroup("req").With("id", 1)
	jh := slog.New(slog.NewJSONHandler(&want, nil)).WithGroup("req").With("id", 1)
	fh.Info("m", "a", "b")
	jh.Info("m", "a", "b")
	// The time is each logger's own clock reading, of varying length (RFC 3339 drops
	// trailing zeros of the fraction): compare from the field after it.
	afterTime := func(s string) string { return s[strings.Index(s, `,"level"`):] }
	if got, w := afterTime(fast.String()), afterTime(want.String()); got != w {
		t.Errorf("grouped: got %s want %s", got, w)
	}
	fast.Reset()
	slog.New(newFastHandler(&fast, slog.LevelWarn)).Info("hidden")
	if fast.Len() != 0 {
		t.Errorf("info logged at warn level: %s", fast.String())
	}
}

type valuer struct{}

func (valuer) LogValue() slog.Value { return slog.StringValue("resolved") }

func BenchmarkRequestLine(b *testing.B) {
	for name, h := range map[string]slog.Handler{
		"fast": newFastHandler(io.Discard, slog.LevelInfo),
		"json": slog.NewJSONHandler(io.Discard, nil),
	} {
		h = h.WithAttrs([]slog.Attr{slog.String("function", "redirect")})
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				r := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
				r.AddAttrs(slog.String("request_id", "0123456789abcdef"), slog.String("route", "GET /{short_code}"),
					slog.String("method", "GET"), slog.Int("status", 302), slog.Float64("duration_ms", 0.123))
				_ = h.Handle(context.Background(), r)
			}
		})
	}
}
