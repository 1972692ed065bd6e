package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var staticFS embed.FS

// assetVersion changes whenever an asset changes, so asset URLs can be cached for a year.
var assetVersion = func() string {
	h := sha256.New()
	_ = fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := staticFS.ReadFile(p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

// StaticHandler serves the embedded assets under /static/<version>/.
func (p *Pages) StaticHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, p.opts.StaticPrefix)
		version, name, ok := strings.Cut(rest, "/")
		if !ok || version != assetVersion || strings.Contains(name, "..") {
			http.NotFound(w, r)
			return
		}
		b, err := staticFS.ReadFile("static/" + name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		_, _ = w.Write(b)
	})
}

// HeaderOptions adjust the Content-Security-Policy.
type HeaderOptions struct {
	// FormActions are extra origins forms may post to.
	FormActions []string
	// FormActionAny drops form-action: the auto-post page posts to upstream IdPs
	// chosen in configuration and fosite redirects after our own forms.
	FormActionAny bool
}

// SecurityHeaders sets the headers every response carries.
func SecurityHeaders(next http.Handler) http.Handler {
	return SecurityHeadersWith(HeaderOptions{}, next)
}

// SecurityHeadersWith sets the headers every response carries: a strict CSP with
// frame-ancestors 'none' and X-Frame-Options against clickjacking (RFC 9700 §4.16),
// no Referer so codes and flow IDs do not leak (§4.2.4), nosniff, and HSTS when the
// request came over TLS.
func SecurityHeadersWith(o HeaderOptions, next http.Handler) http.Handler {
	csp := "default-src 'none'; style-src 'self'; img-src 'self' data:; font-src 'self'; script-src 'self'; frame-src *; frame-ancestors 'none'; base-uri 'none'"
	if !o.FormActionAny {
		csp += "; form-action 'self'"
		for _, a := range o.FormActions {
			csp += " " + a
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}
