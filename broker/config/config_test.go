package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// minimal is the smallest valid production configuration.
const minimal = `
issuer: https://connect.example.justice.fr
store: {driver: sqlite, sqlite_path: /var/lib/justiceconnect/broker.db}
keys: {kek: {file: /etc/justiceconnect/kek}}
`

// full uses every section; tests patch it.
const full = `
issuer: https://connect.example.justice.fr
mode: production
listen: {address: "0.0.0.0:8443", tls_cert_file: /etc/jc/cert.pem, tls_key_file: /etc/jc/key.pem}
store: {driver: postgres, postgres_dsn: {env: JC_PG_DSN}}
keys: {kek: {file: /etc/jc/kek}, algorithms: [ES256, RS256, PS256], max_token_lifetime: 24h}
tokens: {code_lifetime: 30s, access_token_lifetime: 10m, id_token_lifetime: 1h, refresh_token_lifetime: 720h}
sessions: {idle_timeout: 2h, absolute_timeout: 12h, flow_lifetime: 15m}
pairwise_salt: {file: /etc/jc/salt}
api_scopes: ["detenus:read"]
providers:
  - id: annuaire
    type: ldap
    label: "Agent du ministère"
    max_acr: eidas1
    email_domains: [justice.gouv.fr]
    settings: {url: "ldaps://ldap.justice.example"}
    mapping:
      subject: entryUUID
      given_name: givenName
      family_name: sn
      email: mail
      professional_id: employeeNumber
      organization: {value: "Ministère de la Justice"}
      profession: {attribute: employeeType, values: {MAG: magistrat, GRF: greffier}}
      courts: {attribute: departmentNumber, values: {"Tribunal judiciaire de Paris": TJ75101}}
      roles:
        - {attribute: memberOf, equals: "cn=juges,ou=groups,dc=justice,dc=fr", role: juge, scope: court}
        - {attribute: memberOf, equals: "cn=dsj,ou=groups,dc=justice,dc=fr", role: directeur_greffe, scope: national}
      upstream_acr: {"urn:example:mfa": eidas2}
clients:
  - client_id: mediation-platform
    name: "Plateforme de médiation"
    secret: {file: /etc/jc/clients/mediation}
    redirect_uris: ["https://mediation.example/callback", "http://127.0.0.1/cb", "http://[::1]:8000/cb"]
    post_logout_redirect_uris: ["https://mediation.example/"]
    scopes: [openid, profile, email, profession, jurisdictions, justice_roles]
    allowed_providers: [annuaire]
    allowed_professions: [magistrat, greffier]
  - client_id: api.detenus
    name: "API détenus"
    kind: first_party
    token_endpoint_auth_method: private_key_jwt
    token_endpoint_auth_signing_alg: PS256
    jwks_file: /etc/jc/clients/detenus.jwks
    grant_types: [client_credentials, "urn:ietf:params:oauth:grant-type:token-exchange"]
    scopes: ["detenus:read"]
    audience: ["https://api.detenus.justice.example"]
`

func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	if err == nil {
		return nil
	}
	var p *Problems
	if !errors.As(err, &p) {
		t.Fatalf("error %T is not *Problems: %v", err, err)
	}
	return p.List
}

// hasProblem reports whether list has a problem at path whose message contains msg.
func hasProblem(list []Problem, path, msg string) bool {
	return slices.ContainsFunc(list, func(p Problem) bool { return p.Path == path && strings.Contains(p.Message, msg) })
}

func TestMinimalProductionConfig(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Mode != ModeProduction || c.Store.Driver != "sqlite" || c.Listen.Address != "127.0.0.1:8080" {
		t.Errorf("defaults: mode %q driver %q listen %q", c.Mode, c.Store.Driver, c.Listen.Address)
	}
	if time.Duration(c.Tokens.CodeLifetime) != 60*time.Second || time.Duration(c.Tokens.AccessTokenLifetime) != 10*time.Minute ||
		time.Duration(c.Sessions.AbsoluteTimeout) != 12*time.Hour || !slices.Equal(c.Keys.Algorithms, []string{"ES256", "RS256"}) {
		t.Errorf("defaults: tokens %+v sessions %+v algs %v", c.Tokens, c.Sessions, c.Keys.Algorithms)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings for a production config: %v", w)
	}
}

