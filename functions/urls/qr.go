package urls

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strconv"
	"strings"

	"github.com/boombuler/barcode/qr"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/web"
)

// The sizes a QR code may be asked for, in pixels, and the quiet zone (in modules) the QR
// standard asks around the symbol so that scanners find it.
const (
	qrMinSize     = 64
	qrMaxSize     = 1024
	qrDefaultSize = 256
	qrQuiet       = 4
)

// qrCode answers GET /urls/{id}/qr: a QR code of the URL's short link, as PNG or, with
// ?format=svg, as SVG. It is drawn from the live URL, so it is 404 as GET /urls/{id} is.
func (h handlers) qrCode(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathID(r, "id", "url")
	if err != nil {
		web.Error(w, r, err)
		return
	}
	size, format, err := qrParams(r)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	u, err := h.Store.FindURLByID(r.Context(), id)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	link := h.withLink(r, u.Value).ShortURL
	// Medium error correction: a code that survives a smudge, at a size that stays
	// readable for the longest links.
	code, err := qr.Encode(link, qr.M, qr.Auto)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	modules := code.Bounds().Dx() + 2*qrQuiet
	if size < modules {
		web.Error(w, r, domain.Errorf(domain.BadRequest, "size %d is too small for this link's QR code: it needs at least %d pixels", size, modules))
		return
	}
	w.Header().Set("Cache-Control", "private, max-age=300")
	if format == "svg" {
		w.Header().Set("Content-Type", "image/svg+xml")
		_, _ = w.Write(qrSVG(code, size))
		return
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, qrImage(code, size)); err != nil {
		web.Error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(buf.Bytes())
}

// qrParams reads ?size= and ?format=.
func qrParams(r *http.Request) (size int, format string, err error) {
	size, format = qrDefaultSize, "png"
	q := r.URL.Query()
	if s := q.Get("size"); s != "" || q.Has("size") {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < qrMinSize || n > qrMaxSize {
			return 0, "", domain.Errorf(domain.BadRequest, "size must be an integer from %d to %d", qrMinSize, qrMaxSize)
		}
		size = n
	}
	if f := q.Get("format"); f != "" || q.Has("format") {
		if f = strings.ToLower(f); f != "png" && f != "svg" {
			return 0, "", domain.Errorf(domain.BadRequest, "format must be png or svg")
		}
		format = f
	}
	return size, format, nil
}

// qrImage draws the code at size × size pixels: whole pixels per module, the symbol
// centred in its quiet zone, so every module is sharp.
func qrImage(code image.Image, size int) image.Image {
	n := code.Bounds().Dx()
	scale := size / (n + 2*qrQuiet)
	off := (size - n*scale) / 2
	img := image.NewGray(image.Rect(0, 0, size, size))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for y := range n {
		for x := range n {
			if dark(code.At(code.Bounds().Min.X+x, code.Bounds().Min.Y+y)) {
				for dy := range scale {
					row := img.Pix[(off+y*scale+dy)*img.Stride:]
					for dx := range scale {
						row[off+x*scale+dx] = 0
					}
				}
			}
		}
	}
	return img
}

// qrSVG draws the code as one path of unit squares in a viewBox of modules, scaled to
// size by the viewer.
func qrSVG(code image.Image, size int) []byte {
	n := code.Bounds().Dx()
	total := n + 2*qrQuiet
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" shape-rendering="crispEdges">`, size, size, total, total)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, total, total)
	for y := range n {
		for x := range n {
			if dark(code.At(code.Bounds().Min.X+x, code.Bounds().Min.Y+y)) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+qrQuiet, y+qrQuiet)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.Bytes()
}

func dark(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r+g+b < 3*0x8000
}
