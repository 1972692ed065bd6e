package web

import (
	"net/http/httptest"
	"testing"
)

func TestLang(t *testing.T) {
	p := newPages(t)
	tests := []struct{ ui, accept, want string }{
		{"", "", "fr"},
		{"en", "", "en"},
		{"en", "fr-FR", "en"},                 // ui_locales wins over the browser
		{"de en-GB fr", "", "en"},             // first supported ui_locales tag
		{"fr-CA en", "en", "fr"},              // regional variant
		{"de", "en-US,en;q=0.8", "en"},        // nothing supported in ui_locales
		{"", "en-US,en;q=0.8", "en"},          // browser
		{"", "de-DE,fr;q=0.4,en;q=0.9", "en"}, // by quality, not order
		{"", "fr;q=0.9,en;q=0", "fr"},         // q=0 means "not acceptable"
		{"", "en;q=0", "fr"},                  // default
		{"", "de-DE", "fr"},                   // unsupported: default
		{"", "EN_gb", "en"},                   // case and underscore
		{"es", "fr-FR", "fr"},
		{"", "*", "fr"},
		{"", "en;q=abc, fr;q=0.5", "fr"}, // malformed q is not acceptable
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.accept != "" {
			r.Header.Set("Accept-Language", tt.accept)
		}
		if got := p.Lang(r, tt.ui); got != tt.want {
			t.Errorf("Lang(ui_locales=%q, Accept-Language=%q) = %s, want %s", tt.ui, tt.accept, got, tt.want)
		}
	}
	if got := p.Lang(nil, ""); got != "fr" {
		t.Errorf("nil request: %s", got)
	}
}
