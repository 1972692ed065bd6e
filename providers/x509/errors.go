package x509

import (
	"errors"

	"github.com/justiceconnect/justiceconnect/providers"
)

// ErrCertificateRejected is wrapped by every refusal of the certificate itself.
// RejectReason tells why, so that the broker can show a plain French message. A
// rejection for a reason other than ReasonRevocationUnavailable also wraps
// providers.ErrBadCredentials; ReasonRevocationUnavailable wraps
// providers.ErrUnavailable instead (the card may be fine; the broker could not tell).
var ErrCertificateRejected = errors.New("x509: certificate rejected")

// Reasons returned by RejectReason.
const (
	// ReasonMissing: no client certificate was presented.
	ReasonMissing = "missing"
	// ReasonExpired: the certificate (or a CA of its chain) is past its notAfter.
	ReasonExpired = "expired"
	// ReasonNotYetValid: the certificate is before its notBefore.
	ReasonNotYetValid = "not_yet_valid"
	// ReasonUntrusted: the chain does not lead to a configured trust anchor, or is
	// malformed.
	ReasonUntrusted = "untrusted"
	// ReasonRevoked: a CRL or OCSP responder says the certificate (or a CA of its
	// chain) is revoked or on hold.
	ReasonRevoked = "revoked"
	// ReasonWrongUsage: the certificate is not for client authentication (extended
	// key usage, key usage, or it is a CA).
	ReasonWrongUsage = "wrong_usage"
	// ReasonPolicy: none of required_policies is asserted or valid for the chain.
	ReasonPolicy = "policy"
	// ReasonRevocationUnavailable: no current revocation information could be had.
	ReasonRevocationUnavailable = "revocation_unavailable"
)

// rejection is the error of a refused certificate.
type rejection struct {
	reason string
	detail string
}

func (e *rejection) Error() string {
	return "x509: certificate rejected (" + e.reason + "): " + e.detail
}

func (e *rejection) Unwrap() []error {
	if e.reason == ReasonRevocationUnavailable {
		return []error{ErrCertificateRejected, providers.ErrUnavailable}
	}
	return []error{ErrCertificateRejected, providers.ErrBadCredentials}
}

func reject(reason, detail string) error {
	return &rejection{reason: reason, detail: detail}
}

// RejectReason returns the Reason... constant of a certificate rejection found in
// err's chain, or "" when err is not one (nil, unknown user, directory down).
func RejectReason(err error) string {
	var r *rejection
	if errors.As(err, &r) {
		return r.reason
	}
	return ""
}

// Reason implements the providers.Reason convention, so the broker can word its
// page without importing this package.
func (e *rejection) Reason() string { return e.reason }
