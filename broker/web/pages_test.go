package web

import (
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func newPages(t *testing.T) *Pages {
	t.Helper()
	p, err := New(Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// render returns the response and its body with HTML entities decoded, so
// French apostrophes (escaped as &#39;) can be searched as typed.
func render(t *testing.T, p *Pages, status int, page Page) (*httptest.ResponseRecorder, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	p.Render(rec, httptest.NewRequest("GET", "/login", nil), status, page)
	return rec, html.UnescapeString(rec.Body.String())
}

func TestNewParsesEveryTemplate(t *testing.T) {
	p := newPages(t)
	for _, pg := range allPages {
		if p.tmpl[pg.template()] == nil {
			t.Errorf("no template for %T", pg)
		}
	}
	if p.opts.StaticPrefix != "/static/" || p.opts.ProductName != "JusticeConnect" {
		t.Errorf("defaults: %+v", p.opts)
	}
	if len(p.version) != 12 {
		t.Errorf("asset version %q", p.version)
	}
}

var (
	scriptTag = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	inputTag  = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	attr      = func(tag, name string) string {
		m := regexp.MustCompile(`\b` + name + `="([^"]*)"`).FindStringSubmatch(tag)
		if m == nil {
			return ""
		}
		return m[1]
	}
	h1Tag    = regexp.MustCompile(`(?i)<h1\b`)
	titleTag = regexp.MustCompile(`(?s)<title>(.*?)</title>`)
	styleAtt = regexp.MustCompile(`(?i)\sstyle=`)
	onAttr   = regexp.MustCompile(`(?i)\son[a-z]+=`)
	absURL   = regexp.MustCompile(`(?i)(?:href|src|action)="((?:https?:)?//[^"]*)"`)
	linkTag  = regexp.MustCompile(`(?i)<link\b[^>]*>`)
)

// checkPage runs the checks every page must pass.
func checkPage(t *testing.T, rec *httptest.ResponseRecorder, raw, body string, status int, corr, lang string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status %d, want %d", rec.Code, status)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	if !strings.Contains(raw, `<html lang="`+lang+`">`) {
		t.Errorf("no <html lang=%q>", lang)
	}
	if corr != "" && !strings.Contains(body, corr) {
		t.Errorf("correlation ID %q missing", corr)
	}
	if n := len(h1Tag.FindAllString(raw, -1)); n != 1 {
		t.Errorf("%d <h1>, want 1", n)
	}
	if m := titleTag.FindStringSubmatch(body); m == nil || !strings.HasSuffix(m[1], " — JusticeConnect") || len(m[1]) <= len(" — JusticeConnect") {
		t.Errorf("title %q, want \"Titre — JusticeConnect\"", m)
	}
	if !strings.Contains(raw, `href="#contenu"`) || !strings.Contains(raw, `id="contenu"`) {
		t.Error("no skip link to the content")
	}
	if strings.Contains(raw, hostile) || strings.Contains(body, "<script>alert") {
		t.Error("hostile input not escaped")
	}
	// CSP forbids inline scripts and handlers: every script is an empty element with a src.
	for _, m := range scriptTag.FindAllStringSubmatch(raw, -1) {
		if attr(m[1], "src") == "" || strings.TrimSpace(m[2]) != "" {
			t.Errorf("inline script: %q", m[0])
		}
	}
	if strings.Count(raw, "<script") != len(scriptTag.FindAllString(raw, -1)) {
		t.Error("unparsed <script")
	}
	if onAttr.MatchString(raw) || styleAtt.MatchString(raw) {
		t.Error("inline event handler or style attribute (blocked by the CSP)")
	}
	// No third-party resource (SECURITY.md D2): the only absolute URLs are the
	// samples' own application URLs (*.example), never a stylesheet, font or script.
	for _, m := range absURL.FindAllStringSubmatch(raw, -1) {
		if !strings.Contains(m[1], ".example") {
			t.Errorf("third-party URL %s", m[1])
		}
	}
	for _, m := range linkTag.FindAllString(raw, -1) {
		if !strings.HasPrefix(attr(m, "href"), "/static/") {
			t.Errorf("<link> not served by us: %s", m)
		}
	}
	for _, tag := range inputTag.FindAllString(raw, -1) {
		if attr(tag, "type") == "hidden" {
			continue
		}
		id := attr(tag, "id")
		if id == "" || !strings.Contains(raw, `<label class="fr-label" for="`+id+`">`) {
			t.Errorf("input without a label: %s", tag)
		}
	}
	for _, m := range regexp.MustCompile(`aria-describedby="([^"]*)"`).FindAllStringSubmatch(raw, -1) {
		for _, id := range strings.Fields(m[1]) {
			if !strings.Contains(raw, `id="`+id+`"`) {
				t.Errorf("aria-describedby points to missing %q", id)
			}
		}
	}
}

func TestRenderSamplesContent(t *testing.T) {
	p := newPages(t)
	want := map[string]map[string][]string{
		French: {
			"login": {"Se connecter — JusticeConnect", "Identifiant", "Mot de passe", `autocomplete="username"`, `autocomplete="current-password"`,
				`name="flow" value="f-123"`, `action="/login/password"`, "Portail des juridictions", "Annuaire du ministère",
				"Choisir un autre moyen d'identification", `id="username" name="username" type="text"`, "autofocus"},
			"login_error": {"Identifiant ou mot de passe incorrect.", `id="login-error" role="alert"`, `aria-describedby="login-error"`,
				`value="jean.dupont"`, `aria-invalid="true"`},
			"chooser": {"Choisissez comment vous identifier", "Carte agent", "momentanément indisponible", " disabled",
				`name="provider" value="carte"`, `action="/login/choose"`},
			"consent": {"Association Médiation Plus</strong> souhaite accéder aux informations suivantes", "Votre profession", "Avocat, barreau de Lyon",
				`name="decision" value="allow"`, `name="decision" value="deny"`, ">Autoriser<", ">Refuser<", "Médiation en ligne"},
			"error":          {"Votre demande de connexion a expiré. Recommencez depuis l'application.", "Identifiant de l'incident :", ">Réessayer<"},
			"error_503":      {"Service momentanément indisponible — JusticeConnect", "Le service est momentanément indisponible."},
			"logout_confirm": {"Voulez-vous vous déconnecter de JusticeConnect ?", `value="logout"`, `value="cancel"`, ">Annuler<", `method="post"`},
			"logged_out": {"Vous êtes déconnecté", `<iframe class="jc-frame" src="https://portail.justice.example/logout?iss=x&sid=1"`,
				`src="https://mediation.example/fc"`, "Retourner à l'application"},
			"autopost": {`<form method="post" action="https://idp.barreau.example/sso" id="autopost">`, `name="SAMLRequest" value="PHNhbWxwOkF1dGhuUmVxdWVzdC8+"`,
				`name="RelayState" value="r-1"`, `<button class="fr-btn" type="submit">Continuer</button>`, `autopost.js" defer></script>`},
			"message": {"Ce service permet aux professionnels de la justice de s'identifier."},
			"account": {"Mon compte JusticeConnect — JusticeConnect", "Camille Martin", "Applications autorisées", "Médiation en ligne",
				"Organisation : Association Médiation Plus", `<time datetime="2031-03-14">14 mars 2031</time>`, "Vos nom et prénom",
				`<form method="post" action="/compte/retirer">`, `name="client_id" value="mediation"`, `name="client_id" value="agenda"`,
				`aria-describedby="consent-0 withdraw-note"`, ">Retirer mon accord<", `role="status"`, "Votre accord a été retiré."},
			"account_empty":      {"Vous n’avez donné votre accord à aucune application"},
			"account_logged_out": {"Vous n’êtes pas connecté — JusticeConnect", "connectez-vous d’abord", `href="/a-propos"`},
		},
		English: {
			"login":              {"Log in — JusticeConnect", "Username", "Password"},
			"login_error":        {"Wrong username or password."},
			"chooser":            {"Choose how to log in", "temporarily unavailable"},
			"consent":            {"would like to access the following information", ">Allow<", ">Deny<"},
			"error":              {"Your login request has expired.", "Incident reference:"},
			"error_503":          {"Service temporarily unavailable"},
			"logout_confirm":     {"Do you want to log out of JusticeConnect?"},
			"logged_out":         {"You are logged out"},
			"autopost":           {">Continue<"},
			"message":            {"JusticeConnect — JusticeConnect"},
			"account":            {"My JusticeConnect account", "Applications you allowed", ">Withdraw my agreement<"},
			"account_empty":      {"You have not allowed any application"},
			"account_logged_out": {"You are not logged in"},
		},
	}
	for _, lang := range []string{French, English} {
		for _, s := range samples(lang) {
			t.Run(lang+"/"+s.name, func(t *testing.T) {
				rec, body := render(t, p, s.status, s.page)
				checkPage(t, rec, rec.Body.String(), body, s.status, "c0rr-"+lang+"-42", lang)
				ws, ok := want[lang][s.name]
				if !ok {
					t.Fatal("no expectations for this sample")
				}
				for _, w := range ws {
					if !strings.Contains(body, w) {
						t.Errorf("missing %q", w)
					}
				}
			})
		}
	}
}

// TestHostileInput puts markup in every text field a handler fills from outside
// (client names come from the client registry, labels from configuration,
// usernames from the person).
func TestHostileInput(t *testing.T) {
	p := newPages(t)
	hm := map[string]string{"flow": hostile, hostile: "x"}
	pages := []Page{
		LoginPage{ClientName: hostile, ProviderLabel: hostile, Action: "/login", Hidden: hm, Username: hostile, Error: hostile, BackURL: "/x"},
		ChooserPage{ClientName: hostile, Choices: []Choice{{ID: hostile, Label: hostile, Description: hostile, Action: "/c", Hidden: hm},
			{ID: hostile, Label: hostile, Description: hostile, Unavailable: true}}},
		ConsentPage{ClientName: hostile, Organization: hostile + "2", Action: "/consent", Hidden: hm, Items: []ConsentItem{{hostile, hostile}}},
		ErrorPage{Title: hostile, Message: hostile, Status: 500},
		LogoutConfirmPage{ClientName: hostile, Action: "/logout", Hidden: hm},
		LoggedOutPage{FrontchannelURLs: []string{"https://rp.example/fc?x=\"><script>"}},
		AutoPostPage{Action: "https://idp.example/sso", Fields: hm},
		MessagePage{Title: hostile, Message: hostile},
	}
	for _, pg := range pages {
		rec := httptest.NewRecorder()
		p.Render(rec, httptest.NewRequest("GET", "/", nil), http.StatusOK, pg)
		raw := rec.Body.String()
		if strings.Contains(raw, "<script>") || strings.Contains(raw, `"><script`) {
			t.Errorf("%T: markup not escaped", pg)
		}
		if !strings.Contains(raw, "&lt;script&gt;") && !strings.Contains(raw, "%3cscript%3e") && !strings.Contains(raw, "%3Cscript%3E") {
			t.Errorf("%T: hostile text not shown escaped", pg)
		}
	}
}

func TestDangerousURLsNeutralised(t *testing.T) {
	p := newPages(t)
	for _, pg := range []Page{
		ErrorPage{RetryURL: "javascript:alert(1)"},
		LoggedOutPage{ReturnURL: "javascript:alert(1)", FrontchannelURLs: []string{"javascript:alert(1)"}},
		LoginPage{Action: "javascript:alert(1)", BackURL: "javascript:alert(1)"},
		AutoPostPage{Action: "javascript:alert(1)"},
	} {
		rec := httptest.NewRecorder()
		p.Render(rec, httptest.NewRequest("GET", "/", nil), http.StatusOK, pg)
		if strings.Contains(rec.Body.String(), "javascript:") {
			t.Errorf("%T: javascript: URL rendered", pg)
		}
	}
}

func TestMessagesTranslateKeys(t *testing.T) {
	p := newPages(t)
	want := map[string]string{
		KeyBadCredentials:  "Identifiant ou mot de passe incorrect.",
		KeyFlowExpired:     "Votre demande de connexion a expiré. Recommencez depuis l'application.",
		KeyInvalidRedirect: "L'application n'est pas correctement enregistrée auprès de JusticeConnect.",
	}
	for k, w := range want {
		if got := p.T("fr", k); !strings.HasPrefix(got, w) {
			t.Errorf("T(fr, %s) = %q, want prefix %q", k, got, w)
		}
	}
	keys := []string{KeyBadCredentials, KeyThrottled, KeyLoginUnavail, KeyEmpty, KeyDisabled, KeyGeneric, KeyFlowExpired,
		KeyBadRequest, KeyAccessDenied, KeyUnavailable, KeyNotFound, KeyInvalidRedirect, KeyCSRF, KeyPopulation, KeyLogoutDone}
	for _, k := range keys {
		for _, l := range []string{French, English} {
			if _, ok := messages[l][k]; !ok {
				t.Errorf("%s: no %s text", k, l)
			}
		}
	}
	for l, m := range messages {
		for k := range m {
			if _, ok := messages[French][k]; !ok {
				t.Errorf("%s: %q has no French text", l, k)
			}
			if _, ok := messages[English][k]; !ok {
				t.Errorf("%s: %q has no English text", l, k)
			}
		}
	}
	if got := p.T("de", KeyBadCredentials); got != messages[French][KeyBadCredentials] {
		t.Errorf("unknown language: %q", got)
	}
	if got := p.T("fr", "no.such.key"); got != messages[French][KeyGeneric] {
		t.Errorf("unknown key: %q", got)
	}
	if got := p.T("fr", "logout.confirm.text"); strings.Contains(got, "{product}") || !strings.Contains(got, "JusticeConnect") {
		t.Errorf("product not substituted: %q", got)
	}
	q, _ := New(Options{ProductName: "JC-Test"})
	if got := q.T("en", "logout.done"); !strings.Contains(got, "JC-Test") {
		t.Errorf("ProductName not used: %q", got)
	}
	// A LoginPage error that is not a key is shown as given.
	rec, body := render(t, p, 200, LoginPage{Action: "/l", Error: "Message déjà traduit."})
	if rec.Code != 200 || !strings.Contains(body, "Message déjà traduit.") {
		t.Error("free-text error not shown")
	}
}

func TestErrorPageDefaults(t *testing.T) {
	p := newPages(t)
	for status, want := range map[int][]string{
		404: {"Page introuvable — JusticeConnect", "La page demandée n'existe pas."},
		503: {"Service momentanément indisponible", "Le service est momentanément indisponible."},
		500: {"Une erreur est survenue — JusticeConnect", "Une erreur inattendue est survenue."},
	} {
		rec, body := render(t, p, status, ErrorPage{CorrelationID: "corr-x", Status: status})
		checkPage(t, rec, rec.Body.String(), body, status, "corr-x", "fr")
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%d: missing %q", status, w)
			}
		}
	}
}

