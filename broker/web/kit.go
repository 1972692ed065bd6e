package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"
)

// Partner kit URLs. They are stable (partners link them from their own pages),
// unlike the versioned /static/ URLs, so they are cached for a day, not a year.
const (
	KitPath       = "/partner-kit/"
	KitCSSPath    = "/partner-kit/button.css"
	KitSVGPath    = "/partner-kit/button.svg"
	AboutPath     = "/a-propos"
	kitAssetCache = "public, max-age=86400"
	kitPageCache  = "public, max-age=3600"
)

// PartnerKitPage shows the "S'identifier avec JusticeConnect" button and the
// snippet partners copy. It is written in French: the partners are French
// administrations and companies.
type PartnerKitPage struct {
	Lang, CorrelationID string
	// Issuer is the broker's public URL, used in the snippet's absolute links.
	Issuer string
	// Snippet is the HTML to copy (shown escaped in a <pre>).
	Snippet string
}

// AboutPage answers "Qu'est-ce que JusticeConnect ?", the link under the button.
type AboutPage struct{ Lang, CorrelationID string }

func (PartnerKitPage) template() string { return "partner_kit" }
func (AboutPage) template() string      { return "about" }

func (p PartnerKitPage) lang() string { return p.Lang }
func (p AboutPage) lang() string      { return p.Lang }

// ButtonSnippet is the HTML a partner puts on its login page: the stylesheet
// link, then the button in a form whose action is the partner's own route that
// starts the OpenID Connect login, and the "Qu'est-ce que JusticeConnect ?"
// link opening the about page in a new window (announced in the title, RGAA
// 13.2). The button is a real <button> in a form, so it works without
// JavaScript and is reachable with the keyboard.
func ButtonSnippet(issuer, action string) string {
	base := html.EscapeString(strings.TrimRight(issuer, "/"))
	return `<link rel="stylesheet" href="` + base + KitCSSPath + `">

<div class="justiceconnect-group">
  <form method="post" action="` + html.EscapeString(action) + `">
    <button type="submit" class="justiceconnect-button">
      <span class="justiceconnect-button__login">S’identifier avec</span>
      <span class="justiceconnect-button__brand">JusticeConnect</span>
    </button>
  </form>
  <p>
    <a href="` + base + AboutPath + `" target="_blank" rel="noopener" title="Qu’est-ce que JusticeConnect ? - nouvelle fenêtre">Qu’est-ce que JusticeConnect ?</a>
  </p>
</div>
`
}

// kitFile is one pre-built response of the kit.
type kitFile struct {
	body        []byte
	contentType string
	cache       string
	etag        string
}

func newKitFile(body []byte, contentType, cache string) kitFile {
	sum := sha256.Sum256(body)
	return kitFile{body: body, contentType: contentType, cache: cache, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

func (f kitFile) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", f.cache)
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// RegisterKit mounts the partner kit and the about page on mux:
//
//	GET /partner-kit/            the button, the snippet to copy, how to use it (French)
//	GET /partner-kit/button.css  the button's stylesheet
//	GET /partner-kit/button.svg  the button's mark, referenced by the stylesheet
//	GET /a-propos                "Qu'est-ce que JusticeConnect ?" (French, or English by Accept-Language)
//
// Everything is rendered once here: the pages carry no per-request data, so they
// can be cached by browsers and proxies, and they hold no inline script or style
// (the broker's Content-Security-Policy applies to them as to every page).
func (p *Pages) RegisterKit(mux *http.ServeMux, issuer string) error {
	css, ok := p.assets["partner-kit/button.css"]
	if !ok {
		return fmt.Errorf("web: partner kit: no button.css")
	}
	svg, ok := p.assets["partner-kit/button.svg"]
	if !ok {
		return fmt.Errorf("web: partner kit: no button.svg")
	}
	kit, err := p.renderStatic(PartnerKitPage{Lang: French, Issuer: issuer,
		Snippet: ButtonSnippet(issuer, "/connexion/justiceconnect")})
	if err != nil {
		return err
	}
	about := map[string]kitFile{}
	for _, l := range []string{French, English} {
		f, err := p.renderStatic(AboutPage{Lang: l})
		if err != nil {
			return err
		}
		about[l] = f
	}
	files := map[string]kitFile{
		KitCSSPath: newKitFile(css.body, css.contentType, kitAssetCache),
		KitSVGPath: newKitFile(svg.body, svg.contentType, kitAssetCache),
		KitPath:    kit,
	}
	for path, f := range files {
		if strings.HasSuffix(path, "/") {
			path += "{$}"
		}
		mux.HandleFunc("GET "+path, f.serve)
	}
	mux.HandleFunc("GET "+AboutPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept-Language")
		about[p.Lang(r, r.URL.Query().Get("lang"))].serve(w, r)
	})
	return nil
}

// renderStatic renders a page with no per-request data into a cacheable file.
func (p *Pages) renderStatic(page Page) (kitFile, error) {
	var buf bytes.Buffer
	t, ok := p.tmpl[page.template()]
	if !ok {
		return kitFile{}, fmt.Errorf("web: no template for %T", page)
	}
	if err := t.Execute(&buf, page); err != nil {
		return kitFile{}, fmt.Errorf("web: render %s: %w", page.template(), err)
	}
	return newKitFile(buf.Bytes(), "text/html; charset=utf-8", kitPageCache), nil
}
