package users

import (
	"cmp"
	"encoding/csv"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urlshort/shortener/shared/cache"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/store"
	"github.com/urlshort/shortener/shared/web"
)

type bulkResult struct {
	Count    int              `json:"count"`
	Imported int              `json:"imported"`
	Skipped  int              `json:"skipped"`
	Errors   []store.RowError `json:"errors"`
}

// bulk imports a users CSV (multipart field "file"). One bad row never fails the file.
func (h handlers) bulk(w http.ResponseWriter, r *http.Request) {
	// The limit covers the whole multipart body; a file over it is a 413.
	r.Body = http.MaxBytesReader(w, r.Body, h.BulkLimit+64<<10)
	file, err := formFile(r, h.BulkLimit)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	defer file.Close()
	rows, rowErrs, err := parseUsersCSV(file)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	res, err := h.Store.ImportUsers(r.Context(), rows)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	for _, c := range res.Changed {
		_ = h.Cache.InvalidateItem(r.Context(), cache.UserItem, c.ID, c.Version)
	}
	if len(res.Audits) > 0 {
		h.after(r, res.Audits)
	}
	rowErrs = append(rowErrs, res.Skipped...)
	slices.SortStableFunc(rowErrs, func(a, b store.RowError) int { return cmp.Compare(a.Row, b.Row) })
	if rowErrs == nil {
		rowErrs = []store.RowError{}
	}
	web.JSON(w, http.StatusCreated, bulkResult{Count: res.Imported, Imported: res.Imported, Skipped: len(rowErrs), Errors: rowErrs})
}

// formFile returns the "file" part of a multipart body.
func formFile(r *http.Request, limit int64) (multipart.File, error) {
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, domain.Errorf(domain.TooLarge, "file larger than %d bytes", limit)
		}
		return nil, domain.Errorf(domain.BadRequest, "body must be multipart/form-data with a CSV in the field \"file\"")
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		return nil, domain.Errorf(domain.BadRequest, "multipart field \"file\" is missing")
	}
	if hdr.Size > limit {
		f.Close()
		return nil, domain.Errorf(domain.TooLarge, "file larger than %d bytes", limit)
	}
	return f, nil
}

// seedTimeLayout is how the seed files write timestamps (UTC).
const seedTimeLayout = "2006-01-02 15:04:05"

// parseUsersCSV reads the header and rows. A missing username or email column fails the
// file (400); a bad row is reported and skipped.
func parseUsersCSV(f io.Reader) ([]store.ImportRow, []store.RowError, error) {
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, nil, domain.Errorf(domain.BadRequest, "file is not a CSV with a header row")
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, need := range []string{"username", "email"} {
		if _, ok := col[need]; !ok {
			return nil, nil, domain.Errorf(domain.BadRequest, "CSV header must name the column %q", need)
		}
	}
	var (
		rows  []store.ImportRow
		errs  []store.RowError
		seen  = map[string]int{} // lower email -> line of the first row that has it
		ids   = map[int64]int{}
		value = func(rec []string, name string) (string, bool) {
			i, ok := col[name]
			if !ok || i >= len(rec) {
				return "", false
			}
			return rec[i], true
		}
	)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var perr *csv.ParseError
			if errors.As(err, &perr) {
				errs = append(errs, store.RowError{Row: perr.StartLine, Error: "malformed CSV row"})
				continue
			}
			return nil, nil, domain.Errorf(domain.BadRequest, "could not read the file")
		}
		row := store.ImportRow{Line: line}
		var bad []string
		if s, ok := value(rec, "id"); ok && strings.TrimSpace(s) != "" {
			id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil || id < 1 {
				bad = append(bad, "id must be a positive integer")
			} else {
				row.ID = &id
			}
		}
		row.Username, _ = value(rec, "username")
		if msg := domain.CheckUsername(row.Username); msg != "" {
			bad = append(bad, "username "+msg)
		}
		row.Email, _ = value(rec, "email")
		if msg := domain.CheckEmail(row.Email); msg != "" {
			bad = append(bad, "email "+msg)
		}
		if s, ok := value(rec, "created_at"); ok && strings.TrimSpace(s) != "" {
			t, err := parseTime(strings.TrimSpace(s))
			if err != nil {
				bad = append(bad, "created_at must be a UTC timestamp like 2025-07-18 23:45:12")
			} else {
				row.CreatedAt = &t
			}
		}
		if len(bad) == 0 {
			key := strings.ToLower(row.Email)
			if first, dup := seen[key]; dup {
				bad = append(bad, "email already used on line "+strconv.Itoa(first))
			} else if row.ID != nil && ids[*row.ID] != 0 {
				bad = append(bad, "id already used on line "+strconv.Itoa(ids[*row.ID]))
			} else {
				seen[key] = line
				if row.ID != nil {
					ids[*row.ID] = line
				}
			}
		}
		if len(bad) > 0 {
			errs = append(errs, store.RowError{Row: line, Error: strings.Join(bad, "; ")})
			continue
		}
		rows = append(rows, row)
	}
	return rows, errs, nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse(seedTimeLayout, s)
}
