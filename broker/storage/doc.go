// Package storage defines the broker's one Store: fosite's storage interfaces plus
// clients, login flows, SSO sessions, consents, signing keys, one-time markers and the
// audit trail. Two implementations live below it, sqlite (the embedded default) and
// postgres (shared by several broker nodes), and both pass the conformance suite in
// storagetest, which pins down the contracts fosite's security relies on:
// invalidated codes come back with their requester, rotated refresh tokens stay as
// inactive rows, and two concurrent redemptions of one code give one success.
package storage
