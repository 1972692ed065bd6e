package x509

import (
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestConfigDecodeAndValidate(t *testing.T) {
	doc := `
trust_anchors: [/etc/justiceconnect/ac-racine.pem]
intermediates: /etc/justiceconnect/ac-cartes.pem
required_policies: [1.2.250.1.137.2.2.1]
allowed_ekus: [1.3.6.1.4.1.311.20.2.2]
crl: {urls: ["http://crl.justice.example/agents.crl"], refresh: 30m, timeout: 2s, on_failure: use_last, grace: 12h}
ocsp: {disabled: true, timeout: 1s, on_failure: reject, grace: 1h}
insecure_no_revocation: false
mapping: {rule: upn, lookup_key: upn}
amr: [pin]
directory: annuaire
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if p := c.Validate(); len(p) != 0 {
		t.Fatalf("Validate: %v", p)
	}
	if c.CRL.Refresh != 30*time.Minute || c.CRL.Grace != 12*time.Hour || !c.OCSP.Disabled || c.Mapping.Rule != RuleUPN {
		t.Errorf("decoded %+v", c)
	}
	d := Config{TrustAnchors: []string{"a.pem"}, Mapping: MappingConfig{Rule: RuleEmail, LookupKey: "mail"}, Directory: "d"}.withDefaults()
	if !slices.Equal(d.AllowedEKUs, DefaultAllowedEKUs) || d.CRL.OnFailure != OnFailureReject || d.OCSP.OnFailure != OnFailureReject ||
		d.CRL.Refresh != DefaultCRLRefresh || d.CRL.Timeout != DefaultCRLTimeout || d.OCSP.Timeout != DefaultOCSPTimeout {
		t.Errorf("defaults %+v", d)
	}
}

func TestConfigValidateProblems(t *testing.T) {
	if got := (Config{}).Validate(); !slices.Equal(got, []string{
		"trust_anchors: at least one PEM file of card CA roots is required",
		"mapping.rule: required: one of upn, email, issuer_serial, subject_serial_number",
		"mapping.lookup_key: required (a key of the directory's lookup_attributes)",
		"directory: required (the id of the provider where card holders are looked up)",
	}) {
		t.Errorf("empty config: %q", got)
	}
	bad := Config{
		TrustAnchors:     []string{" "},
		RequiredPolicies: []string{"1.2.x"},
		AllowedEKUs:      []string{"clientAuth"},
		CRL:              CRLConfig{URLs: []string{"ldap://ldap.example/cn=crl", "/relative"}, Refresh: time.Second, Timeout: 2 * time.Minute, OnFailure: "ignore", Grace: -time.Second},
		OCSP:             OCSPConfig{Timeout: time.Millisecond, OnFailure: "accept", Grace: 30 * 24 * time.Hour},
		Mapping:          MappingConfig{Rule: "cn", LookupKey: "uid"},
		AMR:              []string{"card"},
		Directory:        "annuaire",
	}
	got := bad.Validate()
	for _, prefix := range []string{
		"trust_anchors[0]:", "required_policies[0]:", "allowed_ekus[0]:", "crl.urls[0]:", "crl.urls[1]:",
		"crl.refresh:", "crl.timeout:", "crl.grace:", "ocsp.timeout:", "ocsp.grace:", "crl.on_failure:",
		"ocsp.on_failure:", "mapping.rule:", "amr[0]:",
	} {
		found := false
		for _, p := range got {
			if strings.HasPrefix(p, prefix) {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem for %s in %q", prefix, got)
		}
	}
	if len(got) != 14 {
		t.Errorf("%d problems, want 14: %q", len(got), got)
	}
}