func TestFullConfig(t *testing.T) {
	c, err := Parse([]byte(full))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	cl := c.Clients[0]
	if cl.Kind != KindPartner || cl.SubjectType != SubjectPairwise || cl.TokenEndpointAuthMethod != AuthSecretBasic ||
		cl.IDTokenSignedResponseAlg != "ES256" || !slices.Equal(cl.GrantTypes, []string{GrantAuthorizationCode, GrantRefreshToken}) {
		t.Errorf("client defaults: %+v", cl)
	}
	if c.Clients[1].SubjectType != SubjectPublic {
		t.Errorf("first party subject type %q, want public", c.Clients[1].SubjectType)
	}
	if got := c.Providers[0].Mapping.Courts.Values["Tribunal judiciaire de Paris"]; got != "TJ75101" {
		t.Errorf("mapping courts: %q", got)
	}
	if c.Providers[0].SubjectNamespace != "annuaire" {
		t.Errorf("subject namespace %q", c.Providers[0].SubjectNamespace)
	}
	var settings struct {
		URL string `yaml:"url"`
	}
	if err := DecodeSettings(c.Providers[0].Settings, &settings); err != nil || settings.URL != "ldaps://ldap.justice.example" {
		t.Errorf("DecodeSettings: %v %+v", err, settings)
	}
}

// TestEveryProblemAtOnce: one bad file, every problem reported with its path,
// decoding problems (unknown keys, bad durations, inline secrets) included.
func TestEveryProblemAtOnce(t *testing.T) {
	bad := `
issuer: http://connect.example.org/
mode: staging
listen: {address: "0.0.0.0:8443", tls_cert_file: /c.pem}
store: {driver: sqlite}
keys: {algorithms: [ES256, HS256]}
tokens: {code_lifetime: 5m, access_token_lifetime: soon}
sessions: {idle_timeout: 24h, absolute_timeout: 12h}
pairwise_salt: "inline-salt"
colour: blue
providers:
  - id: Annuaire
    type: ldap
    label: ""
    max_acr: eidas4
    mapping:
      profession: {value: juge}
      courts: {attribute: dept, values: {Paris: TJ99999}}
      roles: [{attribute: memberOf, equals: x, role: "Juge", scope: regional}]
      upstream_acr: {mfa: eidas9}
  - id: Annuaire
    type: saml
    label: "Avocats"
clients:
  - client_id: ok-client
    name: A
    secret: {file: /s}
    redirect_uris: ["https://rp.example/cb"]
    scopes: [openid]
  - client_id: ok-client
    name: ""
    secret: {file: /s}
    secret_hash: "$2b$10$abc"
    redirect_uris: ["http://example.org/cb", "https://rp.example/cb#frag", "https://*.rp.example/cb", "/relative"]
    grant_types: [authorization_code, password]
    scopes: [openid, admin]
    allowed_providers: [nope]
    allowed_professions: [juge]
    id_token_signed_response_alg: HS256
    subject_type: secret
    redirect_url: typo
`
	_, err := Parse([]byte(bad))
	got := problemsOf(t, err)
	want := []struct{ path, msg string }{
		{"colour", `unknown key "colour" (line 10)`},
		{"clients[1].redirect_url", `unknown key "redirect_url"`},
		{"tokens.access_token_lifetime", `"soon" is not a duration`},
		{"pairwise_salt", "never written inline"},
		{"issuer", "trailing slash"},
		{"issuer", "must use https"},
		{"mode", `not "staging"`},
		{"listen", "both tls_cert_file and tls_key_file"},
		{"store.sqlite_path", "required"},
		{"keys.kek", "required"},
		{"keys.algorithms[1]", `"HS256"`},
		{"keys.algorithms", "must include ES256"},
		{"tokens.code_lifetime", "between 1s and 1m"},
		{"sessions.idle_timeout", "must not exceed absolute_timeout"},
		{"providers[0].id", "lowercase"},
		{"providers[0].label", "required"},
		{"providers[0].max_acr", "eidas4"},
		{"providers[0].mapping.profession.value", `"juge" is not a known profession`},
		{"providers[0].mapping.courts.values.Paris", `"TJ99999" is not a court code`},
		{"providers[0].mapping.roles[0].role", `"Juge"`},
		{"providers[0].mapping.roles[0].scope", "court or national"},
		{"providers[0].mapping.upstream_acr.mfa", "eidas9"},
		{"providers[1].id", "lowercase"},
		{"clients[1].client_id", `duplicate "ok-client"`},
		{"clients[1].name", "required"},
		{"clients[1].secret", "either secret or secret_hash"},
		{"clients[1].secret_hash", "bcrypt"},
		{"clients[1].redirect_uris[0]", "must be an absolute https URL (loopback http allowed)"},
		{"clients[1].redirect_uris[1]", "fragment"},
		{"clients[1].redirect_uris[2]", "wildcard"},
		{"clients[1].redirect_uris[3]", "must be an absolute https URL"},
		{"clients[1].grant_types[1]", `"password" is not supported`},
		{"clients[1].scopes[1]", `"admin"`},
		{"clients[1].allowed_providers[0]", `"nope" is not a configured provider`},
		{"clients[1].allowed_professions[0]", `"juge"`},
		{"clients[1].id_token_signed_response_alg", "never none"},
		{"clients[1].subject_type", "public or pairwise"},
	}
	for _, w := range want {
		if !hasProblem(got, w.path, w.msg) {
			t.Errorf("missing problem %s: %s", w.path, w.msg)
		}
	}
	// The undecodable access_token_lifetime is reported once, not again as out of range.
	if hasProblem(got, "tokens.access_token_lifetime", "between") {
		t.Errorf("a decoding problem is reported twice")
	}
	msg := err.Error()
	if !strings.Contains(msg, "\nclients[1].redirect_uris[0]: must be an absolute https URL (loopback http allowed)\n") {
		t.Errorf("Error() is not one line per problem:\n%s", msg)
	}
	if t.Failed() || os.Getenv("JC_DUMP") != "" {
		t.Logf("got:\n%s", msg)
	}
}