// A cancel the person chose is no incident: no "contact support" line, an
// information alert; a fault keeps both.
func TestErrorPageChosen(t *testing.T) {
	p := newPages(t)
	_, chosen := render(t, p, 403, ErrorPage{CorrelationID: "corr-x", Status: 403, Title: KeyCancelledTitle, Message: KeyCancelled, Chosen: true})
	_, fault := render(t, p, 403, ErrorPage{CorrelationID: "corr-x", Status: 403, Title: KeyCancelledTitle, Message: KeyCancelled})
	support := "Si le problème persiste"
	if strings.Contains(chosen, support) || !strings.Contains(chosen, "fr-alert--info") || strings.Contains(chosen, "fr-alert--error") {
		t.Errorf("chosen page: support line or error alert shown")
	}
	if !strings.Contains(chosen, "corr-x") || !strings.Contains(chosen, "Connexion annulée") {
		t.Errorf("chosen page lost its reference or title")
	}
	if !strings.Contains(fault, support) || !strings.Contains(fault, "fr-alert--error") {
		t.Errorf("fault page lost its support line or error alert")
	}
}

func TestRenderPointerAndHEAD(t *testing.T) {
	p := newPages(t)
	rec := httptest.NewRecorder()
	p.Render(rec, httptest.NewRequest("GET", "/", nil), 200, &MessagePage{Title: "Titre", Message: "Texte"})
	if !strings.Contains(rec.Body.String(), "Texte") {
		t.Error("pointer page not rendered")
	}
	rec = httptest.NewRecorder()
	p.Render(rec, httptest.NewRequest("HEAD", "/", nil), 200, MessagePage{Title: "Titre"})
	if rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
		t.Error("HEAD: body written or no length")
	}
}

