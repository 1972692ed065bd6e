package web

import (
	"encoding/xml"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

const kitIssuer = "https://connect.justice.example"

func kitMux(t *testing.T) (*Pages, http.Handler) {
	t.Helper()
	p := newPages(t)
	mux := http.NewServeMux()
	mux.Handle("GET /static/", p.StaticHandler())
	if err := p.RegisterKit(mux, kitIssuer); err != nil {
		t.Fatalf("RegisterKit: %v", err)
	}
	return p, SecurityHeaders(mux)
}

func TestPartnerKitURLs(t *testing.T) {
	_, h := kitMux(t)
	tests := []struct{ url, contentType, contains string }{
		{"/partner-kit/", "text/html; charset=utf-8", "S’identifier avec"},
		{"/partner-kit/button.css", "text/css; charset=utf-8", ".justiceconnect-button"},
		{"/partner-kit/button.svg", "image/svg+xml", "<svg"},
		{"/a-propos", "text/html; charset=utf-8", "Qu’est-ce que JusticeConnect ?"},
	}
	for _, tt := range tests {
		rec := get(h, "GET", tt.url)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: %d", tt.url, rec.Code)
			continue
		}
		if ct := rec.Header().Get("Content-Type"); ct != tt.contentType {
			t.Errorf("%s: Content-Type %q, want %q", tt.url, ct, tt.contentType)
		}
		if body := html.UnescapeString(rec.Body.String()); !strings.Contains(body, tt.contains) {
			t.Errorf("%s: no %q", tt.url, tt.contains)
		}
		if cc := rec.Header().Get("Cache-Control"); !strings.HasPrefix(cc, "public, max-age=") {
			t.Errorf("%s: Cache-Control %q, want public", tt.url, cc)
		}
		if rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: security headers missing", tt.url)
		}
		// Revalidation: the ETag gives a 304.
		req := httptest.NewRequest("GET", tt.url, nil)
		req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
		rec2 := httptest.NewRecorder()
		h.ServeHTTP(rec2, req)
		if rec.Header().Get("ETag") == "" || rec2.Code != http.StatusNotModified {
			t.Errorf("%s: ETag %q, revalidation %d", tt.url, rec.Header().Get("ETag"), rec2.Code)
		}
		if rec := get(h, "HEAD", tt.url); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Errorf("HEAD %s: %d, %d bytes", tt.url, rec.Code, rec.Body.Len())
		}
	}
	for _, u := range []string{"/partner-kit/nope.css", "/partner-kit/button.css/x"} {
		if rec := get(h, "GET", u); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", u, rec.Code)
		}
	}
	if rec := get(h, "POST", "/partner-kit/button.css"); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

var hrefRe = regexp.MustCompile(`(?:href|src|action)="([^"]*)"`)

// TestButtonSnippetLinks checks every URL of the snippet (as given and as shown
// on the kit page) is one the broker answers, and that the snippet is what the
// issue asks: a real button, the two labels, the about link in a new window.
func TestButtonSnippetLinks(t *testing.T) {
	_, h := kitMux(t)
	snippet := ButtonSnippet(kitIssuer+"/", "/connexion/justiceconnect")
	for _, want := range []string{
		`<button type="submit" class="justiceconnect-button">`,
		"S’identifier avec", "JusticeConnect</span>",
		`href="` + kitIssuer + `/a-propos" target="_blank" rel="noopener"`,
		"Qu’est-ce que JusticeConnect ? - nouvelle fenêtre",
		`<link rel="stylesheet" href="` + kitIssuer + `/partner-kit/button.css">`,
	} {
		if !strings.Contains(snippet, want) {
			t.Errorf("snippet lacks %q", want)
		}
	}
	if styleAtt.MatchString(snippet) || onAttr.MatchString(snippet) || strings.Contains(snippet, "<script") {
		t.Error("snippet needs inline style or script (blocked by strict CSPs)")
	}
	page := html.UnescapeString(get(h, "GET", "/partner-kit/").Body.String())
	if !strings.Contains(page, strings.TrimSpace(snippet)) {
		t.Error("the kit page does not show the snippet")
	}
	checked := 0
	for _, m := range hrefRe.FindAllStringSubmatch(snippet, -1) {
		u := m[1]
		if !strings.HasPrefix(u, kitIssuer+"/") {
			continue // the partner's own route
		}
		checked++
		if rec := get(h, "GET", strings.TrimPrefix(u, kitIssuer)); rec.Code != http.StatusOK {
			t.Errorf("snippet links %s: %d", u, rec.Code)
		}
	}
	if checked != 2 {
		t.Errorf("%d broker URLs in the snippet, want 2", checked)
	}
	// The stylesheet's url() resolves next to it, both at the stable URL and in /static/.
	css := get(h, "GET", KitCSSPath).Body.String()
	if !strings.Contains(css, `url("button.svg")`) {
		t.Error("button.css does not load button.svg relative to itself")
	}
	for _, m := range regexp.MustCompile(`(?:href|src)="(/[^"]*)"`).FindAllStringSubmatch(get(h, "GET", KitPath).Body.String(), -1) {
		if rec := get(h, "GET", html.UnescapeString(m[1])); rec.Code != http.StatusOK {
			t.Errorf("kit page links %s: %d", m[1], rec.Code)
		}
	}
}

