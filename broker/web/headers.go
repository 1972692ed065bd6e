package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// HeaderOptions adjust the security headers.
type HeaderOptions struct {
	// FormActions are sources added to form-action after 'self': the origins of
	// upstream identity providers our pages post to, and of the applications a
	// form post may end up redirected to (browsers apply form-action to redirects
	// after a form submission). Values with spaces, ';' or ',' are ignored.
	FormActions []string
	// FormActionAny drops form-action altogether. Needed when pages post to
	// arbitrary registered URLs that are not known when the middleware is built
	// (fosite's form_post response mode, redirects to any registered client).
	// Render still narrows nothing in that case.
	FormActionAny bool
}

// SecurityHeaders is SecurityHeadersWith with the zero HeaderOptions (forms may
// post only to our own origin).
func SecurityHeaders(next http.Handler) http.Handler {
	return SecurityHeadersWith(HeaderOptions{}, next)
}

// SecurityHeadersWith sets the headers every response carries, before next runs:
//   - Content-Security-Policy: only our own styles, fonts, images and scripts, no
//     inline script, no plugins, no <base>; frame-ancestors 'none' with
//     X-Frame-Options: DENY against clickjacking (RFC 9700 §4.16, SECURITY.md D1).
//   - Referrer-Policy: no-referrer, so codes, states and flow IDs in URLs do not
//     leak to other sites (RFC 9700 §4.2.4, SECURITY.md D2).
//   - X-Content-Type-Options: nosniff, Cross-Origin-Opener-Policy: same-origin
//     (no window.opener handle from other sites), a Permissions-Policy turning off
//     powerful features the pages never use.
//   - Strict-Transport-Security, only on requests that came over TLS (RFC 6797
//     §7.2: a host must not send it over plain HTTP).
//
// It adds no Access-Control-Allow-* header: CORS must not be supported at the
// authorization endpoint (RFC 9700 §2.6, SECURITY.md A28).
func SecurityHeadersWith(opts HeaderOptions, next http.Handler) http.Handler {
	csp := contentSecurityPolicy(opts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", permissionsPolicy)
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

const permissionsPolicy = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()"

func contentSecurityPolicy(opts HeaderOptions) string {
	d := []string{
		"default-src 'none'",
		"style-src 'self'",
		"img-src 'self' data:", // the DSFR logo and input icons are data: SVGs in the CSS
		"font-src 'self'",
		"script-src 'self'",
	}
	if !opts.FormActionAny {
		fa := "form-action 'self'"
		for _, s := range opts.FormActions {
			if validSource(s) {
				fa += " " + s
			}
		}
		d = append(d, fa)
	}
	d = append(d, "frame-ancestors 'none'", "base-uri 'none'")
	return strings.Join(d, "; ")
}

// validSource rejects values that would break out of a CSP directive.
func validSource(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\r\n;,")
}

// widenCSP adds sources to directive in the response's policy, if there is a
// policy: to the existing directive (replacing 'none'), or as a new directive when
// addIfMissing (a missing frame-src falls back to default-src 'none', while a
// missing form-action already allows everything).
func widenCSP(h http.Header, directive string, sources []string, addIfMissing bool) {
	csp := h.Get("Content-Security-Policy")
	if csp == "" || len(sources) == 0 {
		return
	}
	parts := strings.Split(csp, ";")
	found := false
	for i, part := range parts {
		fields := strings.Fields(part)
		if len(fields) == 0 || !strings.EqualFold(fields[0], directive) {
			continue
		}
		found = true
		vals := fields[1:]
		if len(vals) == 1 && vals[0] == "'none'" {
			vals = nil
		}
		for _, s := range sources {
			if !slices.Contains(vals, s) {
				vals = append(vals, s)
			}
		}
		parts[i] = " " + strings.Join(append([]string{fields[0]}, vals...), " ")
		if i == 0 {
			parts[i] = strings.TrimSpace(parts[i])
		}
		break
	}
	csp = strings.Join(parts, ";")
	if !found {
		if !addIfMissing {
			return
		}
		csp += "; " + directive + " " + strings.Join(sources, " ")
	}
	h.Set("Content-Security-Policy", csp)
}

// origins returns the distinct http(s) origins of absolute URLs; relative URLs
// are same-origin and need nothing.
func origins(urls []string) []string {
	var out []string
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			continue
		}
		o := u.Scheme + "://" + u.Host
		if validSource(o) && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}
