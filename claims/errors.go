package claims

import "errors"

// Sentinel errors of Verifier.Verify, for errors.Is. Every refusal of the token
// itself matches ErrInvalidToken and, where one applies, one of the more precise
// sentinels; failures to reach the issuer (ErrKeySetUnavailable,
// ErrIntrospectionUnavailable) do not match ErrInvalidToken, so a resource server
// can tell "bad token" (401) from "cannot check now" (503).
var (
	ErrInvalidToken  = errors.New("invalid token")
	ErrMalformed     = errors.New("malformed token")
	ErrWrongType     = errors.New("wrong token type")
	ErrAlgorithm     = errors.New("signature algorithm not allowed")
	ErrHeader        = errors.New("forbidden JOSE header")
	ErrUnknownKey    = errors.New("unknown signing key")
	ErrSignature     = errors.New("bad signature")
	ErrMissingClaim  = errors.New("required claim missing")
	ErrExpired       = errors.New("token expired")
	ErrNotYetValid   = errors.New("token not yet valid")
	ErrWrongIssuer   = errors.New("wrong issuer")
	ErrWrongAudience = errors.New("wrong audience")
	ErrInactive      = errors.New("token not active")

	ErrKeySetUnavailable        = errors.New("claims: issuer key set unavailable")
	ErrIntrospectionUnavailable = errors.New("claims: introspection endpoint unavailable")
)

// tokenError is a refusal of the token: it matches ErrInvalidToken and its kind.
type tokenError struct {
	kind   error
	detail string
	cause  error
}

func (e *tokenError) Error() string {
	s := "claims: invalid token: " + e.kind.Error()
	if e.detail != "" {
		s += ": " + e.detail
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

func (e *tokenError) Is(target error) bool { return target == ErrInvalidToken || target == e.kind }

func (e *tokenError) Unwrap() error { return e.cause }

func invalid(kind error, detail string) error { return &tokenError{kind: kind, detail: detail} }

func invalidCause(kind error, detail string, cause error) error {
	return &tokenError{kind: kind, detail: detail, cause: cause}
}