// TestKitPagesCSP holds the kit and about pages to the rules of every page: no
// inline script, style attribute or handler, one <h1>, a language.
func TestKitPagesCSP(t *testing.T) {
	_, h := kitMux(t)
	for _, tt := range []struct{ url, accept, lang, h1 string }{
		{"/partner-kit/", "", "fr", "Kit partenaire"},
		{"/a-propos", "", "fr", "Qu’est-ce que JusticeConnect ?"},
		{"/a-propos", "en-GB,en;q=0.9", "en", "What is JusticeConnect?"},
	} {
		req := httptest.NewRequest("GET", tt.url, nil)
		if tt.accept != "" {
			req.Header.Set("Accept-Language", tt.accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		raw := rec.Body.String()
		if !strings.Contains(raw, `<html lang="`+tt.lang+`">`) {
			t.Errorf("%s (%s): no lang %s", tt.url, tt.accept, tt.lang)
		}
		if n := len(h1Tag.FindAllString(raw, -1)); n != 1 {
			t.Errorf("%s: %d <h1>", tt.url, n)
		}
		if !strings.Contains(html.UnescapeString(raw), tt.h1) {
			t.Errorf("%s: no %q", tt.url, tt.h1)
		}
		if styleAtt.MatchString(raw) || onAttr.MatchString(raw) || strings.Contains(raw, "<script") || strings.Contains(raw, "<style") {
			t.Errorf("%s: inline style or script", tt.url)
		}
		if tt.url == AboutPath && !strings.Contains(rec.Header().Get("Vary"), "Accept-Language") {
			t.Errorf("%s: no Vary: Accept-Language", tt.url)
		}
	}
}

// TestButtonSVG parses the mark as XML and checks it stays renderable under a
// strict CSP when opened on its own: an <svg> root with a viewBox, no script,
// no style element or attribute, no external reference.
func TestButtonSVG(t *testing.T) {
	_, h := kitMux(t)
	body := get(h, "GET", KitSVGPath).Body.String()
	dec := xml.NewDecoder(strings.NewReader(body))
	var root *xml.StartElement
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("button.svg is not XML: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if root == nil {
			root = &se
		}
		switch se.Name.Local {
		case "script", "style", "foreignObject", "image", "use":
			t.Errorf("button.svg has <%s>", se.Name.Local)
		}
		for _, a := range se.Attr {
			if a.Name.Local == "style" || strings.HasPrefix(a.Name.Local, "on") || a.Name.Local == "href" {
				t.Errorf("button.svg: <%s %s=...>", se.Name.Local, a.Name.Local)
			}
		}
	}
	if root == nil || root.Name.Local != "svg" || root.Name.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("root element %+v, want svg in the SVG namespace", root)
	}
	hasViewBox := false
	for _, a := range root.Attr {
		hasViewBox = hasViewBox || a.Name.Local == "viewBox"
	}
	if !hasViewBox {
		t.Error("no viewBox: the mark would not scale")
	}
}

func TestDateAndLookup(t *testing.T) {
	p := newPages(t)
	d := time.Date(2031, time.March, 4, 23, 0, 0, 0, time.UTC)
	if got := Date("fr", d); got != "4 mars 2031" {
		t.Errorf("Date(fr) = %q", got)
	}
	if got := Date("en", d); got != "4 March 2031" {
		t.Errorf("Date(en) = %q", got)
	}
	if s, ok := p.Lookup("en", "scope.profile"); !ok || s != "Your first and last names" {
		t.Errorf("Lookup(en, scope.profile) = %q, %v", s, ok)
	}
	if _, ok := p.Lookup("fr", "scope.nope"); ok {
		t.Error("unknown key found")
	}
	for l, m := range accountMessages {
		for k := range m {
			for _, other := range []string{French, English} {
				if _, ok := accountMessages[other][k]; !ok {
					t.Errorf("%s: %q has no %s text", l, k, other)
				}
			}
			if _, dup := messages[l][k]; dup {
				t.Errorf("%q is in both message tables", k)
			}
		}
	}
}
