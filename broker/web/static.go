package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

// staticFS holds our own assets (static/) and the vendored DSFR files
// (vendor/dsfr/, refreshed by vendor/refresh-dsfr.sh). They are served as
// <StaticPrefix><version>/<name> where name is "justiceconnect.css" for
// static/justiceconnect.css and "dsfr/core/core.min.css" for
// vendor/dsfr/core/core.min.css.
//
//go:embed static vendor/dsfr
var staticFS embed.FS

// contentTypes are the asset types we serve; anything else in the embedded tree
// (LICENSE.md, VERSION) is not served.
var contentTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".woff2": "font/woff2",
	".svg":   "image/svg+xml",
}

// stylesheets are linked from every page, in cascade order: DSFR core, the DSFR
// components the templates use, then our few additions. Keep the component list in
// step with vendor/refresh-dsfr.sh.
var stylesheets = []string{
	"dsfr/core/core.min.css",
	"dsfr/component/link/link.min.css",
	"dsfr/component/skiplink/skiplink.min.css",
	"dsfr/component/logo/logo.min.css",
	"dsfr/component/header/header.min.css",
	"dsfr/component/footer/footer.min.css",
	"dsfr/component/button/button.min.css",
	"dsfr/component/form/form.min.css",
	"dsfr/component/input/input.min.css",
	"dsfr/component/alert/alert.min.css",
	"dsfr/component/badge/badge.min.css",
	"justiceconnect.css",
}

type asset struct {
	body        []byte
	contentType string
}

// loadAssets indexes the servable assets and derives the asset version from
// their content, so a changed file gets a new URL and old URLs can be cached for
// a year.
func (p *Pages) loadAssets() error {
	p.assets = map[string]asset{}
	add := func(root, prefix string) error {
		return fs.WalkDir(staticFS, root, func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			ct, ok := contentTypes[path.Ext(name)]
			if !ok {
				return nil
			}
			b, err := staticFS.ReadFile(name)
			if err != nil {
				return err
			}
			p.assets[prefix+strings.TrimPrefix(name, root+"/")] = asset{body: b, contentType: ct}
			return nil
		})
	}
	if err := add("static", ""); err != nil {
		return err
	}
	if err := add("vendor/dsfr", "dsfr/"); err != nil {
		return err
	}
	names := make([]string, 0, len(p.assets))
	for n := range p.assets {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		sum := sha256.Sum256(p.assets[n].body)
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write(sum[:])
	}
	p.version = hex.EncodeToString(h.Sum(nil))[:12]
	for _, s := range stylesheets {
		if _, ok := p.assets[s]; !ok {
			return &fs.PathError{Op: "stylesheet", Path: s, Err: fs.ErrNotExist}
		}
	}
	return nil
}

// StaticURL is the URL of an embedded asset, e.g. StaticURL("autopost.js") or
// StaticURL("dsfr/core/core.min.css"). The asset version in the path lets
// browsers keep it for a year.
func (p *Pages) StaticURL(name string) string {
	return p.opts.StaticPrefix + p.version + "/" + name
}

// StaticHandler serves the embedded assets under StaticPrefix; mount it there
// (mux.Handle("GET /static/", pages.StaticHandler())). A request for the current
// version is cached for a year (immutable). A request for another version — a page
// rendered by a node running another release during a rolling upgrade — gets
// today's file with no long-term caching. Unknown files are 404.
func (p *Pages) StaticHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, p.prefixPath())
		if !ok {
			http.NotFound(w, r)
			return
		}
		version, name, ok := strings.Cut(rest, "/")
		a, found := p.assets[name]
		if !ok || !found || version == "" {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		if version == p.version {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
			h.Set("ETag", `"`+p.version+`"`)
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	})
}

// prefixPath is the path part of StaticPrefix (which could be a full URL).
func (p *Pages) prefixPath() string {
	pre := p.opts.StaticPrefix
	if i := strings.Index(pre, "://"); i >= 0 {
		rest := pre[i+3:]
		if j := strings.Index(rest, "/"); j >= 0 {
			return rest[j:]
		}
		return "/"
	}
	return pre
}
