package oidc

import (
	"net/url"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/claims"
)

func TestParseRequirements(t *testing.T) {
	tests := []struct {
		name    string
		form    url.Values
		want    requirements
		wantErr bool
	}{
		{"nothing", url.Values{}, requirements{}, false},
		{"prompt none", url.Values{"prompt": {"none"}}, requirements{none: true}, false},
		{"prompt login consent", url.Values{"prompt": {"login consent"}}, requirements{forceLogin: true, consent: true}, false},
		{"max_age 0 is prompt=login", url.Values{"max_age": {"0"}}, requirements{forceLogin: true, hasMaxAge: true}, false},
		{"max_age 60", url.Values{"max_age": {"60"}}, requirements{hasMaxAge: true, maxAge: time.Minute}, false},
		{"max_age negative", url.Values{"max_age": {"-1"}}, requirements{}, true},
		{"max_age garbage", url.Values{"max_age": {"soon"}}, requirements{}, true},
		{"acr_values lowest known", url.Values{"acr_values": {"urn:x eidas3 eidas2"}}, requirements{minACR: claims.EIDAS2}, false},
		{"acr_values unknown only", url.Values{"acr_values": {"urn:x"}}, requirements{}, false},
		{"essential acr claim wins", url.Values{"acr_values": {"eidas1"}, "claims": {`{"id_token":{"acr":{"essential":true,"values":["eidas3"]}}}`}}, requirements{minACR: claims.EIDAS3}, false},
		{"claims not JSON", url.Values{"claims": {"{"}}, requirements{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRequirements(tt.form)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tt.wantErr && got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSatisfiedBy(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	s := &storage.SSOSession{ACR: "eidas1", AuthTime: now.Add(-10 * time.Minute)}
	tests := []struct {
		req  requirements
		want bool
	}{
		{requirements{}, true},
		{requirements{forceLogin: true}, false},
		{requirements{hasMaxAge: true, maxAge: 5 * time.Minute}, false},
		{requirements{hasMaxAge: true, maxAge: time.Hour}, true},
		{requirements{minACR: claims.EIDAS1}, true},
		{requirements{minACR: claims.EIDAS3}, false},
	}
	for i, tt := range tests {
		if got := tt.req.satisfiedBy(s, now); got != tt.want {
			t.Errorf("%d: %+v satisfied = %v", i, tt.req, got)
		}
	}
}
