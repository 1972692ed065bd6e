// Package keys manages the broker's signing keys and cookie keys: generation at
// first start, encryption at rest with the key-encryption key (AES-256-GCM, the kid
// as additional data), rotation that publishes the next key before it signs and keeps
// a retired key in JWKS until everything it signed has expired (OIDC Core 10.1.1),
// and the JWKS document. Several nodes sharing one store write keys one at a time
// (the store's advisory lock) and converge on rotations by re-reading it.
package keys
