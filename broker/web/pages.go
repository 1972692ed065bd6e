package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

// Page is the data of one page; its type names the template.
type Page interface{ template() string }

// Options tune the pages.
type Options struct {
	StaticPrefix string
	ProductName  string
}

// Pages renders the embedded templates.
type Pages struct {
	opts Options
	tmpl map[string]*template.Template
}

// New parses every template once.
func New(opts Options) (*Pages, error) {
	if opts.StaticPrefix == "" {
		opts.StaticPrefix = "/static/"
	}
	if opts.ProductName == "" {
		opts.ProductName = "JusticeConnect"
	}
	p := &Pages{opts: opts, tmpl: map[string]*template.Template{}}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{
		"t":       func(lang, key string) string { return T(lang, key) },
		"static":  p.StaticURL,
		"product": func() string { return opts.ProductName },
	}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", n, err)
		}
		p.tmpl[name] = t
	}
	return p, nil
}

// StaticURL is the URL of an embedded asset; the version in the path lets browsers
// cache it for long.
func (p *Pages) StaticURL(name string) string { return p.opts.StaticPrefix + assetVersion + "/" + name }

// Render writes page with status. Pages are never cached: they may carry a flow ID
// or an error about a person's login.
func (p *Pages) Render(w http.ResponseWriter, r *http.Request, status int, page Page) {
	t, ok := p.tmpl[page.template()]
	if !ok {
		http.Error(w, "page not found", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, page); err != nil {
		http.Error(w, "Erreur interne", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// T returns the translation of key in lang (French when unknown).
func (p *Pages) T(lang, key string) string { return T(lang, key) }

// Lang picks the page language: ui_locales first (OIDC Core 3.1.2.1), then the
// browser's Accept-Language, French by default.
func (p *Pages) Lang(r *http.Request, uiLocales string) string {
	for _, l := range strings.Fields(uiLocales) {
		if lang := supported(l); lang != "" {
			return lang
		}
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.TrimSpace(strings.SplitN(part, ";", 2)[0])
		if lang := supported(tag); lang != "" {
			return lang
		}
	}
	return "fr"
}

func supported(tag string) string {
	base := strings.ToLower(strings.SplitN(strings.SplitN(tag, "-", 2)[0], "_", 2)[0])
	if base == "fr" || base == "en" {
		return base
	}
	return ""
}

// The page data. Every page has Lang and CorrelationID (shown for support).

// LoginPage is the password form.
type LoginPage struct {
	Lang, CorrelationID, ClientName, ProviderLabel, Action string
	Hidden                                                 map[string]string
	Username, Error, BackURL                               string
}

// Choice is one provider on the chooser.
type Choice struct {
	ID, Label, Description, Action string
	Hidden                         map[string]string
	Unavailable                    bool
}

// ChooserPage lets the person pick how to log in.
type ChooserPage struct {
	Lang, CorrelationID, ClientName string
	Choices                         []Choice
}

// ConsentItem is one kind of data shown on the consent page.
type ConsentItem struct{ Label, Detail string }

// ConsentPage asks before data goes to a partner.
type ConsentPage struct {
	Lang, CorrelationID, ClientName, Organization, Action string
	Hidden                                                map[string]string
	Items                                                 []ConsentItem
}

// ErrorPage is the plain error page.
type ErrorPage struct {
	Lang, CorrelationID, Title, Message string
	Status                              int
	RetryURL                            string
}

// LogoutConfirmPage asks before logging out on a request we cannot trust.
type LogoutConfirmPage struct {
	Lang, CorrelationID, ClientName, Action string
	Hidden                                  map[string]string
}

// LoggedOutPage says the session ended; front-channel logout frames load from it.
type LoggedOutPage struct {
	Lang, CorrelationID string
	FrontchannelURLs    []string
	ReturnURL           string
}

// AutoPostPage carries a form to another site (SAML POST binding).
type AutoPostPage struct {
	Lang, CorrelationID, Action string
	Fields                      map[string]string
}

// MessagePage is a plain information page.
type MessagePage struct{ Lang, CorrelationID, Title, Message string }

func (LoginPage) template() string         { return "login" }
func (ChooserPage) template() string       { return "chooser" }
func (ConsentPage) template() string       { return "consent" }
func (ErrorPage) template() string         { return "error" }
func (LogoutConfirmPage) template() string { return "logout_confirm" }
func (LoggedOutPage) template() string     { return "logged_out" }
func (AutoPostPage) template() string      { return "autopost" }
func (MessagePage) template() string       { return "message" }
