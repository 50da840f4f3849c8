package users

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/urlshort/shortener/shared/cache/cachetest"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/metrics"
	"github.com/urlshort/shortener/shared/store"
	"github.com/urlshort/shortener/shared/store/storetest"
	"github.com/urlshort/shortener/shared/web"
)

// published records what the handlers hand to the publisher.
type published struct {
	mu     sync.Mutex
	audits []domain.Audit
}

func (p *published) Publish(audits []domain.Audit) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.audits = append(p.audits, audits...)
}

func (p *published) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.audits)
}

// bulkAPI is the user routes on a fresh database and cache, behind a real HTTP server.
type bulkAPI struct {
	t   *testing.T
	st  *store.Store
	pub *published
	url string
}

func newBulkAPI(t *testing.T, configure func(*Deps)) *bulkAPI {
	t.Helper()
	return newBulkServer(t, configure, nil)
}

// newBulkServer is newBulkAPI with the HTTP server's settings changed by server.
func newBulkServer(t *testing.T, configure func(*Deps), server func(*http.Server)) *bulkAPI {
	t.Helper()
	st := storetest.New(t, "test")
	d := Deps{Store: st, Cache: cachetest.New(t), Publisher: &published{}, BodyLimit: 1 << 20, BulkLimit: 10 << 20}
	if configure != nil {
		configure(&d)
	}
	rt := web.NewRouter(metrics.New(), "users")
	rt.Handle(Routes(d)...)
	srv := httptest.NewUnstartedServer(rt)
	if server != nil {
		server(srv.Config)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return &bulkAPI{t: t, st: st, pub: d.Publisher.(*published), url: srv.URL}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (a *bulkAPI) do(method, path, contentType string, body []byte) reply {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url+path, bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return reply{res.StatusCode, res.Header, b}
}

// upload posts file as the multipart field "file".
func (a *bulkAPI) upload(file string) reply {
	a.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fw, _ := w.CreateFormFile("file", "users.csv")
	_, _ = fw.Write([]byte(file))
	_ = w.Close()
	return a.do("POST", "/users/bulk", w.FormDataContentType(), buf.Bytes())
}

// bulkReply is the 201 body of an import.
type bulkReply struct {
	Count           int               `json:"count"`
	Imported        int               `json:"imported"`
	Skipped         int               `json:"skipped"`
	Errors          []domain.RowError `json:"errors"`
	ErrorsTruncated bool              `json:"errors_truncated"`
}

func (a *bulkAPI) imported(file string) bulkReply {
	a.t.Helper()
	r := a.upload(file)
	if r.status != http.StatusCreated {
		a.t.Fatalf("import: %d %s", r.status, r.body)
	}
	var b bulkReply
	if err := json.Unmarshal(r.body, &b); err != nil {
		a.t.Fatalf("import answer %s: %v", r.body, err)
	}
	if b.Count != b.Imported || b.Errors == nil {
		a.t.Errorf("import answer %s: count must equal imported, errors must be a list", r.body)
	}
	return b
}

// createUser is POST /users, which must work whatever an import did.
func (a *bulkAPI) createUser(name string) (int64, reply) {
	a.t.Helper()
	r := a.do("POST", "/users", "application/json", []byte(`{"username":"`+name+`","email":"`+name+`@example.com"}`))
	var u struct{ ID int64 }
	_ = json.Unmarshal(r.body, &u)
	return u.ID, r
}

func (a *bulkAPI) users() []domain.User {
	a.t.Helper()
	r := a.do("GET", "/users", "", nil)
	var us []domain.User
	if err := json.Unmarshal(r.body, &us); r.status != 200 || err != nil {
		a.t.Fatalf("GET /users: %d %s", r.status, r.body)
	}
	return us
}

func rowLines(errs []domain.RowError) []int {
	lines := []int{}
	for _, e := range errs {
		lines = append(lines, e.Row)
	}
	return lines
}

// TestBulkMaxIDThenCreateUser: the largest id a client may give is imported, and POST
// /users goes on creating users after it.
func TestBulkMaxIDThenCreateUser(t *testing.T) {
	t.Parallel()
	a := newBulkAPI(t, nil)
	b := a.imported("id,username,email\n9007199254740991,top,top@example.com\n")
	if b.Imported != 1 || b.Skipped != 0 {
		t.Fatalf("import of the max id: %+v", b)
	}
	id, r := a.createUser("after")
	if r.status != http.StatusCreated || id != domain.MaxClientID+1 {
		t.Errorf("POST /users after the max id: %d %s, want 201 with id %d", r.status, r.body, int64(domain.MaxClientID+1))
	}
}

// TestBulkIDAboveMaxIsSkippedRow: an id the schema could not keep serving after is a
// skipped row with its line, and POST /users keeps working.
func TestBulkIDAboveMaxIsSkippedRow(t *testing.T) {
	t.Parallel()
	a := newBulkAPI(t, nil)
	b := a.imported("id,username,email\n" +
		"9223372036854775807,max,max@example.com\n" +
		"9007199254740992,over,over@example.com\n" +
		"99999999999999999999,wide,wide@example.com\n" +
		"12,fine,fine@example.com\n")
	if b.Imported != 1 || b.Skipped != 3 || !reflect.DeepEqual(rowLines(b.Errors), []int{2, 3, 4}) {
		t.Fatalf("import: %+v, want 1 imported and lines 2, 3, 4 skipped", b)
	}
	if !strings.Contains(b.Errors[0].Error, "9007199254740991") {
		t.Errorf("row error %q does not name the largest id allowed", b.Errors[0].Error)
	}
	if _, r := a.createUser("after"); r.status != http.StatusCreated {
		t.Errorf("POST /users after the import: %d %s", r.status, r.body)
	}
}

// TestBulkBrokenQuoteCostsOneRow: a malformed quote is a skipped row with its line
// number, and the rows after it are read as the rows they are.
func TestBulkBrokenQuoteCostsOneRow(t *testing.T) {
	t.Parallel()
	a := newBulkAPI(t, nil)
	for _, c := range []struct {
		name, row string
	}{
		{"QuoteNeverClosed", `"ann,ann@example.com`},
		{"QuoteInsideUnquotedField", `an"n,ann@example.com`},
		{"TextAfterClosingQuote", `"ann"x,ann@example.com`},
		{"QuoteClosedOnALaterLine", `"ann,ann@example.com` + "\n" + `bo,"bo@example.com"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := strings.ToLower(c.name)
			file := "username,email\n" +
				p + "1,first-" + p + "@example.com\n" +
				strings.ReplaceAll(c.row, "example.com", p+".example.com") + "\n" +
				p + "3,third-" + p + "@example.com\n" +
				`"` + p + `, quoted",fourth-` + p + "@example.com\n"
			b := a.imported(file)
			want := 3
			if strings.Contains(c.row, "\n") {
				want = 4 // the later line is a row of its own
			}
			if b.Skipped != 1 || b.Imported != want || b.Errors[0].Row != 3 {
				t.Errorf("import: %+v, want line 3 skipped and %d rows imported", b, want)
			}
		})
	}
}

// TestBulkUnreadableFileIs400: a file without a readable header row is refused whole.
func TestBulkUnreadableFileIs400(t *testing.T) {
	t.Parallel()
	a := newBulkAPI(t, nil)
	for name, file := range map[string]string{
		"Empty":            "",
		"OnlyEmptyLines":   "\n\r\n\n",
		"BrokenHeader":     "user\"name,email\nann,ann@example.com\n",
		"HeaderWithoutCol": "name,mail\nann,ann@example.com\n",
		"Binary":           "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
	} {
		t.Run(name, func(t *testing.T) {
			if r := a.upload(file); r.status != http.StatusBadRequest || !json.Valid(r.body) {
				t.Errorf("upload: %d %s, want a 400 JSON error", r.status, r.body)
			}
		})
	}
	if us := a.users(); len(us) != 0 {
		t.Errorf("refused files stored %v", us)
	}
}

// TestBulkUnstorableCellsAreRowErrors: NUL bytes and invalid UTF-8, which PostgreSQL
// cannot store in text, are row errors rather than a failed file.
func TestBulkUnstorableCellsAreRowErrors(t *testing.T) {
	t.Parallel()
	a := newBulkAPI(t, nil)
	b := a.imported("id,username,email,created_at\n" +
		"1,nul\x00name,nul@example.com,\n" +
		"2,bad,bad\xff@example.com,\n" +
		"3,time,time@example.com,2025-07-18 23:45:1\x00\n" +
		"x\x00,both\xc3,both@example.com,\n" +
		"5,fine,fine@example.com,\n")
	if b.Imported != 1 || !reflect.DeepEqual(rowLines(b.Errors), []int{2, 3, 4, 5}) {
		t.Fatalf("import: %+v, want lines 2 to 5 skipped and line 6 imported", b)
	}
	for i, want := range []string{"username must not contain NUL bytes", "email must be valid UTF-8",
		"created_at must not contain NUL bytes", "id must not contain NUL bytes; username must be valid UTF-8"} {
		if b.Errors[i].Error != want {
			t.Errorf("line %d: %q, want %q", b.Errors[i].Row, b.Errors[i].Error, want)
		}
	}
}

// TestBulkErrorsListCapped: a file of one email a thousand times lists the first 100
// row errors, counts them all and says the list is cut.
func TestBulkErrorsListCapped(t *testing.T) {
	t.Parallel()
	a := newBulkAPI(t, nil)
	b := a.imported("username,email\n" + strings.Repeat("a,a@example.com\n", 1000))
	if b.Imported != 1 || b.Skipped != 999 || len(b.Errors) != maxBulkErrors || !b.ErrorsTruncated {
		t.Fatalf("import: imported %d skipped %d, %d errors listed, truncated %v; want 1, 999, %d, true",
			b.Imported, b.Skipped, len(b.Errors), b.ErrorsTruncated, maxBulkErrors)
	}
	if b.Errors[0] != (domain.RowError{Row: 3, Error: "email already used on line 2"}) || b.Errors[99].Row != 102 {
		t.Errorf("errors run from %+v to %+v, want lines 3 to 102", b.Errors[0], b.Errors[99])
	}
	if b := a.imported("username,email\nb,b@example.com\n"); b.ErrorsTruncated {
		t.Errorf("a file without errors says its list is cut: %+v", b)
	}
}

// manyUsers is a users CSV of n rows, ids from 1 (row i on line i+1), where every
// 5003rd row repeats the email of a row in an earlier chunk and row 7777 the id of row 77.
func manyUsers(n int) string {
	var b strings.Builder
	b.WriteString("id,username,email,created_at\n")
	for i := 1; i <= n; i++ {
		id, email := i, "u"+strconv.Itoa(i)+"@example.com"
		if i%5003 == 0 {
			email = "u" + strconv.Itoa(i-4000) + "@example.com"
		}
		if i == 7777 {
			id = 77
		}
		fmt.Fprintf(&b, "%d,user%d,%s,2025-07-18 23:45:12\n", id, i%10, email)
	}
	return b.String()
}

// TestBulkReimportAcrossChunksChangesNothing: a file of several chunks, with duplicates
// that span chunks, counts the same when imported again and changes nothing.
func TestBulkReimportAcrossChunksChangesNothing(t *testing.T) {
	t.Parallel()
	a := newBulkAPI(t, nil)
	file := manyUsers(3*bulkChunk + 10)
	first := a.imported(file)
	want := []domain.RowError{
		{Row: 5004, Error: "email already used on line 1004"},
		{Row: 7778, Error: "id already used on line 78"},
		{Row: 10007, Error: "email already used on line 6007"},
		{Row: 15010, Error: "email already used on line 11010"},
	}
	if first.Imported != 3*bulkChunk+6 || !reflect.DeepEqual(first.Errors, want) {
		t.Fatalf("first import: imported %d, errors %v; want %d and %v", first.Imported, first.Errors, 3*bulkChunk+6, want)
	}
	before := a.users()
	pending, _, _ := a.st.OutboxStats(t.Context())
	second := a.imported(file)
	if !reflect.DeepEqual(first, second) {
		t.Errorf("second import %+v, first %+v: want the same", second, first)
	}
	if after := a.users(); !reflect.DeepEqual(before, after) {
		t.Error("the second import changed users")
	}
	if p, _, _ := a.st.OutboxStats(t.Context()); p != pending {
		t.Errorf("the second import wrote %d events", p-pending)
	}
	if id, r := a.createUser("after"); r.status != http.StatusCreated || id <= int64(3*bulkChunk+10) {
		t.Errorf("POST /users after the import: %d %s", r.status, r.body)
	}
}

// TestBulkOverBudgetIs413AndStoresNothing: a file that cannot be imported within the
// time budget is answered 413 with a JSON error, and none of it stays.
func TestBulkOverBudgetIs413AndStoresNothing(t *testing.T) {
	a := newBulkAPI(t, func(d *Deps) { d.BulkTimeout = 500 * time.Millisecond })
	start := time.Now()
	r := a.upload(manyUsers(120_000))
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the answer took %v with a budget of 500ms", took)
	}
	var e struct{ Error string }
	if r.status != http.StatusRequestEntityTooLarge || json.Unmarshal(r.body, &e) != nil || !strings.Contains(e.Error, "split it") {
		t.Fatalf("over the budget: %d %s, want a 413 telling to split the file", r.status, r.body)
	}
	if us := a.users(); len(us) != 0 {
		t.Errorf("%d users stored by a file that was refused", len(us))
	}
	if p, _, _ := a.st.OutboxStats(t.Context()); p != 0 {
		t.Errorf("%d events left by a file that was refused", p)
	}
	if _, r := a.createUser("after"); r.status != http.StatusCreated {
		t.Errorf("POST /users after the refused import: %d %s", r.status, r.body)
	}
}

// TestBulkBehindAnotherImportIs503: an import that waits its whole budget for another
// one to let go of the users table is told to retry, not that its file is too big.
func TestBulkBehindAnotherImportIs503(t *testing.T) {
	a := newBulkAPI(t, func(d *Deps) { d.BulkTimeout = 500 * time.Millisecond })
	holding, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- a.st.ImportUsersInChunks(t.Context(), func(domain.UserImporter) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	r := a.upload("username,email\nann,ann@example.com\n")
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !json.Valid(r.body) {
		t.Fatalf("behind another import: %d %v %s, want a 503 with Retry-After", r.status, r.header, r.body)
	}
	if b := a.imported("username,email\nann,ann@example.com\n"); b.Imported != 1 {
		t.Errorf("the retry: %+v", b)
	}
}

// TestBulkOutlivesServerTimeouts: an import that takes longer than the server's read and
// write timeouts (func-go's are 30 s) still gets its answer, as long as it is within its
// own budget.
func TestBulkOutlivesServerTimeouts(t *testing.T) {
	a := newBulkServer(t, func(d *Deps) { d.BulkTimeout = 10 * time.Second }, func(s *http.Server) {
		s.ReadTimeout, s.WriteTimeout = time.Second, time.Second
	})
	holding, done := make(chan struct{}), make(chan error)
	go func() {
		done <- a.st.ImportUsersInChunks(t.Context(), func(domain.UserImporter) error {
			close(holding)
			time.Sleep(2500 * time.Millisecond) // the import below waits for the table as long
			return nil
		})
	}()
	<-holding
	start := time.Now()
	b := a.imported("username,email\nann,ann@example.com\n")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); b.Imported != 1 || took < 2*time.Second {
		t.Errorf("import: %+v after %v; want 1 imported after the other import let go", b, took)
	}
}

// TestBulkFileOverLimitIs413: the byte limit holds for a file read as it arrives.
func TestBulkFileOverLimitIs413(t *testing.T) {
	t.Parallel()
	a := newBulkAPI(t, func(d *Deps) { d.BulkLimit = 1000 })
	if r := a.upload("username,email\n" + strings.Repeat("a,a@example.com\n", 100)); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("file over the limit: %d %s", r.status, r.body)
	}
	if b := a.imported("username,email\na,a@example.com\n"); b.Imported != 1 {
		t.Errorf("file under the limit: %+v", b)
	}
}

// TestBulkChangedUserLeavesCache: a user read through the cache shows the import's
// change right after it.
func TestBulkChangedUserLeavesCache(t *testing.T) {
	t.Parallel()
	a := newBulkAPI(t, nil)
	id, r := a.createUser("before")
	if r.status != http.StatusCreated {
		t.Fatal(r.status, string(r.body))
	}
	path := "/users/" + strconv.FormatInt(id, 10)
	a.do("GET", path, "", nil)
	if r := a.do("GET", path, "", nil); r.header.Get("X-Cache") != "HIT" {
		t.Fatalf("second read: X-Cache %q, want HIT", r.header.Get("X-Cache"))
	}
	a.imported(fmt.Sprintf("id,username,email\n%d,renamed,before@example.com\n", id))
	var u domain.User
	if r := a.do("GET", path, "", nil); json.Unmarshal(r.body, &u) != nil || u.Username != "renamed" {
		t.Errorf("read after the import: %s, want the new username", r.body)
	}
}

// TestBulkBigImportLeavesEventsToTheRelay: a small import hands its events to the
// publisher; a big one leaves them, all in the outbox, to the relay.
func TestBulkBigImportLeavesEventsToTheRelay(t *testing.T) {
	t.Parallel()
	a := newBulkAPI(t, nil)
	a.imported(manyUsers(10))
	if n := a.pub.count(); n != 10 {
		t.Fatalf("published %d events of a 10-row import, want 10", n)
	}
	var b strings.Builder
	b.WriteString("username,email\n")
	for i := range bulkPublishMax + 1 {
		fmt.Fprintf(&b, "big,big%d@example.com\n", i)
	}
	a.imported(b.String())
	if n := a.pub.count(); n != 10 {
		t.Errorf("published %d events after a big import, want still 10", n)
	}
	if p, _, _ := a.st.OutboxStats(t.Context()); p != 10+bulkPublishMax+1 {
		t.Errorf("outbox holds %d events, want %d", p, 10+bulkPublishMax+1)
	}
}

// TestCSVRecordsAsEncodingCSV: on files encoding/csv reads without error, the records
// and their lines are the same.
func TestCSVRecordsAsEncodingCSV(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"Plain":          "a,b\nc,d\n",
		"CRLF":           "a,b\r\nc,d\r\n",
		"NoFinalNewline": "a,b\nc,d",
		"FinalCR":        "a,b\nc,d\r",
		"EmptyLines":     "\n\na,b\n\r\n\nc,d\n\n",
		"EmptyFields":    "a,,\n,\n",
		"Quoted":         "\"a,1\",\"b\"\"2\"\"\",\"\"\n",
		"QuotedNewlines": "\"a\nb\",\"c\r\nd\"\nnext,\"\n\n\"\n",
		"LoneCR":         "a\rb,c\r\r\n",
		"Spaces":         " a , b \n",
		"Unicode":        "ä,\"ö\nü\",\xff\n",
	} {
		t.Run(name, func(t *testing.T) {
			want, wantLines, err := readAllCSV(in)
			if err != nil {
				t.Fatalf("encoding/csv: %v", err)
			}
			got, gotLines, broken := readAllRecords(in)
			if len(broken) > 0 || !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotLines, wantLines) {
				t.Errorf("records %q lines %v broken %v, want %q lines %v", got, gotLines, broken, want, wantLines)
			}
		})
	}
}

func readAllCSV(in string) ([][]string, []int, error) {
	r := csv.NewReader(strings.NewReader(in))
	r.FieldsPerRecord = -1
	var (
		recs  [][]string
		lines []int
	)
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return recs, lines, nil
		}
		if err != nil {
			return nil, nil, err
		}
		line, _ := r.FieldPos(0)
		recs, lines = append(recs, rec), append(lines, line)
	}
}

func readAllRecords(in string) (recs [][]string, lines []int, broken []int) {
	c := csvRecords{data: []byte(in), line: 1}
	for {
		rec, line, why, err := c.next()
		if err != nil {
			return recs, lines, broken
		}
		if why != "" {
			broken = append(broken, line)
			continue
		}
		recs, lines = append(recs, append([]string(nil), rec...)), append(lines, line)
	}
}

// FuzzParseUsersCSV feeds the users CSV parser arbitrary files: it must not panic, every
// row it accepts must be one the store can keep, every line it names must be a line of the
// file after the header, in order, and on files encoding/csv reads whole it must read the
// same records.
func FuzzParseUsersCSV(f *testing.F) {
	for _, s := range []string{
		"id,username,email,created_at\n1,ann,ann@example.com,2025-07-18 23:45:12\n",
		"username,email\n\"ann,ann@example.com\nbo,bo@example.com\n",
		"id,username,email\n9223372036854775807,max,max@example.com\n9007199254740991,top,top@example.com\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := bytes.Count(data, []byte("\n")) + 1
		p, err := newUsersCSV(data)
		if err != nil {
			if domain.KindOf(err) != domain.BadRequest {
				t.Fatalf("header refused with %v, want a BadRequest", err)
			}
			return
		}
		last := 1
		for {
			row, rowErr, err := p.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("next: %v", err)
			}
			line := row.Line
			if rowErr != nil {
				line = rowErr.Row
				if rowErr.Error == "" {
					t.Errorf("line %d skipped without a reason", line)
				}
			} else {
				for _, s := range []string{row.Username, row.Email} {
					if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
						t.Errorf("line %d accepted with %q", line, s)
					}
				}
				if msg := domain.CheckUsername(row.Username); msg != "" {
					t.Errorf("line %d accepted with username %q: %s", line, row.Username, msg)
				}
				if msg := domain.CheckEmail(row.Email); msg != "" {
					t.Errorf("line %d accepted with email %q: %s", line, row.Email, msg)
				}
				if row.ID != nil && (*row.ID < 1 || *row.ID > domain.MaxClientID) {
					t.Errorf("line %d accepted with id %d", line, *row.ID)
				}
			}
			if line < 2 || line <= last || line > lines {
				t.Errorf("line %d after line %d in a file of %d lines", line, last, lines)
			}
			last = line
		}

		// Where encoding/csv reads every record, the records are the same.
		in := string(bytes.TrimPrefix(data, []byte("\ufeff")))
		if len(in) > maxRowBytes {
			return
		}
		want, wantLines, err := readAllCSV(in)
		if err != nil {
			return
		}
		got, gotLines, broken := readAllRecords(in)
		if len(broken) > 0 || !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotLines, wantLines) {
			t.Errorf("records %q lines %v broken %v; encoding/csv reads %q lines %v", got, gotLines, broken, want, wantLines)
		}
	})
}
