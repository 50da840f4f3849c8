package users

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/web"
)

const (
	// defaultBulkTimeout is the time budget of one bulk import when Deps sets none. It is
	// well within what a client or proxy waits for an answer; a 10 MiB file of 700,000
	// new users takes about a third of it.
	defaultBulkTimeout = 60 * time.Second
	// bulkChunk is how many lines go to the store at a time: enough to make each round
	// trip worth it, few enough that memory stays small whatever the size of the file.
	bulkChunk = 5000
	// maxBulkErrors is how many row errors an answer lists; the rest are only counted.
	maxBulkErrors = 100
	// bulkPublishMax is the most audit events an import hands to the publisher itself.
	// A bigger import leaves all of its events to the outbox relay, which sends them in
	// batches of its own size, instead of starting one delivery per event at once.
	bulkPublishMax = 1000
	// maxRowBytes bounds one row of the file. A user row is far shorter; the bound keeps
	// a quote that is never closed from making one row of the rest of the file.
	maxRowBytes = 64 << 10
)

// bulkSlots bounds the imports one process reads at once, since each holds its file in
// memory (up to BulkLimit). Imports take the users table one at a time anyway.
var bulkSlots = make(chan struct{}, 2)

type bulkResult struct {
	Count    int               `json:"count"`
	Imported int               `json:"imported"`
	Skipped  int               `json:"skipped"`
	Errors   []domain.RowError `json:"errors"`
	// ErrorsTruncated says that Errors lists only the first maxBulkErrors of Skipped.
	ErrorsTruncated bool `json:"errors_truncated"`
}

// bulk imports a users CSV (multipart field "file"). One bad row never fails the file;
// the file is stored whole or not at all.
//
// The whole request, upload included, has a time budget (BulkTimeout). The file is read
// into memory first, so a slow client never holds the users table; then its rows go to
// the store in chunks inside one transaction. A file that cannot be finished within the
// budget is rolled back and answered 413; one that could not even start because other
// imports held the table all along is a 503 with Retry-After.
func (h handlers) bulk(w http.ResponseWriter, r *http.Request) {
	budget := cmp.Or(h.BulkTimeout, defaultBulkTimeout)
	deadline := time.Now().Add(budget)
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	// The server's own read and write timeouts may be shorter than the budget; the
	// answer gets a little time of its own after it.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(deadline)
	_ = rc.SetWriteDeadline(deadline.Add(15 * time.Second))
	// A server without a write timeout would keep this one for the connection's later
	// requests; one with a timeout sets its own for each request.
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()

	busy := true // waiting for others rather than working on this file
	fail := func(err error) {
		if ctx.Err() == context.DeadlineExceeded || errors.Is(err, os.ErrDeadlineExceeded) {
			err = budgetError(budget, busy)
		}
		web.Error(w, r, err)
	}
	select {
	case bulkSlots <- struct{}{}:
		defer func() { <-bulkSlots }()
	case <-ctx.Done():
		fail(ctx.Err())
		return
	}
	busy = false

	// The limit covers the whole multipart body; a file over it is a 413.
	r.Body = http.MaxBytesReader(w, r.Body, h.BulkLimit+64<<10)
	data, err := readFilePart(r, h.BulkLimit)
	if err != nil {
		fail(err)
		return
	}
	// The file is in; a read deadline could now only do harm: passing once the body has
	// been read to its end, it would make the server's background read take the client
	// for gone and cancel the request.
	_ = rc.SetReadDeadline(time.Time{})
	p, err := newUsersCSV(data)
	if err != nil {
		fail(err)
		return
	}

	var (
		res    bulkResult
		audits []domain.Audit // while the import has at most bulkPublishMax
		events int
	)
	res.Errors = []domain.RowError{}
	busy = true // until the store holds the table
	err = h.Store.ImportUsersInChunks(ctx, func(imp domain.UserImporter) error {
		busy = false
		rows := make([]domain.ImportRow, 0, bulkChunk)
		var lineErrs []domain.RowError
		for done := false; !done; {
			rows, lineErrs = rows[:0], lineErrs[:0]
			for len(rows)+len(lineErrs) < bulkChunk {
				row, rowErr, err := p.next()
				if err == io.EOF {
					done = true
					break
				}
				if err != nil {
					return err
				}
				if rowErr != nil {
					lineErrs = append(lineErrs, *rowErr)
					continue
				}
				rows = append(rows, row)
			}
			var chunk domain.ImportChunk
			if len(rows) > 0 {
				var err error
				if chunk, err = imp.Add(ctx, rows); err != nil {
					return err
				}
			}
			h.Cache.UsersImporting(ctx, chunk.Stale)
			res.Imported += chunk.Imported
			res.addErrors(append(lineErrs, chunk.Skipped...))
			if events += len(chunk.Audits); events <= bulkPublishMax {
				audits = append(audits, chunk.Audits...)
			} else {
				audits = nil
			}
		}
		return nil
	})
	if err != nil {
		fail(err)
		return
	}
	h.Cache.UsersImported(r.Context(), events)
	switch {
	case events == 0:
	case events <= bulkPublishMax:
		h.after(r, audits)
	default:
		slog.InfoContext(r.Context(), "audit events left to the outbox relay", "request_id", web.RequestID(r), "events", events)
	}
	res.Count = res.Imported
	web.JSON(w, http.StatusCreated, res)
}