// TestRules has one failing case per rule, each a small patch of a valid file.
func TestRules(t *testing.T) {
	dir := t.TempDir()
	courts := filepath.Join(dir, "courts.tsv")
	os.WriteFile(courts, []byte("code\tkind\tname\tjudilibre_id\nTJ99001\tTJ\tTribunal judiciaire imaginaire\tjl-imaginaire\n"), 0o600)
	base := func(extra string) string { return minimal + "pairwise_salt: {file: /s}\n" + extra }
	client := func(fields string) string {
		return base("clients:\n  - client_id: rp1\n    name: RP\n" + fields)
	}
	const withSecret = "    secret: {file: /s}\n    scopes: [openid]\n"
	cases := []struct {
		name, yaml, path, msg string
	}{
		{"issuer required", "store: {sqlite_path: /db}\nkeys: {kek: {file: /k}}\n", "issuer", "required"},
		{"issuer query", strings.Replace(minimal, "justice.fr", "justice.fr?x=1", 1), "issuer", "no query"},
		{"issuer fragment", strings.Replace(minimal, "justice.fr", "justice.fr#x", 1), "issuer", "fragment"},
		{"issuer relative", strings.Replace(minimal, "https://connect.example.justice.fr", "connect.example", 1), "issuer", "absolute"},
		{"http loopback issuer needs the insecure flag", strings.Replace(minimal, "https://connect.example.justice.fr", "http://127.0.0.1:8080", 1), "issuer", "insecure_allow_http_issuer"},
		{"http issuer off loopback", strings.Replace(minimal, "https://connect.example.justice.fr", "http://connect.example", 1) + "insecure_allow_http_issuer: true\n", "issuer", "must use https"},
		{"listen address", base("listen: {address: nowhere}\n"), "listen.address", "host:port"},
		{"card listen tls pair", base("card_listen: {address: ':8444', tls_key_file: /k}\n"), "card_listen", "both"},
		{"card listen address", base("card_listen: {client_ca_files: [/ca.pem]}\n"), "card_listen.address", "required"},
		{"store driver", strings.Replace(minimal, "driver: sqlite", "driver: mysql", 1), "store.driver", "sqlite or postgres"},
		{"postgres dsn", strings.Replace(minimal, "driver: sqlite, sqlite_path: /var/lib/justiceconnect/broker.db", "driver: postgres", 1), "store.postgres_dsn", "required"},
		{"secret file and env", strings.Replace(minimal, "{file: /etc/justiceconnect/kek}", "{file: /k, env: K}", 1), "keys.kek", "not both"},
		{"secret unknown key", strings.Replace(minimal, "{file: /etc/justiceconnect/kek}", "{path: /k}", 1), "keys.kek.path", `unknown key "path"`},
		{"algorithms need RS256", base("keys: {kek: {file: /k}, algorithms: [ES256]}\n")[len(minimal):], "", ""},
		{"access token lifetime", base("tokens: {access_token_lifetime: 2h}\n"), "tokens.access_token_lifetime", "between 1m and 1h"},
		{"code lifetime too short", base("tokens: {code_lifetime: 100ms}\n"), "tokens.code_lifetime", "between 1s and 1m"},
		{"refresh shorter than access", base("tokens: {access_token_lifetime: 30m, refresh_token_lifetime: 10m}\n"), "tokens.refresh_token_lifetime", "not be shorter"},
		{"duration without unit", base("tokens: {access_token_lifetime: 600}\n"), "tokens.access_token_lifetime", "not a duration"},
		{"max token lifetime", base("tokens: {id_token_lifetime: 20h}\nkeys: {kek: {file: /k}, max_token_lifetime: 2h}\n")[len(minimal):], "", ""},
		{"api scope syntax", base("api_scopes: [Detenus]\n"), "api_scopes[0]", "lowercase"},
		{"courts file missing", base("courts_file: /does/not/exist.tsv\n"), "courts_file", "no such file"},
		{"courts checked against courts_file", base("courts_file: " + courts + "\nproviders:\n  - {id: a, type: ldap, label: A, mapping: {courts: {attribute: c, values: {Paris: TJ75101}}}}\n"), "providers[0].mapping.courts.values.Paris", "not a court code"},
		{"provider type", base("providers:\n  - {id: a, label: A}\n"), "providers[0].type", "required"},
		{"provider duplicate", base("providers:\n  - {id: a, type: ldap, label: A}\n  - {id: a, type: ldap, label: B}\n"), "providers[1].id", "duplicate"},
		{"email domain", base("providers:\n  - {id: a, type: ldap, label: A, email_domains: [Justice.FR]}\n"), "providers[0].email_domains[0]", "domain"},
		{"email domain twice", base("providers:\n  - {id: a, type: ldap, label: A, email_domains: [justice.fr]}\n  - {id: b, type: ldap, label: B, email_domains: [justice.fr]}\n"), "providers[1].email_domains[0]", "already routed"},
		{"organization one of", base("providers:\n  - {id: a, type: ldap, label: A, mapping: {organization: {attribute: o, value: X}}}\n"), "providers[0].mapping.organization", "not both"},
		{"profession values without attribute", base("providers:\n  - {id: a, type: ldap, label: A, mapping: {profession: {values: {MAG: magistrat}}}}\n"), "providers[0].mapping.profession.attribute", "required"},
		{"profession target", base("providers:\n  - {id: a, type: ldap, label: A, mapping: {profession: {attribute: t, values: {X: juge}}}}\n"), "providers[0].mapping.profession.values.X", "not a known profession"},
		{"court role without courts", base("providers:\n  - {id: a, type: ldap, label: A, mapping: {roles: [{attribute: m, equals: x, role: juge}]}}\n"), "providers[0].mapping.roles[0].scope", "needs mapping.courts"},
		{"role rule attribute", base("providers:\n  - {id: a, type: ldap, label: A, mapping: {roles: [{equals: x, role: juge, scope: national}]}}\n"), "providers[0].mapping.roles[0].attribute", "required"},
		{"settings kept raw", base("providers:\n  - {id: a, type: ldap, label: A, settings: {anything: [1, 2]}, mappin: {}}\n"), "providers[0].mappin", "unknown key"},
		{"client id syntax", base("clients:\n  - client_id: 'a b'\n    name: RP\n" + withSecret + "    grant_types: [client_credentials]\n"), "clients[0].client_id", "3 to 64"},
		{"kind", client(withSecret + "    kind: vendor\n    grant_types: [client_credentials]\n"), "clients[0].kind", "partner or first_party"},
		{"secret required", client("    scopes: [openid]\n    grant_types: [client_credentials]\n"), "clients[0].secret", "required with client_secret_basic"},
		{"secret inline", client("    secret: hunter2\n    scopes: [openid]\n    grant_types: [client_credentials]\n"), "clients[0].secret", "never written inline"},
		{"secret hash not bcrypt", client("    secret_hash: '{SHA}abc'\n    scopes: [openid]\n    grant_types: [client_credentials]\n"), "clients[0].secret_hash", "bcrypt hash"},
		{"secret hash cost", client("    secret_hash: '" + hashWithCost(t, 4) + "'\n    scopes: [openid]\n    grant_types: [client_credentials]\n"), "clients[0].secret_hash", "cost 4 is too low"},
		{"secret with private_key_jwt", client(withSecret + "    token_endpoint_auth_method: private_key_jwt\n    jwks_file: /j\n    grant_types: [client_credentials]\n"), "clients[0].secret", "not used with"},
		{"auth method", client(withSecret + "    token_endpoint_auth_method: tls_client_auth\n    grant_types: [client_credentials]\n"), "clients[0].token_endpoint_auth_method", "must be one of"},
		{"jwks required", client("    scopes: [openid]\n    token_endpoint_auth_method: private_key_jwt\n    grant_types: [client_credentials]\n"), "clients[0].jwks_file", "required"},
		{"auth signing alg only with jwt", client(withSecret + "    token_endpoint_auth_signing_alg: ES256\n    grant_types: [client_credentials]\n"), "clients[0].token_endpoint_auth_signing_alg", "only used with private_key_jwt"},
		{"auth signing alg", client("    scopes: [openid]\n    token_endpoint_auth_method: private_key_jwt\n    token_endpoint_auth_signing_alg: HS256\n    jwks_file: /j\n    grant_types: [client_credentials]\n"), "clients[0].token_endpoint_auth_signing_alg", "must be one of"},
		{"exchange subjects need the grant", client(withSecret + "    kind: first_party\n    grant_types: [client_credentials]\n    exchange_subject_tokens: [id_token]\n"), "clients[0].exchange_subject_tokens", "needs"},
		{"ID tokens traded by first parties only", client(withSecret + "    grant_types: [\"urn:ietf:params:oauth:grant-type:token-exchange\"]\n    exchange_subject_tokens: [id_token]\n"), "clients[0].exchange_subject_tokens[0]", "first_party clients only"},
		{"exchange upstream unknown", client(withSecret + "    grant_types: [\"urn:ietf:params:oauth:grant-type:token-exchange\"]\n    exchange_subject_tokens: [\"upstream:cj\"]\n"), "clients[0].exchange_subject_tokens[0]", "not a configured provider"},
		{"exchange upstream not oidc", base("providers:\n  - {id: a, type: ldap, label: A}\nclients:\n  - client_id: rp1\n    name: RP\n" + withSecret + "    grant_types: [\"urn:ietf:params:oauth:grant-type:token-exchange\"]\n    exchange_subject_tokens: [\"upstream:a\"]\n"), "clients[0].exchange_subject_tokens[0]", "only oidc providers"},
		{"exchange subject kind", client(withSecret + "    grant_types: [\"urn:ietf:params:oauth:grant-type:token-exchange\"]\n    exchange_subject_tokens: [saml2]\n"), "clients[0].exchange_subject_tokens[0]", "use id_token or upstream:"},
		{"public client credentials", client("    scopes: [openid]\n    token_endpoint_auth_method: none\n    grant_types: [client_credentials]\n"), "clients[0].grant_types[0]", "authenticated client"},
		{"code grant needs redirect", client(withSecret), "clients[0].redirect_uris", "required with the authorization_code grant"},
		{"http on example.org", client(withSecret + "    redirect_uris: ['http://example.org/cb']\n"), "clients[0].redirect_uris[0]", "must be an absolute https URL (loopback http allowed)"},
		{"http on localhost name", client(withSecret + "    redirect_uris: ['http://localhost/cb']\n"), "clients[0].redirect_uris[0]", "loopback http allowed"},
		{"custom scheme", client(withSecret + "    redirect_uris: ['fr.justice.app:/cb']\n"), "clients[0].redirect_uris[0]", "https"},
		{"fragment", client(withSecret + "    redirect_uris: ['https://rp.example/cb#x']\n"), "clients[0].redirect_uris[0]", "fragment"},
		{"empty fragment", client(withSecret + "    redirect_uris: ['https://rp.example/cb#']\n"), "clients[0].redirect_uris[0]", "fragment"},
		{"post logout uri", client(withSecret + "    redirect_uris: ['https://rp.example/cb']\n    post_logout_redirect_uris: ['http://rp.example/']\n"), "clients[0].post_logout_redirect_uris[0]", "https"},
		{"backchannel uri", client(withSecret + "    grant_types: [client_credentials]\n    backchannel_logout_uri: 'http://rp.example/bcl'\n"), "clients[0].backchannel_logout_uri", "https"},
		{"frontchannel uri", client(withSecret + "    grant_types: [client_credentials]\n    frontchannel_logout_uri: 'https://*.rp.example/fcl'\n"), "clients[0].frontchannel_logout_uri", "wildcard"},
		{"grant duplicate", client(withSecret + "    grant_types: [client_credentials, client_credentials]\n"), "clients[0].grant_types[1]", "duplicate"},
		{"implicit grant", client(withSecret + "    grant_types: [implicit]\n"), "clients[0].grant_types[0]", "not supported"},
		{"scopes required", client("    secret: {file: /s}\n    grant_types: [client_credentials]\n"), "clients[0].scopes", "at least one"},
		{"api scope undeclared", client("    secret: {file: /s}\n    grant_types: [client_credentials]\n    scopes: ['detenus:read']\n"), "clients[0].scopes[0]", "api_scopes"},
		{"audience", client(withSecret + "    grant_types: [client_credentials]\n    audience: [detenus]\n"), "clients[0].audience[0]", "absolute URL"},
		{"id token alg without key", client(withSecret + "    grant_types: [client_credentials]\n    id_token_signed_response_alg: PS256\n"), "clients[0].id_token_signed_response_alg", "keys.algorithms"},
		{"userinfo alg", client(withSecret + "    grant_types: [client_credentials]\n    userinfo_signed_response_alg: none\n"), "clients[0].userinfo_signed_response_alg", "never none"},
		{"client access lifetime", client(withSecret + "    grant_types: [client_credentials]\n    access_token_lifetime: 2h\n"), "clients[0].access_token_lifetime", "between 1m and 1h"},
		{"client refresh lifetime", client(withSecret + "    grant_types: [client_credentials]\n    access_token_lifetime: 30m\n    refresh_token_lifetime: 20m\n"), "clients[0].refresh_token_lifetime", "not be shorter"},
		{"pairwise salt required in production", minimal + "clients:\n  - {client_id: rp1, name: RP, secret: {file: /s}, scopes: [openid], grant_types: [client_credentials]}\n", "pairwise_salt", "required"},
		{"list where a string is expected", base("courts_file: [a, b]\n"), "courts_file", "a string is expected, not a list"},
		{"mapping where a list is expected", base("api_scopes: {a: b}\n"), "api_scopes", "a list is expected, not a mapping"},
		{"two documents", minimal + "---\nissuer: x\n", "", "one YAML document"},
		{"card public url required", base("card_listen: {address: ':8444', tls_cert_file: /c, tls_key_file: /k, client_ca_files: [/ca.pem]}\n"), "card_listen.public_url", "required"},
		{"card public url https", base("card_listen: {address: ':8444', public_url: 'http://carte.example.fr', tls_cert_file: /c, tls_key_file: /k, client_ca_files: [/ca.pem]}\n"), "card_listen.public_url", "must use https"},
		{"card origin is not the issuer", base("card_listen: {address: ':8444', public_url: 'https://connect.example.justice.fr', tls_cert_file: /c, tls_key_file: /k, client_ca_files: [/ca.pem]}\n"), "card_listen.public_url", "another origin"},
		{"card needs TLS or a proxy", base("card_listen: {address: ':8444', public_url: 'https://carte.example.fr'}\n"), "card_listen", "trusted_proxies"},
		{"card CAs with TLS", base("card_listen: {address: ':8444', public_url: 'https://carte.example.fr', tls_cert_file: /c, tls_key_file: /k}\n"), "card_listen.client_ca_files", "required"},
		{"card trusted proxy syntax", base("card_listen: {address: ':8444', public_url: 'https://carte.example.fr', trusted_proxies: [proxy.example]}\n"), "card_listen.trusted_proxies[0]", "neither"},
		{"drain delay too long", base("listen: {drain_delay: 1h}\n"), "listen.drain_delay", "between 0 and 5m"},
	}
	// Two cases are built whole: they replace the keys block.
	cases[13].yaml = strings.Replace(base(""), "keys: {kek: {file: /etc/justiceconnect/kek}}", "keys: {kek: {file: /k}, algorithms: [ES256]}", 1)
	cases[13].path, cases[13].msg = "keys.algorithms", "RS256"
	cases[18].yaml = strings.Replace(base("tokens: {id_token_lifetime: 20h}\n"), "keys: {kek: {file: /etc/justiceconnect/kek}}", "keys: {kek: {file: /k}, max_token_lifetime: 2h}", 1)
	cases[18].path, cases[18].msg = "keys.max_token_lifetime", "at least the longest"
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			got := problemsOf(t, err)
			if !hasProblem(got, tc.path, tc.msg) {
				t.Errorf("want %s: %s; got %v", tc.path, tc.msg, err)
			}
		})
	}
}

