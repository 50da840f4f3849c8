package grouptest_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/urlshort/shortener/functions/internal/grouptest"
	"github.com/urlshort/shortener/shared/routing"
)

// TestBulkImportFollowsTheDocument sends POST /users/bulk through the hook, which the
// users tests of the bulk route do not use (they run their own server): the multipart
// request and the import's answer are checked against the document.
func TestBulkImportFollowsTheDocument(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Users, grouptest.Options{})
	upload := func(field, csv string) grouptest.Reply {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		fw, err := mw.CreateFormFile(field, "users.csv")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write([]byte(csv))
		if err := mw.Close(); err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest("POST", e.URL()+"/users/bulk", &b)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
		return e.Send(t, req)
	}
	if r := upload("file", "username,email\nada,ada@example.com\nbob,not-an-email\n"); r.Status != 201 {
		t.Errorf("import: %v", r)
	} else if o := r.Object(t); o["imported"] != 1.0 || o["skipped"] != 1.0 || o["errors_truncated"] != false {
		t.Errorf("import: %v", r)
	}
	if r := upload("other", "username,email\n"); r.Status != 400 {
		t.Errorf("without the field file: %v", r)
	}
	if r := upload("file", "name\nx\n"); r.Status != 400 {
		t.Errorf("without the username and email columns: %v", r)
	}
	if r := e.Do(t, "POST", "/users/bulk", `{"file":"x"}`); r.Status != 400 {
		t.Errorf("JSON instead of multipart: %v", r)
	}
}
