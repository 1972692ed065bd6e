package web

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"
)

func get(h http.Handler, method, url string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, url, nil))
	return rec
}

func TestStaticHandler(t *testing.T) {
	p := newPages(t)
	h := p.StaticHandler()
	tests := []struct {
		url, contentType, contains string
	}{
		{p.StaticURL("dsfr/core/core.min.css"), "text/css; charset=utf-8", "Marianne"},
		{p.StaticURL("dsfr/component/button/button.min.css"), "text/css; charset=utf-8", ".fr-btn"},
		{p.StaticURL("justiceconnect.css"), "text/css; charset=utf-8", ".jc-panel"},
		{p.StaticURL("autopost.js"), "text/javascript; charset=utf-8", "submit()"},
		{p.StaticURL("dsfr/fonts/Marianne-Regular.woff2"), "font/woff2", "wOF2"},
		{p.StaticURL("dsfr/icons/system/fr--error-fill.svg"), "image/svg+xml", "<svg"},
	}
	for _, tt := range tests {
		rec := get(h, "GET", tt.url)
		if rec.Code != 200 {
			t.Errorf("%s: %d", tt.url, rec.Code)
			continue
		}
		if ct := rec.Header().Get("Content-Type"); ct != tt.contentType {
			t.Errorf("%s: Content-Type %q", tt.url, ct)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control %q", tt.url, cc)
		}
		if !strings.Contains(rec.Body.String(), tt.contains) {
			t.Errorf("%s: body lacks %q", tt.url, tt.contains)
		}
	}
	for _, u := range []string{
		p.StaticURL("nope.css"),
		p.StaticURL("dsfr/LICENSE.md"),
		p.StaticURL("dsfr/VERSION"),
		p.StaticURL("../pages.go"),
		p.StaticURL("../templates/login.html"),
		p.StaticURL(""),
		"/static/",
		"/static/" + p.version,
		"/other/" + p.version + "/justiceconnect.css",
		p.StaticURL("dsfr/component/accordion/accordion.min.css"),
	} {
		if rec := get(h, "GET", u); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", u, rec.Code)
		}
	}
	// Another release's URL still works, without long-term caching.
	rec := get(h, "GET", "/static/0123456789ab/justiceconnect.css")
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("other version: %d %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	if rec := get(h, "HEAD", p.StaticURL("justiceconnect.css")); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	if rec := get(h, "POST", p.StaticURL("justiceconnect.css")); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

func TestStaticPrefixOption(t *testing.T) {
	p, err := New(Options{StaticPrefix: "/assets"})
	if err != nil {
		t.Fatal(err)
	}
	u := p.StaticURL("justiceconnect.css")
	if !strings.HasPrefix(u, "/assets/"+p.version+"/") {
		t.Fatalf("StaticURL = %q", u)
	}
	if rec := get(p.StaticHandler(), "GET", u); rec.Code != 200 {
		t.Errorf("%s: %d", u, rec.Code)
	}
}

// TestPagesLoadOnlyServedAssets follows every stylesheet and script of a page, and
// the fonts and icons the stylesheets reference for what the pages use, through
// the static handler.
func TestPagesLoadOnlyServedAssets(t *testing.T) {
	p := newPages(t)
	h := p.StaticHandler()
	ref := regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`)
	seen := map[string]bool{}
	for _, s := range samples(French) {
		rec := httptest.NewRecorder()
		p.Render(rec, httptest.NewRequest("GET", "/", nil), 200, s.page)
		for _, m := range ref.FindAllStringSubmatch(rec.Body.String(), -1) {
			seen[m[1]] = true
		}
	}
	if len(seen) < len(stylesheets)+2 {
		t.Errorf("only %d assets referenced", len(seen))
	}
	for u := range seen {
		if rec := get(h, "GET", u); rec.Code != 200 {
			t.Errorf("page references %s: %d", u, rec.Code)
		}
	}
	// The core's fonts in the weights used, and the icons of alerts and form
	// messages, relative to the stylesheet that references them.
	for css, urls := range map[string][]string{
		"dsfr/core/core.min.css":             {"../fonts/Marianne-Regular.woff2", "../fonts/Marianne-Medium.woff2", "../fonts/Marianne-Bold.woff2"},
		"dsfr/component/alert/alert.min.css": {"../../icons/system/fr--error-fill.svg", "../../icons/system/fr--success-fill.svg", "../../icons/system/fr--info-fill.svg"},
		"dsfr/component/form/form.min.css":   {"../../icons/system/fr--error-fill.svg"},
		"dsfr/component/badge/badge.min.css": {"../../icons/system/fr--warning-fill.svg"},
	} {
		body := get(h, "GET", p.StaticURL(css)).Body.String()
		for _, u := range urls {
			if !strings.Contains(body, "url("+u+")") {
				t.Errorf("%s no longer references %s: check vendor/refresh-dsfr.sh", css, u)
			}
			name := path.Join(path.Dir(css), u)
			if rec := get(h, "GET", p.StaticURL(name)); rec.Code != 200 {
				t.Errorf("%s references %s (%s): %d", css, u, name, rec.Code)
			}
		}
	}
}

// TestVendoredDSFR checks the vendored copy is complete and stays small.
func TestVendoredDSFR(t *testing.T) {
	v, err := os.ReadFile("vendor/dsfr/VERSION")
	if err != nil || !regexp.MustCompile(`^\d+\.\d+\.\d+\n?$`).Match(v) {
		t.Errorf("VERSION: %q %v", v, err)
	}
	if lic, err := os.ReadFile("vendor/dsfr/LICENSE.md"); err != nil || !strings.Contains(string(lic), "LICENCE OUVERTE") {
		t.Errorf("LICENSE.md missing or unexpected: %v", err)
	}
	core, _ := staticFS.ReadFile("vendor/dsfr/core/core.min.css")
	if !strings.Contains(string(core), "DSFR v"+strings.TrimSpace(string(v))) {
		t.Error("core.min.css is not the version in VERSION")
	}
	total := 0
	p := newPages(t)
	for _, a := range p.assets {
		total += len(a.body)
	}
	if total > 1<<20 {
		t.Errorf("static assets are %d bytes, want < 1 MiB", total)
	}
}