func hashWithCost(t *testing.T, cost int) string {
	h, err := bcrypt.GenerateFromPassword([]byte("s"), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestAcceptedVariants(t *testing.T) {
	dir := t.TempDir()
	courts := filepath.Join(dir, "courts.tsv")
	os.WriteFile(courts, []byte("code\tkind\tname\tjudilibre_id\nTJ99001\tTJ\tTribunal judiciaire imaginaire\tjl-imaginaire\n"), 0o600)
	base := minimal + "pairwise_salt: {env: JC_SALT}\n"
	for name, y := range map[string]string{
		"loopback redirect URIs":            base + "clients:\n  - {client_id: native.app, name: N, token_endpoint_auth_method: none, scopes: [openid], redirect_uris: ['http://127.0.0.1/cb', 'http://127.0.0.1:51000/cb', 'http://[::1]/cb', 'https://rp.example/cb?x=1']}\n",
		"secret hash":                       base + "clients:\n  - {client_id: rp1, name: RP, secret_hash: '" + hashWithCost(t, 10) + "', scopes: [openid], grant_types: [client_credentials]}\n",
		"http loopback issuer with flag":    strings.Replace(minimal, "https://connect.example.justice.fr", "http://localhost:8080", 1) + "insecure_allow_http_issuer: true\n",
		"development without pairwise salt": minimal + "mode: development\nclients:\n  - {client_id: rp1, name: RP, secret: {file: /s}, scopes: [openid], grant_types: [client_credentials]}\n",
		"courts from courts_file":           base + "courts_file: " + courts + "\nproviders:\n  - {id: a, type: ldap, label: A, mapping: {courts: {attribute: c, values: {X: TJ99001}}}}\n",
		"national role without courts":      base + "providers:\n  - {id: a, type: ldap, label: A, mapping: {roles: [{attribute: m, equals: x, role: directeur_greffe, scope: national}]}}\n",
		"durations at bounds":               base + "tokens: {code_lifetime: 1s, access_token_lifetime: 1h, refresh_token_lifetime: 1h}\n",
		"empty file sections":               base + "card_listen: {}\nadmin_listen: {address: '127.0.0.1:9090'}\nproviders: []\nclients: []\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(y)); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(minimal, "https://connect.example.justice.fr", "http://127.0.0.1:8080", 1) +
		"insecure_allow_http_issuer: true\nmode: development\nclients:\n  - {client_id: rp1, name: RP, secret: {file: /s}, scopes: [openid], grant_types: [client_credentials]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(c.Warnings(), "\n")
	for _, want := range []string{"mode: development", "insecure_allow_http_issuer: the issuer is plain http", "pairwise_salt: not set"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	c, err = Parse([]byte(minimal + "insecure_allow_http_issuer: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "unused") {
		t.Errorf("an unused insecure setting is not flagged: %v", w)
	}
}

func TestSecretRead(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "s")
	os.WriteFile(f, []byte("s3cret\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	t.Setenv("JC_TEST_SECRET", "from-env\n")
	t.Setenv("JC_TEST_EMPTY", "")
	cases := []struct {
		s       Secret
		want    string
		errPart string
	}{
		{Secret{File: f}, "s3cret", ""},
		{Secret{Env: "JC_TEST_SECRET"}, "from-env", ""},
		{Secret{File: filepath.Join(dir, "missing")}, "", "missing"},
		{Secret{File: empty}, "", "empty"},
		{Secret{Env: "JC_TEST_UNSET_VARIABLE"}, "", "JC_TEST_UNSET_VARIABLE"},
		{Secret{Env: "JC_TEST_EMPTY"}, "", "JC_TEST_EMPTY"},
		{Secret{File: f, Env: "JC_TEST_SECRET"}, "", "not both"},
		{Secret{}, "", "no secret"},
	}
	for _, tc := range cases {
		got, err := tc.s.Read()
		switch {
		case tc.errPart == "" && (err != nil || string(got) != tc.want):
			t.Errorf("%v: got %q, %v; want %q", tc.s, got, err, tc.want)
		case tc.errPart != "" && (err == nil || !strings.Contains(err.Error(), tc.errPart)):
			t.Errorf("%v: error %v, want one naming %q", tc.s, err, tc.errPart)
		}
	}
}

func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	kek := filepath.Join(dir, "kek")
	os.WriteFile(kek, []byte("k\n"), 0o600)
	priv, pub := jwks(t)
	privFile, pubFile := filepath.Join(dir, "priv.jwks"), filepath.Join(dir, "pub.jwks")
	os.WriteFile(privFile, priv, 0o600)
	os.WriteFile(pubFile, pub, 0o600)
	y := strings.Replace(minimal, "/etc/justiceconnect/kek", kek, 1) + `
pairwise_salt: {env: JC_TEST_NO_SUCH_SALT}
listen: {address: ":8443", tls_cert_file: ` + filepath.Join(dir, "cert.pem") + `, tls_key_file: ` + kek + `}
clients:
  - {client_id: good, name: G, token_endpoint_auth_method: private_key_jwt, jwks_file: ` + pubFile + `, scopes: [openid], grant_types: [client_credentials]}
  - {client_id: leaky, name: L, token_endpoint_auth_method: private_key_jwt, jwks_file: ` + privFile + `, scopes: [openid], grant_types: [client_credentials]}
  - {client_id: nosecret, name: N, secret: {file: ` + filepath.Join(dir, "none") + `}, scopes: [openid], grant_types: [client_credentials]}
`
	c, err := Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	got := c.CheckFiles()
	for _, w := range []struct{ path, msg string }{
		{"pairwise_salt", "JC_TEST_NO_SUCH_SALT"},
		{"listen.tls_cert_file", "cert.pem"},
		{"clients[1].jwks_file", "private material"},
		{"clients[2].secret", "none"},
	} {
		if !hasProblem(got, w.path, w.msg) {
			t.Errorf("missing %s: %s in %v", w.path, w.msg, got)
		}
	}
	if len(got) != 4 {
		t.Errorf("want 4 problems, got %v", got)
	}
}

// jwks returns a key set with a private EC key and the same key set public.
func jwks(t *testing.T) (priv, pub []byte) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := jose.JSONWebKey{Key: k, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	priv, _ = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}})
	pub, _ = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk.Public()}})
	return priv, pub
}

