package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

// Page is the data of one page; each page type names its own template, so only
// the types of this package can be rendered.
type Page interface {
	template() string
	lang() string
}

// Options tune the pages. The zero value is ready to use.
type Options struct {
	// StaticPrefix is where StaticHandler is mounted; default "/static/".
	StaticPrefix string
	// ProductName appears in titles, the header and some messages; default
	// "JusticeConnect".
	ProductName string
	// Logger receives template execution failures (a bug); default discards.
	Logger *slog.Logger
}

// Pages renders the embedded templates and serves the embedded assets.
type Pages struct {
	opts    Options
	tmpl    map[string]*template.Template
	version string // asset version, part of every static URL
	assets  map[string]asset
}

// New parses every template once and indexes the static assets; an error means
// a broken build, not a runtime condition.
func New(opts Options) (*Pages, error) {
	if opts.StaticPrefix == "" {
		opts.StaticPrefix = "/static/"
	}
	if !strings.HasSuffix(opts.StaticPrefix, "/") {
		opts.StaticPrefix += "/"
	}
	if opts.ProductName == "" {
		opts.ProductName = "JusticeConnect"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p := &Pages{opts: opts, tmpl: map[string]*template.Template{}}
	if err := p.loadAssets(); err != nil {
		return nil, fmt.Errorf("web: assets: %w", err)
	}
	funcs := template.FuncMap{
		"t":       p.T,
		"msg":     p.msg,
		"lang":    normLang,
		"static":  p.StaticURL,
		"product": func() string { return p.opts.ProductName },
		"stylesheets": func() []string {
			out := make([]string, len(stylesheets))
			for i, s := range stylesheets {
				out[i] = p.StaticURL(s)
			}
			return out
		},
		"errtitle": p.errorTitle,
		"errmsg":   p.errorMessage,
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", n, err)
		}
		p.tmpl[name] = t
	}
	for _, pg := range allPages {
		if _, ok := p.tmpl[pg.template()]; !ok {
			return nil, fmt.Errorf("web: no template for %T", pg)
		}
	}
	return p, nil
}

// allPages lists one value of every page type, so New can check each has a template.
var allPages = []Page{LoginPage{}, ChooserPage{}, ConsentPage{}, ErrorPage{}, LogoutConfirmPage{},
	LoggedOutPage{}, AutoPostPage{}, MessagePage{}, PartnerKitPage{}, AboutPage{}, AccountPage{}}

// Render writes page with status. Pages are never cached: they carry flow IDs and
// errors about one person's login. The page is rendered to memory first so a
// template failure still yields a clean 500 rather than half a page.
//
// When the response already carries a Content-Security-Policy (SecurityHeaders
// ran), Render widens it for this response only: the origins of a LoggedOutPage's
// front-channel logout frames go to frame-src, and an AutoPostPage's target origin
// to form-action (when form-action is restricted).
func (p *Pages) Render(w http.ResponseWriter, r *http.Request, status int, page Page) {
	var buf bytes.Buffer
	t, ok := p.tmpl[page.template()]
	if !ok {
		p.opts.Logger.Error("web: no template", "page", fmt.Sprintf("%T", page))
		p.fallback(w, page.lang())
		return
	}
	if err := t.Execute(&buf, page); err != nil {
		p.opts.Logger.Error("web: render", "page", page.template(), "err", err)
		p.fallback(w, page.lang())
		return
	}
	h := w.Header()
	switch pg := page.(type) {
	case LoggedOutPage:
		widenCSP(h, "frame-src", origins(pg.FrontchannelURLs), true)
	case *LoggedOutPage:
		widenCSP(h, "frame-src", origins(pg.FrontchannelURLs), true)
	case AutoPostPage:
		widenCSP(h, "form-action", origins([]string{pg.Action}), false)
	case *AutoPostPage:
		widenCSP(h, "form-action", origins([]string{pg.Action}), false)
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if r == nil || r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// fallback is the page of last resort, written without templates.
func (p *Pages) fallback(w http.ResponseWriter, lang string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusInternalServerError)
	l := normLang(lang)
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\"><title>%s — %s</title></head><body><h1>%s</h1><p>%s</p></body></html>\n",
		l, template.HTMLEscapeString(p.T(l, "error.title")), template.HTMLEscapeString(p.opts.ProductName),
		template.HTMLEscapeString(p.T(l, "error.title")), template.HTMLEscapeString(p.T(l, KeyGeneric)))
}

// errorTitle is the ErrorPage title: the given text or key, else one by status.
func (p *Pages) errorTitle(lang, title string, status int) string {
	if title != "" {
		return p.msg(lang, title)
	}
	if s, ok := p.lookup(lang, "error.title."+strconv.Itoa(status)); ok {
		return s
	}
	return p.T(lang, "error.title")
}

// errorMessage is the ErrorPage message: the given text or key, else one by status.
func (p *Pages) errorMessage(lang, message string, status int) string {
	if message != "" {
		return p.msg(lang, message)
	}
	switch status {
	case http.StatusBadRequest:
		return p.T(lang, KeyBadRequest)
	case http.StatusForbidden:
		return p.T(lang, KeyAccessDenied)
	case http.StatusNotFound:
		return p.T(lang, KeyNotFound)
	case http.StatusServiceUnavailable:
		return p.T(lang, KeyUnavailable)
	}
	return p.T(lang, KeyGeneric)
}