func TestRenderWidensCSP(t *testing.T) {
	p := newPages(t)
	h := SecurityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/out":
			p.Render(w, r, 200, LoggedOutPage{FrontchannelURLs: []string{"https://a.example/fc?x=1", "https://a.example/other", "http://b.example:8080/fc", "/local"}})
		case "/post":
			p.Render(w, r, 200, AutoPostPage{Action: "https://idp.example/sso"})
		default:
			p.Render(w, r, 200, MessagePage{Title: "x"})
		}
	}))
	get := func(path string) string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Header().Get("Content-Security-Policy")
	}
	if csp := get("/out"); !strings.Contains(csp, "; frame-src https://a.example http://b.example:8080") || strings.Count(csp, "a.example") != 1 {
		t.Errorf("logged-out CSP %q", csp)
	}
	if csp := get("/post"); !strings.Contains(csp, "form-action 'self' https://idp.example;") {
		t.Errorf("auto-post CSP %q", csp)
	}
	if csp := get("/"); strings.Contains(csp, "frame-src") || strings.Contains(csp, "example") {
		t.Errorf("plain page CSP %q", csp)
	}
	// Without the middleware there is no policy to widen.
	rec := httptest.NewRecorder()
	p.Render(rec, httptest.NewRequest("GET", "/", nil), 200, LoggedOutPage{FrontchannelURLs: []string{"https://a.example/fc"}})
	if rec.Header().Get("Content-Security-Policy") != "" {
		t.Error("Render invented a policy")
	}
}
