package web

import (
	"bufio"
	"encoding/csv"
	"errors"
	"mime"
	"net/http"
	"strings"
)

// WantsCSV reports whether the client asked for CSV (Accept: text/csv) rather than JSON.
func WantsCSV(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/csv" {
			return true
		}
	}
	return false
}

// csvBuffer is how much of an export is held before it goes out: the answer's status is
// still open until then, so an export that fails early still gets a JSON error.
const csvBuffer = 64 << 10

// errCSVWrite marks a failed write to the client, which no answer can reach any more.
var errCSVWrite = errors.New("web: csv write failed")

// CSV streams rows as text/csv: header, then every record export gives its write, in
// constant memory. An error of export before anything was sent is answered as usual; one
// after the first bytes went out can no longer change the status, so the connection is
// aborted (http.ErrAbortHandler) and the client sees a transfer cut short, never a file
// that looks complete but is not.
func CSV(w http.ResponseWriter, r *http.Request, header []string, export func(write func([]string) error) error) {
	sent := &sentWriter{w: w}
	buf := bufio.NewWriterSize(sent, csvBuffer)
	cw := csv.NewWriter(buf)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	write := func(rec []string) error {
		if err := cw.Write(rec); err != nil {
			return errors.Join(errCSVWrite, err)
		}
		return nil
	}
	err := write(header)
	if err == nil {
		err = export(write)
	}
	if err == nil {
		cw.Flush()
		if err = cw.Error(); err == nil {
			err = buf.Flush()
		}
	}
	switch {
	case err == nil:
	case !sent.started && !errors.Is(err, errCSVWrite):
		w.Header().Del("Content-Type")
		Error(w, r, err)
	default:
		panic(http.ErrAbortHandler)
	}
}

// sentWriter notes whether any byte reached the client.
type sentWriter struct {
	w       http.ResponseWriter
	started bool
}

func (s *sentWriter) Write(p []byte) (int, error) {
	s.started = true
	return s.w.Write(p)
}
