package claims_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/justiceconnect/justiceconnect/claims"
)

func TestClaimsJSONRoundTrip(t *testing.T) {
	full := claims.Claims{
		Issuer: "https://idp.justice.fr", Subject: "s", Audience: []string{"a", "b"},
		Expiry: date(t0.Add(5 * 60e9)), IssuedAt: date(t0), NotBefore: date(t0), JTI: "j", ClientID: "c",
		Scope: "openid profession", AuthTime: date(t0), ACR: claims.EIDAS2, AMR: []string{"pwd", "otp", "mfa"},
		SID: "sid", Profession: claims.Avocat, ProfessionalID: "P-1", Organization: "Barreau de Paris",
		Barreau: "Paris", Jurisdictions: []string{}, JusticeRoles: []string{"juge@TJ75101"}, IdpID: "cnb",
		Act:   &claims.Actor{Subject: "a1", Profession: "greffier", Act: &claims.Actor{Subject: "a0", Issuer: "https://x"}},
		Extra: map[string]any{"email": "é@x.fr", "n": json.Number("12345678901234567890"), "o": map[string]any{"k": []any{true, nil}}},
	}
	cases := []claims.Claims{full, {}, {Audience: []string{"only"}}, {Extra: map[string]any{"x": "y"}}}
	for i, c := range cases {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("%d: marshal: %v", i, err)
		}
		var back claims.Claims
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%d: unmarshal %s: %v", i, b, err)
		}
		if !reflect.DeepEqual(back, c) {
			t.Errorf("%d: round trip\n got %+v\nwant %+v\njson %s", i, back, c, b)
		}
		again, _ := json.Marshal(back)
		if !bytes.Equal(again, b) {
			t.Errorf("%d: JSON changed:\n%s\n%s", i, b, again)
		}
	}
}

// TestClaimsJSONFromText: JSON text -> Claims -> JSON keeps every claim and
// value (compared as generic JSON, since key order is not significant).
func TestClaimsJSONFromText(t *testing.T) {
	texts := []string{
		`{"iss":"https://i","sub":"s","aud":"api","exp":1772443800,"iat":1772443500,"jti":"j","client_id":"c","scope":"a b","acr":"eidas1","amr":["pwd"],"jurisdictions":["CC"],"justice_roles":[],"act":{"sub":"x"},"custom":{"deep":[1,2.5,"3"]},"big":123456789012345678901234567890,"t":true,"nul":null}`,
		`{"aud":["a","b"],"given_name":"Zoé","escaped":"a\"b\\c\u00e9\n","profession":"notaire"}`,
		`  { "sub" : "s" , "aud" : [ "x" ] }  `,
	}
	for _, text := range texts {
		var c claims.Claims
		if err := json.Unmarshal([]byte(text), &c); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if !sameJSON(t, text, string(out)) {
			t.Errorf("in  %s\nout %s", text, out)
		}
	}
}

func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	dec := func(s string) any {
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
		// A single audience may be written as a string or a one-element array.
		if m, ok := v.(map[string]any); ok {
			if arr, ok := m["aud"].([]any); ok && len(arr) == 1 {
				m["aud"] = arr[0]
			}
			// Whole seconds only: exp etc. compare as numbers.
		}
		return v
	}
	return reflect.DeepEqual(dec(a), dec(b))
}

func TestClaimsJSONDecodeDetails(t *testing.T) {
	var c claims.Claims
	in := `{"sub":"a\u00e9\ud83d\ude00","aud":"x","exp":1.9e9,"iat":1700000000.75,"scope":"a  b","nbf":null,"Sub":"other case is another claim"}`
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if c.Subject != "aé😀" || len(c.Audience) != 1 || int64(*c.Expiry) != 1900000000 || int64(*c.IssuedAt) != 1700000000 || c.NotBefore != nil {
		t.Errorf("decoded %+v", c)
	}
	if got := c.Scopes(); !reflect.DeepEqual(got, []string{"a", "b"}) || !c.HasScope("b") || c.HasScope("") {
		t.Errorf("scopes %q", got)
	}
	if c.Extra["Sub"] != "other case is another claim" {
		t.Errorf("extra %v", c.Extra)
	}
	// Invalid UTF-8 is replaced as encoding/json does.
	if err := json.Unmarshal([]byte("{\"sub\":\"a\xffb\"}"), &c); err != nil || c.Subject != "a\uFFFDb" {
		t.Errorf("invalid UTF-8: %q %v", c.Subject, err)
	}
}

func TestClaimsJSONRefusals(t *testing.T) {
	deep := `{"act":` + strings.Repeat(`{"sub":"a","act":`, 20) + `{"sub":"z"}` + strings.Repeat(`}`, 20) + `}`
	for _, in := range []string{
		``, `null`, `[]`, `"x"`, `{`, `{"sub":"a",}`, `{"sub":"a"} x`,
		`{"sub":"a","sub":"b"}`, `{"sub":"a","\u0073ub":"b"}`, `{"x":1,"x":2}`, `{"exp":null,"exp":1}`,
		`{"sub":1}`, `{"aud":1}`, `{"aud":[1]}`, `{"aud":["a",null]}`, `{"exp":"1"}`, `{"exp":-1}`,
		`{"exp":1e300}`, `{"exp":true}`, `{"amr":"pwd"}`, `{"jurisdictions":{}}`, `{"act":"x"}`, `{"act":[]}`,
		deep,
	} {
		var c claims.Claims
		if err := json.Unmarshal([]byte(in), &c); err == nil {
			t.Errorf("%s accepted: %+v", in, c)
		}
	}
}

func TestClaimsMarshalRefusesExtraShadowing(t *testing.T) {
	if _, err := json.Marshal(claims.Claims{Subject: "a", Extra: map[string]any{"sub": "b"}}); err == nil {
		t.Fatal("Extra shadowing sub accepted")
	}
}

func TestRoles(t *testing.T) {
	c := claims.Claims{JusticeRoles: []string{"juge@TJ75101", "BAD", "procureur"}}
	want := []claims.Role{{Name: "juge", Court: "TJ75101"}, {Name: "procureur"}}
	if got := c.Roles(); !reflect.DeepEqual(got, want) {
		t.Errorf("Roles %v, want %v", got, want)
	}
}

// FuzzClaimsDecode checks that the hand-written decoder never panics, accepts
// only valid JSON objects, and agrees with encoding/json on the standard claims.
func FuzzClaimsDecode(f *testing.F) {
	for _, s := range []string{`{"sub":"a","aud":["x","y"],"exp":1}`, `{"a":{"b":[1,{"c":"\""}]},"sub":"\\"}`, `{}`, `{"act":{"sub":"x","act":{"sub":"y"}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var c claims.Claims
		if err := c.UnmarshalJSON(b); err != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		// encoding/json matches struct fields case-insensitively; claims are
		// case-sensitive (RFC 7519 §4), so compare through a map.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("accepted %q that encoding/json refuses: %v", b, err)
		}
		for name, got := range map[string]string{"sub": c.Subject, "iss": c.Issuer, "jti": c.JTI} {
			var want string
			if raw, ok := m[name]; ok && string(raw) != "null" {
				if err := json.Unmarshal(raw, &want); err != nil {
					t.Fatalf("accepted non-string %s %s", name, raw)
				}
			}
			if got != want {
				t.Fatalf("%s %q, encoding/json says %q (input %q)", name, got, want, b)
			}
		}
	})
}
