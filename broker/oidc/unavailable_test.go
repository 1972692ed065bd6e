package oidc

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/ory/fosite"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

func TestUnavailable(t *testing.T) {
	down := fmt.Errorf("storage: postgres: get client: %w: %w", storage.ErrUnavailable, errors.New("dial tcp: connection refused"))
	tests := []struct {
		name     string
		err      error
		code     string
		status   int
		pageFrom int
		pageTo   int
	}{
		// fosite's client authentication wraps the store error in invalid_client.
		{"client lookup", fosite.ErrInvalidClient.WithWrap(down).WithDebug(down.Error()), "temporarily_unavailable", 503, 400, 503},
		// An unwrapped store error would become the code "error".
		{"bare store error", fmt.Errorf("oidc: %w", down), "temporarily_unavailable", 503, 409, 503},
		{"wrong secret", fosite.ErrInvalidClient, "invalid_client", 401, 400, 400},
		{"other error", errors.New("boom"), "error", 500, 500, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rfc := fosite.ErrorToRFC6749Error(unavailable(tc.err))
			if rfc.ErrorField != tc.code || rfc.CodeField != tc.status {
				t.Errorf("unavailable() = %s %d, want %s %d", rfc.ErrorField, rfc.CodeField, tc.code, tc.status)
			}
			status, key := unavailablePage(tc.pageFrom, "error.flow_expired", tc.err)
			if status != tc.pageTo || (status == http.StatusServiceUnavailable) != (key == "error.unavailable") {
				t.Errorf("unavailablePage(%d) = %d %s, want %d", tc.pageFrom, status, key, tc.pageTo)
			}
		})
	}
}