// addErrors counts a chunk's row errors and keeps the first maxBulkErrors of the file.
// Chunks come in line order, so sorting each chunk's errors sorts them all.
func (res *bulkResult) addErrors(errs []domain.RowError) {
	res.Skipped += len(errs)
	if room := maxBulkErrors - len(res.Errors); room > 0 {
		slices.SortStableFunc(errs, func(a, b domain.RowError) int { return cmp.Compare(a.Row, b.Row) })
		res.Errors = append(res.Errors, errs[:min(room, len(errs))]...)
	}
	res.ErrorsTruncated = res.Skipped > len(res.Errors)
}

// budgetError is what a client gets for an import that ran out of time: nothing of the
// file is stored.
func budgetError(budget time.Duration, busy bool) error {
	secs := strconv.FormatFloat(budget.Seconds(), 'f', -1, 64) + "s"
	if busy {
		return domain.Unavailablef(context.DeadlineExceeded, "the import could not start within %s: other imports were writing users; nothing was imported, try again later", secs)
	}
	return domain.Errorf(domain.TooLarge, "file too large to import in one request: it could not be imported within %s, so nothing was imported; split it into smaller files", secs)
}

// readFilePart returns the content of the multipart field "file", at most limit bytes.
func readFilePart(r *http.Request, limit int64) ([]byte, error) {
	notMultipart := domain.Errorf(domain.BadRequest, "body must be multipart/form-data with a CSV in the field \"file\"")
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, notMultipart
	}
	for {
		part, err := mr.NextPart()
		switch {
		case err == io.EOF:
			return nil, domain.Errorf(domain.BadRequest, "multipart field \"file\" is missing")
		case err != nil:
			return nil, readError(err, limit, notMultipart)
		case part.FormName() != "file":
			continue // NextPart skips the rest of it
		}
		data, err := readAtMost(part, limit, r.ContentLength)
		if err != nil {
			return nil, readError(err, limit, notMultipart)
		}
		return data, nil
	}
}

// readError tells a body over the limit and a deadline from a body that is malformed.
func readError(err error, limit int64, malformed error) error {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig), domain.KindOf(err) == domain.TooLarge:
		return domain.Errorf(domain.TooLarge, "file larger than %d bytes", limit)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return err
	}
	return malformed
}

