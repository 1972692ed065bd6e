package conformance

import (
	"slices"
	"strings"
	"testing"

	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// oidcc-discovery-endpoint-verification (Config OP) and C5, C2, C3.
func TestOIDCCDiscoveryEndpointVerification(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	status, d, h := getJSON(t, env.HTTPClient(), env.Issuer+"/.well-known/openid-configuration", nil)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("discovery: %d %s", status, h.Get("Content-Type"))
	}
	if d["issuer"] != env.Issuer {
		t.Errorf("issuer %v != discovery URL prefix %s", d["issuer"], env.Issuer)
	}
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint", "introspection_endpoint", "revocation_endpoint"} {
		v, _ := d[k].(string)
		if !strings.HasPrefix(v, "https://") {
			t.Errorf("%s = %q, want https", k, v)
		}
	}
	checks := map[string]func([]string) bool{
		"response_types_supported": func(s []string) bool { return slices.Equal(s, []string{"code"}) },
		"subject_types_supported":  func(s []string) bool { return slices.Contains(s, "public") && slices.Contains(s, "pairwise") },
		"id_token_signing_alg_values_supported": func(s []string) bool {
			return slices.Contains(s, "RS256") && slices.Contains(s, "ES256") && !slices.Contains(s, "none")
		},
		"scopes_supported":                 func(s []string) bool { return slices.Contains(s, "openid") && slices.Contains(s, "justice_roles") },
		"code_challenge_methods_supported": func(s []string) bool { return slices.Equal(s, []string{"S256"}) },
		"grant_types_supported": func(s []string) bool {
			return len(s) > 0 && !slices.Contains(s, "password") && !slices.Contains(s, "implicit")
		},
		"acr_values_supported": func(s []string) bool { return slices.Equal(s, []string{"eidas1", "eidas2", "eidas3"}) },
	}
	for k, ok := range checks {
		if !ok(strs(d[k])) {
			t.Errorf("%s = %v", k, d[k])
		}
	}
	if d["authorization_response_iss_parameter_supported"] != true {
		t.Error("RFC 9207 iss parameter not advertised")
	}
	// JWKS: keys fetchable, kid present and distinct, no private members (C3).
	status, jwks, _ := getJSON(t, env.HTTPClient(), d["jwks_uri"].(string), nil)
	keys, _ := jwks["keys"].([]any)
	if status != 200 || len(keys) < 2 {
		t.Fatalf("jwks: %d %v", status, jwks)
	}
	seen := map[string]bool{}
	algs := map[string]bool{}
	for _, k := range keys {
		key := k.(map[string]any)
		kid, _ := key["kid"].(string)
		if kid == "" || seen[kid] {
			t.Errorf("missing or duplicate kid %q", kid)
		}
		seen[kid] = true
		algs[key["alg"].(string)] = true
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := key[private]; ok {
				t.Errorf("JWKS key %s leaks private member %q", kid, private)
			}
		}
	}
	if !algs["ES256"] || !algs["RS256"] {
		t.Errorf("JWKS algorithms = %v", algs)
	}
}
