package saml

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/justiceconnect/justiceconnect/providers"
)

// acceptAll is a replay cache that never refuses, so the fuzzer can feed the same
// valid assertion again and again and reach every check after the signature.
type acceptAll struct{}

func (acceptAll) UseOnce(context.Context, string, string, time.Time) error { return nil }

// FuzzParseResponse feeds arbitrary response documents (raw XML, base64-encoded by
// the target as the HTTP-POST binding does) to the whole parsing and validation
// path, for a pending request they may legitimately answer. Unlike FuzzComplete, its
// first seed is accepted; the invariants are: no panic, every refusal carries a
// sentinel error, and anything accepted yields exactly the identity the IdP signed
// (the fixed assertion of the seeds): a mutation can change bytes outside the signed
// content, never what the broker learns from it. Replays are not refused here
// (acceptAll), so the checks after the signature are reached every time.
//
//	go test ./providers/saml -run '^$' -fuzz FuzzParseResponse -fuzztime 200000x -fuzzminimizetime 200x
//
// testdata/fuzz/FuzzParseResponse holds responses of the same shapes signed by an
// earlier throwaway key (rewrite them with JC_WRITE_FUZZ_CORPUS=1 go test -run
// FuzzParseResponse ./providers/saml): they exercise the refusal paths of a
// signature by an unknown key.
func FuzzParseResponse(f *testing.F) {
	e := newEnv(f, true)
	p, err := New(e.cfg, Options{Logger: slog.New(slog.DiscardHandler), Now: e.clock.Now, ReplayCache: acceptAll{}, Dial: e.dial})
	if err != nil {
		f.Fatal(err)
	}
	const state, requestID = "fuzz.state", "id-parse"
	sum := sha256.Sum256([]byte(state))
	pend, err := json.Marshal(pending{RequestID: requestID, IssuedAt: time.Now().UTC(), ACS: e.acs, StateHash: sum[:]})
	if err != nil {
		f.Fatal(err)
	}
	base := e.validSpec(requestID)
	base.ResponseID, base.AssertionID = "_r-fuzz-response", "_a-fuzz-assertion"
	complete := func(doc []byte) (providers.Identity, error) {
		form := url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(doc)}, "RelayState": {state}}
		r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/login/callback/barreau"}, Header: http.Header{}, Form: form, PostForm: form}
		return p.Complete(context.Background(), r, pend)
	}

	seeds := []struct {
		name string
		mod  func(s *respSpec)
	}{
		{"signed-both", nil},
		{"signed-assertion-only", func(s *respSpec) { s.SignResponse = false }},
		{"unsigned", func(s *respSpec) { s.SignAssertion, s.SignResponse = false, false }},
		{"sha1", func(s *respSpec) { s.SigMethod = dsig.RSASHA1SignatureMethod }},
		{"no-conditions", func(s *respSpec) { s.NoConditions = true }},
		{"authn-failed", func(s *respSpec) {
			s.Status, s.SubStatus = "urn:oasis:names:tc:SAML:2.0:status:Responder", "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
		}},
		{"wrapped-assertion", func(s *respSpec) {
			s.SignResponse = false
			s.MutateResponse = func(r *etree.Element) {
				evil := e.validSpec(requestID)
				evil.NameID = "attacker"
				r.InsertChildAt(2, evil.assertionElement(f))
			}
		}},
	}
	var want providers.Identity
	docs := map[string][]byte{}
	for i, sd := range seeds {
		s := *base
		if sd.mod != nil {
			sd.mod(&s)
		}
		doc := s.build(f)
		docs[sd.name] = doc
		f.Add(doc)
		if i == 0 {
			if want, err = complete(doc); err != nil {
				f.Fatalf("the valid seed is refused: %v", err)
			}
		}
	}
	if os.Getenv("JC_WRITE_FUZZ_CORPUS") == "1" {
		dir := filepath.Join("testdata", "fuzz", "FuzzParseResponse")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			f.Fatal(err)
		}
		for name, doc := range docs {
			if err := os.WriteFile(filepath.Join(dir, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", doc), 0o644); err != nil {
				f.Fatal(err)
			}
		}
	}

	f.Fuzz(func(t *testing.T, doc []byte) {
		id, err := complete(doc)
		if err != nil {
			if !errors.Is(err, providers.ErrInvalidResponse) && !errors.Is(err, providers.ErrCancelled) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		if !reflect.DeepEqual(id, want) {
			t.Fatalf("accepted an identity the IdP did not sign:\n got %+v\nwant %+v", id, want)
		}
	})
}