// readAtMost reads src whole into one buffer sized from hint (the body's length), failing
// once it passes limit bytes.
func readAtMost(src io.Reader, limit, hint int64) ([]byte, error) {
	size := min(max(hint, 64<<10), limit+1)
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(int64(cap(buf)), limit+1-int64(len(buf)))))
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, domain.Errorf(domain.TooLarge, "file larger than %d bytes", limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// The columns a users CSV may have; others are ignored.
const (
	colID = iota
	colUsername
	colEmail
	colCreatedAt
	nCols
)

var colNames = [nCols]string{"id", "username", "email", "created_at"}

// usersCSV reads the rows of a users CSV one at a time.
type usersCSV struct {
	rec csvRecords
	col [nCols]int // the field index of each column, -1 when the header lacks it
}

// newUsersCSV reads the header. A file without a readable header row, or one that does
// not name the username and email columns, is a 400.
func newUsersCSV(data []byte) (*usersCSV, error) {
	p := &usersCSV{rec: csvRecords{data: bytes.TrimPrefix(data, []byte("\ufeff")), line: 1}}
	header, _, broken, err := p.rec.next()
	if err != nil || broken != "" {
		return nil, domain.Errorf(domain.BadRequest, "file is not a CSV with a header row")
	}
	p.col = [nCols]int{-1, -1, -1, -1}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if c := slices.Index(colNames[:], name); c >= 0 && p.col[c] < 0 {
			p.col[c] = i
		}
	}
	for _, need := range []int{colUsername, colEmail} {
		if p.col[need] < 0 {
			return nil, domain.Errorf(domain.BadRequest, "CSV header must name the column %q", colNames[need])
		}
	}
	return p, nil
}

// next returns the next row, or why the row at some line is skipped, or io.EOF at the end.
func (p *usersCSV) next() (domain.ImportRow, *domain.RowError, error) {
	rec, line, broken, err := p.rec.next()
	if err != nil {
		return domain.ImportRow{}, nil, err
	}
	if broken != "" {
		return domain.ImportRow{}, &domain.RowError{Row: line, Error: broken}, nil
	}
	var (
		vals    [nCols]string
		badText [nCols]bool // the cell is reported already
		bad     []string
	)
	for c, i := range p.col {
		if i < 0 || i >= len(rec) {
			continue
		}
		// PostgreSQL can store neither NUL in text nor bytes that are not UTF-8.
		switch v := rec[i]; {
		case strings.IndexByte(v, 0) >= 0:
			bad, badText[c] = append(bad, colNames[c]+" must not contain NUL bytes"), true
		case !utf8.ValidString(v):
			bad, badText[c] = append(bad, colNames[c]+" must be valid UTF-8"), true
		default:
			vals[c] = v
		}
	}
	checked := func(c int) bool { return !badText[c] }
	row := domain.ImportRow{Line: line, Username: vals[colUsername], Email: vals[colEmail]}
	if s := strings.TrimSpace(vals[colID]); s != "" && checked(colID) {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id < 1 || id > domain.MaxClientID {
			bad = append(bad, "id must be an integer from 1 to "+strconv.FormatInt(domain.MaxClientID, 10))
		} else {
			row.ID = &id
		}
	}
	if checked(colUsername) {
		if msg := domain.CheckUsername(row.Username); msg != "" {
			bad = append(bad, "username "+msg)
		}
	}
	if checked(colEmail) {
		if msg := domain.CheckEmail(row.Email); msg != "" {
			bad = append(bad, "email "+msg)
		}
	}
	if s := strings.TrimSpace(vals[colCreatedAt]); s != "" && checked(colCreatedAt) {
		t, err := parseTime(s)
		if err != nil {
			bad = append(bad, "created_at must be a UTC timestamp like 2025-07-18 23:45:12")
		} else {
			row.CreatedAt = &t
		}
	}
	if len(bad) > 0 {
		return domain.ImportRow{}, &domain.RowError{Row: line, Error: strings.Join(bad, "; ")}, nil
	}
	return row, nil, nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse(domain.SeedTimeLayout, s)
}

