package web

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func serveWith(opts HeaderOptions, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	SecurityHeadersWith(opts, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})).ServeHTTP(rec, r)
	return rec
}

func TestSecurityHeaders(t *testing.T) {
	rec := httptest.NewRecorder()
	SecurityHeaders(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "/anything", nil))
	want := map[string]string{
		"Content-Security-Policy":    "default-src 'none'; style-src 'self'; img-src 'self' data:; font-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Frame-Options":            "DENY",
		"Referrer-Policy":            "no-referrer",
		"X-Content-Type-Options":     "nosniff",
		"Cross-Origin-Opener-Policy": "same-origin",
		"Permissions-Policy":         permissionsPolicy,
	}
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if rec.Code != http.StatusNotFound {
		t.Errorf("next not called: %d", rec.Code)
	}
	for k := range rec.Header() {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("CORS header %s (SECURITY.md A28)", k)
		}
	}
	if !strings.Contains(rec.Header().Get("Permissions-Policy"), "camera=()") {
		t.Error("Permissions-Policy does not turn the camera off")
	}
}

func TestHSTSOnlyOverTLS(t *testing.T) {
	plain := httptest.NewRequest("GET", "http://broker.example/", nil)
	if got := serveWith(HeaderOptions{}, plain).Header().Get("Strict-Transport-Security"); got != "" {
		t.Errorf("HSTS over plain HTTP: %q", got)
	}
	secure := httptest.NewRequest("GET", "https://broker.example/", nil)
	secure.TLS = &tls.ConnectionState{}
	if got := serveWith(HeaderOptions{}, secure).Header().Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
		t.Errorf("no HSTS over TLS: %q", got)
	}
}

func TestFormActionOptions(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	tests := []struct {
		name       string
		opts       HeaderOptions
		want, not_ string
	}{
		{"default", HeaderOptions{}, "; form-action 'self';", "example"},
		{"extra origins", HeaderOptions{FormActions: []string{"https://idp.example", "https://rp.example"}},
			"; form-action 'self' https://idp.example https://rp.example;", ""},
		{"injection ignored", HeaderOptions{FormActions: []string{"https://a.example; script-src *", "https://b.example,x", ""}},
			"; form-action 'self';", "script-src *"},
		{"any", HeaderOptions{FormActionAny: true, FormActions: []string{"https://idp.example"}}, "script-src 'self'; frame-ancestors 'none'", "form-action"},
	}
	for _, tt := range tests {
		csp := serveWith(tt.opts, r).Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, tt.want) {
			t.Errorf("%s: %q lacks %q", tt.name, csp, tt.want)
		}
		if tt.not_ != "" && strings.Contains(csp, tt.not_) {
			t.Errorf("%s: %q contains %q", tt.name, csp, tt.not_)
		}
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: %q", tt.name, csp)
		}
	}
}

func TestWidenCSP(t *testing.T) {
	tests := []struct {
		csp, directive string
		sources        []string
		add            bool
		want           string
	}{
		{"default-src 'none'; form-action 'self'", "form-action", []string{"https://a.example"}, false, "default-src 'none'; form-action 'self' https://a.example"},
		{"default-src 'none'", "form-action", []string{"https://a.example"}, false, "default-src 'none'"},
		{"default-src 'none'", "frame-src", []string{"https://a.example"}, true, "default-src 'none'; frame-src https://a.example"},
		{"frame-src 'none'; x y", "frame-src", []string{"https://a.example"}, true, "frame-src https://a.example; x y"},
		{"default-src 'none'; form-action 'self' https://a.example", "form-action", []string{"https://a.example"}, false, "default-src 'none'; form-action 'self' https://a.example"},
		{"", "frame-src", []string{"https://a.example"}, true, ""},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.csp != "" {
			h.Set("Content-Security-Policy", tt.csp)
		}
		widenCSP(h, tt.directive, tt.sources, tt.add)
		if got := h.Get("Content-Security-Policy"); got != tt.want {
			t.Errorf("widenCSP(%q, %s) = %q, want %q", tt.csp, tt.directive, got, tt.want)
		}
	}
	if got := origins([]string{"https://a.example/x", "https://a.example:443/y", "/rel", "javascript:x", "ftp://f.example/", "http://b.example/"}); strings.Join(got, " ") != "https://a.example https://a.example:443 http://b.example" {
		t.Errorf("origins = %q", got)
	}
}
