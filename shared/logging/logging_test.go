package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestLinesAreFlushedOnTimerAndClose(t *testing.T) {
	out := &syncBuf{}
	w := Setup(out, "info")
	slog.Info("request", "route", "GET /{short_code}")
	slog.Debug("hidden")
	deadline := time.Now().Add(2 * time.Second)
	for out.String() == "" {
		if time.Now().After(deadline) {
			t.Fatal("line not flushed by the timer")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var m map[string]any
	if err := json.Unmarshal(bytes.TrimSpace([]byte(out.String())), &m); err != nil || m["route"] != "GET /{short_code}" {
		t.Fatalf("not one JSON line: %q", out.String())
	}
	slog.Warn("last")
	_ = w.Close()
	_ = w.Close() // idempotent
	if !bytes.Contains([]byte(out.String()), []byte(`"last"`)) {
		t.Error("Close did not flush")
	}
	if bytes.Contains([]byte(out.String()), []byte("hidden")) {
		t.Error("debug line logged at info level")
	}
}

func TestBadLevelMeansInfo(t *testing.T) {
	out := &syncBuf{}
	w := Setup(out, "loud")
	slog.Debug("hidden")
	slog.Info("shown")
	_ = w.Close()
	if s := out.String(); !bytes.Contains([]byte(s), []byte("shown")) || bytes.Contains([]byte(s), []byte("hidden")) {
		t.Errorf("got %q", s)
	}
}