func TestToStorageClient(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte("clear-secret\n"), 0o600)
	_, pub := jwks(t)
	pubFile := filepath.Join(dir, "pub.jwks")
	os.WriteFile(pubFile, pub, 0o600)
	hash := func(b []byte) ([]byte, error) { return bcrypt.GenerateFromPassword(b, bcrypt.MinCost) }

	c, err := ToStorageClient(ClientConfig{ClientID: "rp1", Name: "RP", Secret: Secret{File: secretFile},
		RedirectURIs: []string{"https://rp.example/cb"}, Scopes: []string{"openid"}, BackchannelLogoutURI: "https://rp.example/bcl",
		AccessTokenLifetime: Duration(5 * time.Minute)}, hash)
	if err != nil {
		t.Fatal(err)
	}
	if bcrypt.CompareHashAndPassword(c.SecretHash, []byte("clear-secret")) != nil {
		t.Errorf("the stored hash does not verify the secret")
	}
	if c.Source != "config" || c.Kind != KindPartner || c.SubjectType != SubjectPairwise || c.TokenEndpointAuthMethod != AuthSecretBasic ||
		c.IDTokenSignedResponseAlg != "ES256" || !slices.Equal(c.GrantTypes, []string{GrantAuthorizationCode, GrantRefreshToken}) ||
		!c.BackchannelLogoutSessionRequired || c.AccessTokenLifespan != 5*time.Minute || c.Public {
		t.Errorf("client: %+v", c)
	}

	c, err = ToStorageClient(ClientConfig{ClientID: "api", Name: "API", Kind: KindFirstParty, TokenEndpointAuthMethod: AuthPrivateKeyJWT, JWKSFile: pubFile}, hash)
	if err != nil {
		t.Fatal(err)
	}
	if c.JWKS == nil || len(c.JWKS.Keys) != 1 || c.SecretHash != nil || c.SubjectType != SubjectPublic {
		t.Errorf("private_key_jwt client: %+v", c)
	}
	c, err = ToStorageClient(ClientConfig{ClientID: "spa", Name: "SPA", TokenEndpointAuthMethod: AuthNone}, hash)
	if err != nil || !c.Public {
		t.Errorf("public client: %+v %v", c, err)
	}
	if _, err := ToStorageClient(ClientConfig{ClientID: "x", Secret: Secret{Env: "JC_TEST_UNSET_VARIABLE"}}, hash); err == nil || !strings.Contains(err.Error(), "JC_TEST_UNSET_VARIABLE") {
		t.Errorf("unreadable secret: %v", err)
	}
	priv, _ := jwks(t)
	privFile := filepath.Join(dir, "priv.jwks")
	os.WriteFile(privFile, priv, 0o600)
	if _, err := ToStorageClient(ClientConfig{ClientID: "x", TokenEndpointAuthMethod: AuthPrivateKeyJWT, JWKSFile: privFile}, hash); err == nil || !strings.Contains(err.Error(), "private") {
		t.Errorf("private JWKS accepted: %v", err)
	}
}

