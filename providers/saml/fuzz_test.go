package saml

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/justiceconnect/justiceconnect/providers"
)

// FuzzComplete feeds arbitrary SAMLResponse values to Complete. It must never
// panic and never accept: the seeds are signed by the trusted IdP key but answer
// another request ("id-seed") than the pending one ("id-fuzz"), and that ID sits
// in signed content, so no mutation can turn one into an acceptable response
// without forging a signature.
//
//	go test ./providers/saml -run '^$' -fuzz FuzzComplete -fuzztime 200000x -fuzzminimizetime 200x
func FuzzComplete(f *testing.F) {
	e := newEnv(f, true)
	// *testing.F cannot log from inside the fuzz function.
	p, err := New(e.cfg, Options{Logger: slog.New(slog.DiscardHandler), Now: e.clock.Now, ReplayCache: e.replay, Dial: e.dial})
	if err != nil {
		f.Fatal(err)
	}
	e.p = p
	const state = "fuzz.state"
	sum := sha256.Sum256([]byte(state))
	pend, err := json.Marshal(pending{RequestID: "id-fuzz", IssuedAt: time.Now().UTC(), ACS: e.acs, StateHash: sum[:]})
	if err != nil {
		f.Fatal(err)
	}
	seeds := []func(s *respSpec){
		nil,
		func(s *respSpec) { s.SignResponse = false },
		func(s *respSpec) { s.SignAssertion, s.SignResponse = false, false },
		func(s *respSpec) { s.SigMethod = dsig.RSASHA1SignatureMethod },
		func(s *respSpec) { s.NoConditions = true },
		func(s *respSpec) { s.NoSubjectConfirmation = true },
		func(s *respSpec) {
			s.Status, s.SubStatus = "urn:oasis:names:tc:SAML:2.0:status:Responder", "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
		},
		func(s *respSpec) {
			s.SignResponse = false
			s.MutateResponse = func(r *etree.Element) {
				evil := e.validSpec("id-seed")
				evil.NameID = "attacker"
				r.InsertChildAt(2, evil.assertionElement(f))
			}
		},
		func(s *respSpec) {
			s.SignResponse = false
			s.After = func(r *etree.Element) { addReference(f, r.FindElement("./Assertion"), "#other", e.idp.key) }
		},
	}
	for _, mod := range seeds {
		s := e.validSpec("id-seed")
		if mod != nil {
			mod(s)
		}
		f.Add(base64.StdEncoding.EncodeToString(s.build(f)))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, samlResponse string) {
		form := url.Values{"SAMLResponse": {samlResponse}, "RelayState": {state}}
		r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/login/callback/barreau"}, Header: http.Header{}, Form: form, PostForm: form}
		id, err := e.p.Complete(ctx, r, pend)
		if err == nil {
			t.Fatalf("accepted: %+v", id)
		}
		if !errors.Is(err, providers.ErrInvalidResponse) && !errors.Is(err, providers.ErrCancelled) {
			t.Fatalf("error without a sentinel: %v", err)
		}
	})
}
