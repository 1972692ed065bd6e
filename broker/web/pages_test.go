package web

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestPagesRender(t *testing.T) {
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	hostile := `<script>alert(1)</script>`
	pages := map[string]struct {
		page Page
		want []string
	}{
		"login":   {LoginPage{Lang: "fr", CorrelationID: "corr-1", ClientName: hostile, Action: "/login/password", Hidden: map[string]string{"flow": "F"}, Error: T("fr", "login.bad_credentials")}, []string{"Mot de passe", "Identifiant ou mot de passe incorrect.", `name="flow" value="F"`, `aria-describedby="login-error"`}},
		"chooser": {ChooserPage{Lang: "fr", CorrelationID: "corr-1", Choices: []Choice{{ID: "a", Label: "Agent du ministère", Action: "/login/choose"}, {ID: "b", Label: "Avocat", Unavailable: true}}}, []string{"Choisissez comment vous identifier", "Agent du ministère", "momentanément indisponible"}},
		"consent": {ConsentPage{Lang: "fr", CorrelationID: "corr-1", ClientName: "P", Organization: "Médiation", Action: "/consent", Items: []ConsentItem{{Label: "Votre profession"}}}, []string{"Médiation", "Votre profession", `value="allow"`, `value="deny"`}},
		"error":   {ErrorPage{Lang: "fr", CorrelationID: "corr-1", Title: T("fr", "error.title"), Message: T("fr", "error.flow_expired")}, []string{"a expiré", "corr-1"}},
		"logout":  {LogoutConfirmPage{Lang: "fr", CorrelationID: "corr-1", Action: "/session/end/confirm"}, []string{"Voulez-vous vous déconnecter"}},
		"out":     {LoggedOutPage{Lang: "en", CorrelationID: "corr-1", FrontchannelURLs: []string{"https://rp.example/fc"}}, []string{"You are logged out", `src="https://rp.example/fc"`, `lang="en"`}},
		"post":    {AutoPostPage{Lang: "fr", CorrelationID: "corr-1", Action: "https://idp.example/sso", Fields: map[string]string{"SAMLRequest": "abc"}}, []string{`action="https://idp.example/sso"`, `name="SAMLRequest" value="abc"`, "Continuer"}},
		"message": {MessagePage{Lang: "fr", CorrelationID: "corr-1", Title: "T", Message: hostile}, []string{"&lt;script&gt;"}},
	}
	label := regexp.MustCompile(`<input[^>]*type="(text|password)"[^>]*id="([^"]+)"`)
	for name, tt := range pages {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			p.Render(rec, httptest.NewRequest("GET", "/", nil), 418, tt.page)
			body := rec.Body.String()
			if rec.Code != 418 || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("status %d headers %v", rec.Code, rec.Header())
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("missing %q", w)
				}
			}
			if strings.Contains(body, hostile) || strings.Contains(body, "<script>") {
				t.Error("unescaped or inline script")
			}
			if !strings.Contains(body, "corr-1") {
				t.Error("no correlation ID")
			}
			for _, m := range label.FindAllStringSubmatch(body, -1) {
				if !strings.Contains(body, `for="`+m[2]+`"`) {
					t.Errorf("input %s has no label", m[2])
				}
			}
		})
	}
}

func TestLang(t *testing.T) {
	p, _ := New(Options{})
	tests := []struct{ ui, accept, want string }{
		{"", "", "fr"}, {"en", "fr", "en"}, {"de en-GB", "", "en"}, {"", "en-US,en;q=0.8", "en"}, {"", "de-DE", "fr"}, {"es", "fr-FR", "fr"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Language", tt.accept)
		if got := p.Lang(r, tt.ui); got != tt.want {
			t.Errorf("Lang(%q, %q) = %s, want %s", tt.ui, tt.accept, got, tt.want)
		}
	}
}

func TestSecurityHeadersAndStatic(t *testing.T) {
	p, _ := New(Options{})
	h := SecurityHeaders(p.StaticHandler())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", p.StaticURL("justiceconnect.css"), nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") {
		t.Fatalf("css: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	for k, want := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"} {
		if rec.Header().Get(k) != want {
			t.Errorf("%s = %q", k, rec.Header().Get(k))
		}
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("CSP %q", csp)
	}
	if rec.Header().Get("Strict-Transport-Security") != "" {
		t.Error("HSTS over plain HTTP")
	}
	for _, u := range []string{"/static/old/justiceconnect.css", p.StaticURL("nope.css"), p.StaticURL("../pages.go")} {
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", u, nil))
		if rec.Code != 404 {
			t.Errorf("%s: %d", u, rec.Code)
		}
	}
	r := httptest.NewRequest("GET", p.StaticURL("autopost.js"), nil)
	r.TLS = &tls.ConnectionState{}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	b, _ := io.ReadAll(rec.Body)
	if rec.Header().Get("Strict-Transport-Security") == "" || !strings.Contains(string(b), "submit()") {
		t.Error("TLS request: no HSTS or wrong asset")
	}
	_ = http.StatusOK
}
