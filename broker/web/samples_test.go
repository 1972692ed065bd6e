package web

import (
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// samplesDir keeps the pages TestRenderSamples writes, for screenshots and manual
// review: go test ./broker/web/ -run TestRenderSamples -samples=/tmp/pages
var samplesDir = flag.String("samples", "", "write every page as HTML, with its assets, into this directory")

const hostile = `<script>alert("x")</script>`

// sample is one page with realistic data, rendered by the tests and by
// TestRenderSamples.
type sample struct {
	name   string
	status int
	page   Page
}

func samples(lang string) []sample {
	corr := "c0rr-" + lang + "-42"
	return []sample{
		{"login", http.StatusOK, LoginPage{Lang: lang, CorrelationID: corr, ClientName: "Portail des juridictions",
			ProviderLabel: "Annuaire du ministère", Action: "/login/password",
			Hidden: map[string]string{"flow": "f-123", "provider": "ldap"}, BackURL: "/login?flow=f-123"}},
		{"login_error", http.StatusUnauthorized, LoginPage{Lang: lang, CorrelationID: corr, ClientName: "Portail des juridictions",
			ProviderLabel: "Annuaire du ministère", Action: "/login/password",
			Hidden: map[string]string{"flow": "f-123", "provider": "ldap"}, Username: "jean.dupont", Error: KeyBadCredentials}},
		{"chooser", http.StatusOK, ChooserPage{Lang: lang, CorrelationID: corr, ClientName: "Portail des juridictions",
			Choices: []Choice{
				{ID: "agents", Label: "Agent du ministère (identifiant et mot de passe)", Description: "Magistrats, greffiers et agents des juridictions.",
					Action: "/login/choose", Hidden: map[string]string{"flow": "f-123", "provider": "agents"}},
				{ID: "carte", Label: "Carte agent", Description: "Avec votre carte agent et son lecteur.",
					Action: "/login/choose", Hidden: map[string]string{"flow": "f-123", "provider": "carte"}},
				{ID: "avocats", Label: "Avocat (e-Barreau)", Description: "Identifiez-vous auprès de votre barreau.", Unavailable: true},
				{ID: "cdj", Label: "Commissaire de justice",
					Action: "/login/choose", Hidden: map[string]string{"flow": "f-123", "provider": "cdj"}},
			}}},
		{"consent", http.StatusOK, ConsentPage{Lang: lang, CorrelationID: corr, ClientName: "Médiation en ligne",
			Organization: "Association Médiation Plus", Action: "/consent", Hidden: map[string]string{"flow": "f-123"},
			Items: []ConsentItem{
				{Label: "Votre identité", Detail: "Nom, prénom"},
				{Label: "Votre profession", Detail: "Avocat, barreau de Lyon"},
				{Label: "Votre adresse électronique"},
			}}},
		{"error", http.StatusBadRequest, ErrorPage{Lang: lang, CorrelationID: corr, Message: KeyFlowExpired,
			Status: http.StatusBadRequest, RetryURL: "/"}},
		{"error_503", http.StatusServiceUnavailable, ErrorPage{Lang: lang, CorrelationID: corr, Status: http.StatusServiceUnavailable}},
		{"logout_confirm", http.StatusOK, LogoutConfirmPage{Lang: lang, CorrelationID: corr, ClientName: "Portail des juridictions",
			Action: "/session/end/confirm", Hidden: map[string]string{"state": "s-1"}}},
		{"logged_out", http.StatusOK, LoggedOutPage{Lang: lang, CorrelationID: corr,
			FrontchannelURLs: []string{"https://portail.justice.example/logout?iss=x&sid=1", "https://mediation.example/fc"},
			ReturnURL:        "https://portail.justice.example/"}},
		{"autopost", http.StatusOK, AutoPostPage{Lang: lang, CorrelationID: corr, Action: "https://idp.barreau.example/sso",
			Fields: map[string]string{"SAMLRequest": "PHNhbWxwOkF1dGhuUmVxdWVzdC8+", "RelayState": "r-1"}}},
		{"account", http.StatusOK, AccountPage{Lang: lang, CorrelationID: corr, Name: "Camille Martin", Action: "/compte/retirer",
			Notice: "account.withdrawn", Consents: []AccountConsent{
				{ClientID: "mediation", ClientName: "Médiation en ligne", Organization: "Association Médiation Plus",
					Scopes: []string{"Vos nom et prénom", "Votre profession"}, GrantedAt: "14 mars 2031", GrantedISO: "2031-03-14"},
				{ClientID: "agenda", ClientName: "Agenda des audiences", Scopes: []string{"Vos nom et prénom"}, GrantedAt: "2 avril 2031", GrantedISO: "2031-04-02"},
			}}},
		{"account_empty", http.StatusOK, AccountPage{Lang: lang, CorrelationID: corr, Action: "/compte/retirer"}},
		{"account_logged_out", http.StatusOK, AccountPage{Lang: lang, CorrelationID: corr, LoggedOut: true}},
		{"message", http.StatusOK, MessagePage{Lang: lang, CorrelationID: corr, Title: "JusticeConnect",
			Message: "Ce service permet aux professionnels de la justice de s'identifier."}},
	}
}

// TestRenderSamples renders every page in both languages to HTML files, with the
// static assets beside them so the files open offline in a browser. Without
// -samples the files go to a temporary directory and only the rendering is checked.
func TestRenderSamples(t *testing.T) {
	dir := *samplesDir
	if dir == "" {
		dir = t.TempDir()
	}
	p, err := New(Options{StaticPrefix: "static/"})
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range p.assets {
		f := filepath.Join(dir, "static", p.version, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, a.body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var index strings.Builder
	index.WriteString("<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Pages</title></head><body><ul>\n")
	for _, lang := range []string{French, English} {
		for _, s := range samples(lang) {
			rec := httptest.NewRecorder()
			p.Render(rec, httptest.NewRequest("GET", "/", nil), s.status, s.page)
			if rec.Code != s.status {
				t.Fatalf("%s/%s: status %d", lang, s.name, rec.Code)
			}
			file := s.name + "." + lang + ".html"
			if err := os.WriteFile(filepath.Join(dir, file), rec.Body.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&index, "<li><a href=\"%s\">%s</a></li>\n", file, file)
		}
	}
	index.WriteString("</ul></body></html>\n")
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(index.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if *samplesDir != "" {
		t.Logf("pages written to %s", dir)
	}
}
