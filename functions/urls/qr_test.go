package urls_test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/png"
	"net/http"
	"strings"
	"testing"

	"github.com/boombuler/barcode/qr"

	"github.com/urlshort/shortener/functions/internal/grouptest"
	"github.com/urlshort/shortener/shared/routing"
)

// TestQRCode: GET /urls/{id}/qr draws the short link, built from the request's host (or
// X-Forwarded-*), as a PNG of the asked size whose modules are exactly the link's QR code,
// or as SVG; bad parameters are 400 and a deleted URL 404.
func TestQRCode(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.URLs, grouptest.Options{})
	u := e.CreateURL(t, e.CreateUser(t), "https://example.com/qr")
	path := fmt.Sprintf("/urls/%d/qr", u.ID)

	req, _ := http.NewRequest("GET", e.URL()+path+"?size=300", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Host", "sho.rt")
	r := e.Send(t, req)
	if r.Status != 200 || r.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("PNG: %v", r)
	}
	img, err := png.Decode(bytes.NewReader(r.Body))
	if err != nil || img.Bounds().Dx() != 300 || img.Bounds().Dy() != 300 {
		t.Fatalf("PNG %v, %v: want 300 × 300", img.Bounds(), err)
	}
	want, _ := qr.Encode("https://sho.rt/"+u.ShortCode, qr.M, qr.Auto)
	n := want.Bounds().Dx()
	scale := 300 / (n + 8)
	off := (300 - n*scale) / 2
	for y := range n {
		for x := range n {
			r, _, _, _ := img.At(off+x*scale+scale/2, off+y*scale+scale/2).RGBA()
			wr, _, _, _ := want.At(x, y).RGBA()
			if (r < 0x8000) != (wr < 0x8000) {
				t.Fatalf("module (%d,%d) differs from the QR code of https://sho.rt/%s", x, y, u.ShortCode)
			}
		}
	}

	r = e.Do(t, "GET", path+"?format=svg&size=128", nil)
	var svg struct {
		XMLName xml.Name `xml:"svg"`
		Width   string   `xml:"width,attr"`
	}
	if r.Status != 200 || r.Header.Get("Content-Type") != "image/svg+xml" || xml.Unmarshal(r.Body, &svg) != nil || svg.Width != "128" {
		t.Errorf("SVG: %v", r)
	}
	if r := e.Do(t, "GET", path, nil); r.Status != 200 {
		t.Errorf("default PNG: %v", r)
	} else if img, err := png.Decode(bytes.NewReader(r.Body)); err != nil || img.Bounds().Dx() != 256 {
		t.Errorf("default size: %v %v", img.Bounds(), err)
	}
	for _, q := range []string{"?size=63", "?size=1025", "?size=abc", "?size=", "?format=gif", "?size=64&format=svg&x=1"} {
		r := e.Do(t, "GET", path+q, nil)
		if q == "?size=64&format=svg&x=1" {
			if r.Status != 200 {
				t.Errorf("GET %s: %v", q, r)
			}
			continue
		}
		if r.Status != 400 || !strings.Contains(string(r.Body), `"error"`) {
			t.Errorf("GET %s: %v, want a JSON 400", q, r)
		}
	}
	e.Do(t, "DELETE", fmt.Sprintf("/urls/%d", u.ID), nil)
	e.WantNotFound(t, map[string]string{"deleted": path, "unknown": "/urls/999999/qr"})
}
