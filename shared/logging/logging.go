// Package logging sets up the process's log/slog JSON logger. Lines go through a buffer
// that is flushed every flushEvery and on Close, so the one line per request does not cost
// a write system call per request on the hot path. A crash loses at most that much log.
package logging

import (
	"bufio"
	"io"
	"log/slog"
	"sync"
	"time"
)

// flushEvery bounds how long a line waits in the buffer.
const flushEvery = 100 * time.Millisecond

// Writer is a buffered writer safe for concurrent use, flushed on a timer.
type Writer struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// NewWriter starts flushing w's buffer every flushEvery.
func NewWriter(w io.Writer) *Writer {
	bw := &Writer{buf: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go bw.loop()
	return bw
}

func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// Flush writes out what is buffered.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Flush()
}

func (w *Writer) loop() {
	defer close(w.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			_ = w.Flush()
			return
		case <-t.C:
			_ = w.Flush()
		}
	}
}

// Close stops the timer and flushes.
func (w *Writer) Close() error {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	return nil
}

// Setup makes a JSON logger at level ("debug", "info", "warn", "error"; info when
// unreadable) writing through a buffer to out, installs it as the default and returns the
// buffer for Close.
func Setup(out io.Writer, level string) *Writer {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	w := NewWriter(out)
	slog.SetDefault(slog.New(newFastHandler(w, l)))
	return w
}
