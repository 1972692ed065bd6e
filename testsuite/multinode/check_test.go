package multinode

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// auditEvent is a line of justiceconnect audit export.
type auditEvent struct {
	Seq      int64  `json:"seq"`
	Type     string `json:"type"`
	Outcome  string `json:"outcome"`
	Subject  string `json:"subject"`
	ClientID string `json:"client_id"`
	Request  string `json:"request_id"`
}

// checkAudit runs justiceconnect audit verify and export with node 1's
// configuration (the administrator's view) and returns the exported events.
func (c *cluster) checkAudit() []auditEvent {
	c.t.Helper()
	cfg := c.nodes[0].config
	out, err := exec.Command(binary, "audit", "verify", "--config", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Audit trail intact") {
		c.t.Errorf("justiceconnect audit verify: %v\n%s", err, out)
	} else {
		c.t.Logf("audit verify: %s", strings.TrimSpace(string(out)))
	}
	cmd := exec.Command(binary, "audit", "export", "--config", cfg)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("justiceconnect audit export: %v\n%s", err, stderr.String())
	}
	var evs []auditEvent
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			c.t.Fatalf("audit export line %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

// checkTokens compares what the applications received with the audit trail: each
// token response an application saw has exactly one success event of its kind
// (token.issued for the code, token.refreshed for the refresh), and a flow that saw
// none has none, unless its token request failed in transport after it was sent
// (the node may have committed before dying): then at most one.
func (c *cluster) checkTokens(results []*result, evs []auditEvent) {
	c.t.Helper()
	type key struct{ sub, typ string }
	count := map[key]int{}
	for _, e := range evs {
		if e.Outcome == "success" && (e.Type == "token.issued" || e.Type == "token.refreshed") {
			count[key{e.Subject, e.Type}]++
		}
	}
	// A flow without a token response has no sub from an ID token: find its
	// subject through its login event... the users are distinct, so compare
	// totals instead for those.
	seen := map[string]bool{}
	for _, r := range results {
		if r.Sub == "" {
			continue
		}
		seen[r.Sub] = true
		if n := count[key{r.Sub, "token.issued"}]; n != 1 {
			c.t.Errorf("%s: %d token.issued success events for one code response; want exactly 1", r.User, n)
		}
		n := count[key{r.Sub, "token.refreshed"}]
		switch {
		case r.Refreshed && n != 1:
			c.t.Errorf("%s: %d token.refreshed events for one refresh response; want exactly 1", r.User, n)
		case !r.Refreshed && r.UnknownTokens == 0 && n != 0:
			c.t.Errorf("%s: %d token.refreshed events, but the refresh was refused; want 0", r.User, n)
		case !r.Refreshed && n > 1:
			c.t.Errorf("%s: %d token.refreshed events for one refresh request lost in transport; want 0 or 1", r.User, n)
		}
	}
	extraIssued, unknown := 0, 0
	for k, n := range count {
		if !seen[k.sub] && k.typ == "token.issued" {
			extraIssued += n
		}
	}
	for _, r := range results {
		if r.Sub == "" && r.UnknownTokens > 0 {
			unknown++
		}
	}
	if extraIssued > unknown {
		c.t.Errorf("%d token.issued events for subjects whose application got no token, but only %d code exchanges were lost in transport", extraIssued, unknown)
	}
}

// checkRows looks for half-written rows: tokens without their audit event, a code
// spent without tokens, a refresh token without the request's access token.
func (c *cluster) checkRows() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db, err := pgx.Connect(ctx, c.dsn)
	if err != nil {
		c.t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer db.Close(ctx)
	checks := []struct{ what, query string }{
		{"access tokens without a token audit event of their request",
			`SELECT count(*) FROM oauth_access_tokens t WHERE NOT EXISTS (SELECT 1 FROM audit_events e
			  WHERE e.request_id = t.request_id AND e.outcome = 'success' AND e.type IN ('token.issued', 'token.refreshed'))`},
		{"refresh tokens without a token audit event of their request",
			`SELECT count(*) FROM oauth_refresh_tokens t WHERE NOT EXISTS (SELECT 1 FROM audit_events e
			  WHERE e.request_id = t.request_id AND e.outcome = 'success' AND e.type IN ('token.issued', 'token.refreshed'))`},
		{"active refresh tokens whose request has no access token",
			`SELECT count(*) FROM oauth_refresh_tokens r WHERE r.active AND NOT EXISTS (SELECT 1 FROM oauth_access_tokens a WHERE a.request_id = r.request_id)`},
		{"spent codes without tokens of their request",
			`SELECT count(*) FROM oauth_codes k WHERE NOT k.active AND NOT EXISTS (SELECT 1 FROM oauth_refresh_tokens r WHERE r.request_id = k.request_id)`},
		{"token audit events whose request has no tokens",
			`SELECT count(*) FROM audit_events e WHERE e.outcome = 'success' AND e.type = 'token.issued'
			  AND NOT EXISTS (SELECT 1 FROM oauth_refresh_tokens r WHERE r.request_id = e.request_id)`},
	}
	var access, refresh, codes int
	if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM oauth_access_tokens), (SELECT count(*) FROM oauth_refresh_tokens),
		(SELECT count(*) FROM oauth_codes)`).Scan(&access, &refresh, &codes); err != nil {
		c.t.Fatalf("count token rows: %v", err)
	}
	c.t.Logf("rows: %d access tokens, %d refresh tokens, %d codes", access, refresh, codes)
	for _, ch := range checks {
		var n int
		if err := db.QueryRow(ctx, ch.query).Scan(&n); err != nil {
			c.t.Errorf("%s: %v", ch.what, err)
		} else if n != 0 {
			c.t.Errorf("half-written rows: %d %s", n, ch.what)
		}
	}
}