func TestDecodeSettings(t *testing.T) {
	type user struct {
		Username string `yaml:"username"`
		Password string `yaml:"password_hash"`
	}
	type settings struct {
		URL     string              `yaml:"url"`
		Timeout Duration            `yaml:"timeout"`
		Users   []user              `yaml:"users"`
		Extra   struct{ Deep bool } `yaml:",inline"`
	}
	y := `
providers:
  - id: a
    settings:
      url: ldaps://x
      timeout: 10x
      deep: true
      users:
        - {username: a, password_hash: h, pasword: typo}
        - username: [b]
      bogus: 1
`
	var doc struct {
		Providers []ProviderConfig `yaml:"providers"`
	}
	if err := yaml.Unmarshal([]byte(y), &doc); err != nil {
		t.Fatal(err)
	}
	var s settings
	got := problemsOf(t, DecodeSettings(doc.Providers[0].Settings, &s))
	for _, w := range []struct{ path, msg string }{
		{"settings.users[0].pasword", `unknown key "pasword" (line 9)`},
		{"settings.bogus", `unknown key "bogus" (line 11)`},
		{"settings.timeout", "not a duration"},
		{"settings.users[1].username", "a string is expected, not a list (line 10)"},
	} {
		if !hasProblem(got, w.path, w.msg) {
			t.Errorf("missing %s: %s in %v", w.path, w.msg, got)
		}
	}
	if len(got) != 4 || s.URL != "ldaps://x" || !s.Extra.Deep {
		t.Errorf("got %v, settings %+v", got, s)
	}
	if err := DecodeSettings(yaml.Node{}, &s); err != nil {
		t.Errorf("absent settings: %v", err)
	}
}

func TestLoad(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(f, []byte(minimal), 0o600)
	if _, err := Load(f); err != nil {
		t.Errorf("Load: %v", err)
	}
	if _, err := Load(f + ".missing"); err == nil {
		t.Errorf("Load of a missing file succeeded")
	}
	if _, err := Parse([]byte("issuer: [unclosed")); err == nil {
		t.Errorf("syntax error accepted")
	}
}
