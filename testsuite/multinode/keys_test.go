package multinode

import (
	"context"
	"encoding/base64"
	"net/http"
	"os/exec"
	"testing"
	"time"
)

// TestRotatedKeyAcceptedAtOnce: node1 meets an unknown kid (a forged
// id_token_hint) and re-reads the keys; the keys are then rotated (the CLI) and
// node2 re-reads them (another forged hint) and signs with the new key. The access
// token node2 then issues is accepted by node1 at userinfo and introspection,
// though node1 read the keys a moment before that key existed (issue #7: node1
// refused it until 5 s after its last read for an unknown kid).
func TestRotatedKeyAcceptedAtOnce(t *testing.T) {
	c := startCluster(t, 2, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var missAt time.Time
	calls := 0
	// The second pause comes after the code exchange, before the refresh (on
	// node2) and userinfo (on node1).
	pause := func() {
		if calls++; calls != 2 {
			return
		}
		missAt = time.Now()
		c.forgedHint(ctx, 0)
		for range 2 {
			out, err := exec.Command(binary, "keys", "rotate", "--config", c.nodes[0].config, "--alg", "ES256", "--reason", "multinode test").CombinedOutput()
			if err != nil {
				t.Fatalf("justiceconnect keys rotate: %v\n%s", err, out)
			}
		}
		c.forgedHint(ctx, 1)
	}
	r := c.flow(ctx, 1, c.users[0], pause)
	var refresh, info hopRec
	for _, h := range r.Hops {
		switch {
		case h.Path == "/token":
			refresh = h // the last POST /token is the refresh
		case h.Path == "/userinfo" && info.Path == "":
			info = h
		}
	}
	if r.Err != nil {
		for _, h := range r.Hops {
			t.Logf("  %s %s -> node%d %d %v", h.Method, h.Path, h.Node+1, h.Status, h.Err)
		}
		t.Fatalf("the access token node2 signed with the new key: %s failed: %v", r.Stage, r.Err)
	}
	if refresh.Node != 1 || info.Node != 0 {
		t.Fatalf("refresh went to node%d and userinfo to node%d; the test needs node2 then node1", refresh.Node+1, info.Node+1)
	}
	t.Logf("node1 accepted node2's token %v after its previous read of the keys", info.Start.Sub(missAt).Round(time.Millisecond))
}

// forgedHint sends node i a logout request whose id_token_hint names a kid no
// node has: the node looks the kid up in the store, and refuses the hint.
func (c *cluster) forgedHint(ctx context.Context, i int) {
	c.t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	hint := enc([]byte(`{"alg":"ES256","kid":"forged-kid-0000","typ":"JWT"}`)) + "." + enc([]byte(`{"iss":"`+c.issuer+`"}`)) + "." + enc(make([]byte, 64))
	req, _ := http.NewRequestWithContext(context.WithValue(ctx, forceKey{}, i), http.MethodGet, c.issuer+"/session/end?id_token_hint="+hint, nil)
	resp, err := c.balancer(i).RoundTrip(req)
	if err != nil {
		c.t.Fatalf("forged id_token_hint to node%d: %v", i+1, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		c.t.Fatalf("forged id_token_hint on node%d answered %d, want 400", i+1, resp.StatusCode)
	}
}
