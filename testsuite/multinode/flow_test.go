package multinode

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/justiceconnect/justiceconnect/internal/loadflow"
)

// result is what one simulated user and application saw.
type result struct {
	User  string
	Sub   string
	Stage string // the step that failed, "" when the flow completed
	Err   error
	// Issued and Refreshed are token responses the application received.
	Issued, Refreshed bool
	// UnknownTokens counts token requests that failed in transport after they were
	// sent: the node may or may not have issued tokens.
	UnknownTokens int
	Hops          []hopRec
	Retries       int
	Access        string
}

func (r *result) fail(stage string, err error) *result {
	r.Stage, r.Err = stage, err
	if stage == "token" || stage == "refresh" {
		if strings.HasPrefix(loadflow.Kind(err), "transport") {
			r.UnknownTokens++
		}
	}
	return r
}

// flow runs authorize -> login -> resume -> code -> token -> refresh -> userinfo ->
// introspection of the refreshed access token on every node, each request on the
// next node in turn. pause, if set, is called between steps (to let a test act
// while flows are in flight).
func (c *cluster) flow(ctx context.Context, start int, user loadflow.User, pause func()) (r *result) {
	lb := c.balancer(start)
	r = &result{User: user.Username}
	defer func() { r.Hops, r.Retries = lb.record() }()
	b := loadflow.New(c.issuer, lb)
	b.HTTP.Timeout = 20 * time.Second
	br := b.NewBrowser()
	br.Timeout = 20 * time.Second
	app := loadflow.Client{ID: clientID, Secret: c.secret, RedirectURI: redirect}
	if pause == nil {
		pause = func() {}
	}
	p := loadflow.NewPKCE()
	code, err := b.Walk(ctx, br, b.AuthURL(app, p, scope), user)
	if err != nil {
		return r.fail("login", err)
	}
	pause()
	toks, err := b.Token(ctx, app, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {app.RedirectURI}, "code_verifier": {p.Verifier}})
	if err != nil {
		return r.fail("token", err)
	}
	r.Issued = true
	r.Sub = idTokenSub(toks.IDToken)
	pause()
	toks, err = b.Refresh(ctx, app, toks.RefreshToken)
	if err != nil {
		return r.fail("refresh", err)
	}
	r.Refreshed = true
	r.Access = toks.AccessToken
	pause()
	if err := userinfo(ctx, b, toks.AccessToken, r.Sub); err != nil {
		return r.fail("userinfo", err)
	}
	for i, nd := range c.nodes {
		if nd.proc.Exited() || c.out[i].Load() {
			continue // killed or stopped by the test, or out of rotation
		}
		if err := b.Introspect(context.WithValue(ctx, forceKey{}, i), app, toks.AccessToken); err != nil {
			return r.fail(fmt.Sprintf("introspect on node%d", i+1), err)
		}
	}
	return r
}

// userinfo checks that GET /userinfo answers for the access token with sub.
func userinfo(ctx context.Context, b *loadflow.Broker, access, sub string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.Issuer+"/userinfo", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := b.HTTP.Do(req)
	if err != nil {
		return &loadflow.Error{Kind: loadflow.Kind(err), Detail: err.Error(), Err: err}
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &loadflow.Error{Kind: fmt.Sprintf("http %d", resp.StatusCode), Detail: string(body)}
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(body, &claims); err != nil || claims.Sub != sub {
		return &loadflow.Error{Kind: "flow: userinfo sub", Detail: fmt.Sprintf("sub %q, want %q: %s", claims.Sub, sub, body)}
	}
	return nil
}

// idTokenSub reads sub from an ID token without checking it (the flow only
// correlates; signatures are checked elsewhere in the testsuite).
func idTokenSub(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Sub string `json:"sub"`
	}
	_ = json.Unmarshal(raw, &c)
	return c.Sub
}
