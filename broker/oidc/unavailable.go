package oidc

import (
	"errors"
	"net/http"

	"github.com/ory/fosite"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// retryAfter is the Retry-After (RFC 9110 §10.2.3) sent with answers given while
// the database cannot be reached: about the time a PostgreSQL failover takes.
const retryAfter = "5"

// errStoreDown is what a client is told when the store cannot be reached:
// temporarily_unavailable with 503, as RFC 6749 §4.1.2.1 defines it for the
// authorization endpoint. RFC 6749 §5.2 has no such code for the token endpoint;
// clients handle it there too (the broker already answers it when an upstream
// cannot be reached), and it tells them to retry, which invalid_client or
// server_error would not.
var errStoreDown = fosite.ErrTemporarilyUnavailable.WithHint("The identity service cannot reach its database; retry in a few seconds.")

// storeDown reports whether err comes from a failure to reach the store.
func storeDown(err error) bool { return err != nil && errors.Is(err, storage.ErrUnavailable) }

// unavailable returns err as temporarily_unavailable when the store could not be
// reached, whatever fosite made of it: fosite answers a failed GetClient with
// invalid_client (telling the application its credentials are wrong) and an
// unwrapped store error with the non-standard code "error" (issue #7).
func unavailable(err error) error {
	if !storeDown(err) {
		return err
	}
	return errStoreDown.WithWrap(err).WithDebug(err.Error())
}

// unavailablePage returns the status and message key of the error page to show
// instead of status and key when cause is a failure to reach the store: a flow
// that could not be read has not expired, and the person may retry (issue #7).
func unavailablePage(status int, key string, cause error) (int, string) {
	if storeDown(cause) && status != http.StatusServiceUnavailable {
		return http.StatusServiceUnavailable, "error.unavailable"
	}
	return status, key
}