// csvRecords splits CSV text into records as encoding/csv does by default (RFC 4180): a
// field may be quoted, and a quoted field may hold commas, doubled quotes and line
// breaks; a quote anywhere else is an error; \r\n reads as \n; empty lines are skipped.
//
// It differs in what follows a broken record. encoding/csv reads on from wherever the
// error was found, so one opening quote that is never closed makes a single field of the
// rest of the file. Here a broken record costs only the line it starts on: reading
// resumes on the next line, so the rows after a stray quote are read as the rows they
// look like. (LazyQuotes would not help: it too reads an unclosed quote to the end of
// the file, and silently.) A record is also broken when it grows past maxRowBytes.
type csvRecords struct {
	data   []byte
	off    int // where the next line starts
	line   int // the number of that line, from 1
	buf    []byte
	ends   []int
	fields []string
}

// next returns the next record and the line it starts on, or the line and why the record
// there cannot be read (broken), or io.EOF at the end. The fields stay valid until the
// next call.
func (c *csvRecords) next() (fields []string, line int, broken string, err error) {
	var (
		text []byte
		nl   bool
	)
	for {
		if c.off >= len(c.data) {
			return nil, 0, "", io.EOF
		}
		var after int
		text, nl, after = c.lineAt(c.off)
		c.off, c.line = after, c.line+1
		if len(text) > 0 {
			break
		}
	}
	start := c.line - 1
	resumeOff, resumeLine := c.off, c.line
	fail := func(why string) ([]string, int, string, error) {
		c.off, c.line = resumeOff, resumeLine
		return nil, start, why, nil
	}
	if len(text) > maxRowBytes {
		return fail("row longer than " + strconv.Itoa(maxRowBytes) + " bytes")
	}
	c.buf, c.ends = c.buf[:0], c.ends[:0]
	size, pos := len(text), 0
	for {
		if pos < len(text) && text[pos] == '"' {
			pos++
			for {
				i := bytes.IndexByte(text[pos:], '"')
				if i < 0 {
					// The field goes on past the end of the line.
					c.buf = append(c.buf, text[pos:]...)
					if !nl || c.off >= len(c.data) {
						return fail("malformed CSV row: a quoted field is not closed")
					}
					c.buf = append(c.buf, '\n')
					var after int
					text, nl, after = c.lineAt(c.off)
					if size += len(text) + 1; size > maxRowBytes {
						return fail("malformed CSV row: a quoted field is not closed within " + strconv.Itoa(maxRowBytes) + " bytes")
					}
					c.off, c.line, pos = after, c.line+1, 0
					continue
				}
				c.buf = append(c.buf, text[pos:pos+i]...)
				pos += i + 1
				if pos < len(text) && text[pos] == '"' {
					c.buf = append(c.buf, '"') // a doubled quote stands for one
					pos++
					continue
				}
				break
			}
			c.ends = append(c.ends, len(c.buf))
			if pos == len(text) {
				break
			}
			if text[pos] != ',' {
				return fail("malformed CSV row: a quoted field goes on after its closing quote")
			}
			pos++
			continue
		}
		end := len(text)
		if i := bytes.IndexByte(text[pos:], ','); i >= 0 {
			end = pos + i
		}
		if bytes.IndexByte(text[pos:end], '"') >= 0 {
			return fail("malformed CSV row: a quote inside an unquoted field")
		}
		c.buf = append(c.buf, text[pos:end]...)
		c.ends = append(c.ends, len(c.buf))
		if end == len(text) {
			break
		}
		pos = end + 1
	}
	// One string for the record, sliced into fields: one allocation per row.
	s := string(c.buf)
	c.fields = c.fields[:0]
	prev := 0
	for _, e := range c.ends {
		c.fields = append(c.fields, s[prev:e])
		prev = e
	}
	return c.fields, start, "", nil
}

// lineAt returns the line that starts at off without its line break, whether a line
// break ended it, and where the next line starts. Like encoding/csv it reads \r\n as \n
// and drops a \r that ends the data.
func (c *csvRecords) lineAt(off int) (text []byte, nl bool, next int) {
	rest := c.data[off:]
	i := bytes.IndexByte(rest, '\n')
	if i < 0 {
		text, next = rest, len(c.data)
	} else {
		text, nl, next = rest[:i], true, off+i+1
	}
	if n := len(text); n > 0 && text[n-1] == '\r' {
		text = text[:n-1]
	}
	return text, nl, next
}
