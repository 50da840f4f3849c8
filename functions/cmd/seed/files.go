package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urlshort/shortener/shared/domain"
)

// generateMissing writes all three files when any is missing: their ids refer to each
// other, so a lone file could not be regenerated on its own. It reports whether it wrote.
func generateMissing(dir string) (bool, error) {
	missing := false
	for _, name := range []string{usersFile, urlsFile, eventsFile} {
		_, err := os.Stat(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			missing = true
		} else if err != nil {
			return false, err
		}
	}
	if !missing {
		return false, nil
	}
	return true, writeDir(dir, generate(genSeed))
}

// writeDir writes the dataset as the three CSV files, each through a temporary file so an
// interrupted run leaves no truncated file behind.
func writeDir(dir string, d dataset) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	users := [][]string{domain.UsersCSVHeader}
	for _, u := range d.users {
		users = append(users, domain.UserRecord(u))
	}
	urls := [][]string{domain.URLsCSVHeader}
	for _, u := range d.urls {
		urls = append(urls, domain.URLRecord(u))
	}
	events := [][]string{domain.EventsCSVHeader}
	for _, e := range d.events {
		events = append(events, domain.EventRecord(e))
	}
	for _, f := range []struct {
		name    string
		records [][]string
	}{{usersFile, users}, {urlsFile, urls}, {eventsFile, events}} {
		if err := writeCSV(filepath.Join(dir, f.name), f.records); err != nil {
			return err
		}
	}
	return nil
}

func writeCSV(path string, records [][]string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone already after a successful rename
	w := csv.NewWriter(tmp)
	if err := w.WriteAll(records); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// readDir parses the three files.
func readDir(dir string, log io.Writer) (dataset, error) {
	var d dataset
	n, err := readCSV(filepath.Join(dir, usersFile), usersHeader, func(rec []string) error {
		u := domain.User{Username: rec[1], Email: rec[2]}
		var err error
		if u.ID, err = parseID("id", rec[0]); err != nil {
			return err
		}
		if msg := domain.CheckUsername(u.Username); msg != "" {
			return fmt.Errorf("username %s", msg)
		}
		if msg := domain.CheckEmail(u.Email); msg != "" {
			return fmt.Errorf("email %q %s", u.Email, msg)
		}
		if u.CreatedAt, err = parseTime("created_at", rec[3]); err != nil {
			return err
		}
		d.users = append(d.users, u)
		return nil
	})
	if err != nil {
		return d, err
	}
	fmt.Fprintf(log, "%s: %d rows\n", usersFile, n)

	n, err = readCSV(filepath.Join(dir, urlsFile), urlsHeader, func(rec []string) error {
		u := domain.URL{ShortCode: rec[2], OriginalURL: rec[3]}
		var err error
		if u.ID, err = parseID("id", rec[0]); err != nil {
			return err
		}
		if u.UserID, err = parseID("user_id", rec[1]); err != nil {
			return err
		}
		if msg := domain.CheckShortCode(u.ShortCode); msg != "" {
			return fmt.Errorf("short_code %q %s", u.ShortCode, msg)
		}
		if msg := domain.CheckOriginalURL(u.OriginalURL); msg != "" {
			return fmt.Errorf("original_url %q %s", u.OriginalURL, msg)
		}
		if rec[4] != "" {
			if msg := domain.CheckTitle(rec[4]); msg != "" {
				return fmt.Errorf("title %s", msg)
			}
			u.Title = &rec[4]
		}
		if u.IsActive, err = strconv.ParseBool(rec[5]); err != nil {
			return fmt.Errorf("is_active %q is not True or False", rec[5])
		}
		if u.CreatedAt, err = parseTime("created_at", rec[6]); err != nil {
			return err
		}
		if u.UpdatedAt, err = parseTime("updated_at", rec[7]); err != nil {
			return err
		}
		if u.UpdatedAt.Before(u.CreatedAt) {
			return errors.New("updated_at is before created_at")
		}
		d.urls = append(d.urls, u)
		return nil
	})
	if err != nil {
		return d, err
	}
	fmt.Fprintf(log, "%s: %d rows\n", urlsFile, n)

	n, err = readCSV(filepath.Join(dir, eventsFile), eventsHeader, func(rec []string) error {
		e := domain.Event{EventType: rec[3]}
		var err error
		if e.ID, err = parseID("id", rec[0]); err != nil {
			return err
		}
		if e.URLID, err = parseOptID("url_id", rec[1]); err != nil {
			return err
		}
		if e.UserID, err = parseOptID("user_id", rec[2]); err != nil {
			return err
		}
		if e.EventType == "" {
			return errors.New("event_type is empty")
		}
		if e.Timestamp, err = parseTime("timestamp", rec[4]); err != nil {
			return err
		}
		if rec[5] != "" {
			var obj map[string]any
			if err := json.Unmarshal([]byte(rec[5]), &obj); err != nil || obj == nil {
				return fmt.Errorf("details %q is not a JSON object", rec[5])
			}
			e.Details = json.RawMessage(rec[5])
		}
		d.events = append(d.events, e)
		return nil
	})
	if err != nil {
		return d, err
	}
	fmt.Fprintf(log, "%s: %d rows\n", eventsFile, n)
	return d, nil
}

// readCSV checks the header of a CSV file and hands each further record to row; errors
// name the file and the line. It returns the number of records after the header.
func readCSV(path string, header []string, row func(rec []string) error) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = len(header)
	got, err := r.Read()
	if errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("%s: empty file, want the header %s", path, strings.Join(header, ","))
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if !slices.Equal(got, header) {
		return 0, fmt.Errorf("%s:1: header is %s, want %s", path, strings.Join(got, ","), strings.Join(header, ","))
	}
	n := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%s: %w", path, err) // a csv.ParseError names the line
		}
		if err := row(rec); err != nil {
			line, _ := r.FieldPos(0)
			return n, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		n++
	}
}

func parseID(field, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s %q is not a positive integer", field, s)
	}
	return n, nil
}

func parseOptID(field, s string) (*int64, error) {
	if s == "" {
		return nil, nil
	}
	n, err := parseID(field, s)
	return &n, err
}

func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q is not like %s", field, s, timeLayout)
	}
	return t, nil
}
