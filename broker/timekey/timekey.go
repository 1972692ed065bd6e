// Package timekey makes the keys the broker stores tokens under start with the
// time the token was issued.
//
// A token's storage key is derived from the token (its signature part), so it
// is random, and each new token went into the signature index at a random leaf.
// On a store of a million tokens that leaf is rarely in memory: a page read and a
// page written per index per token, and more distinct pages for every WAL
// checkpoint to copy (docs/PERFORMANCE.md, "A million rows: where the cost
// goes"). A key that starts with the issue time puts new tokens at the right edge
// of the index, where the pages are hot. The random part that follows keeps the
// key as unguessable as before.
package timekey

import (
	"crypto/rand"
	"strings"
	"time"
)

// PrefixLen is the length of a prefix: 12 hex digits, 48 bits of milliseconds
// (until the year 10889).
const PrefixLen = 12

const hexDigits = "0123456789abcdef"

// Prefix returns t's Unix time in milliseconds as 12 lowercase hex digits: the
// 48 bits a version 7 UUID starts with (RFC 9562 §5.7.1). Prefixes sort by time
// byte-wise (SQLite's BINARY collation) and under any collation that orders
// digits before letters.
func Prefix(t time.Time) string {
	ms := uint64(t.UnixMilli()) & (1<<48 - 1)
	var b [PrefixLen]byte
	for i := PrefixLen - 1; i >= 0; i-- {
		b[i] = hexDigits[ms&0xf]
		ms >>= 4
	}
	return string(b[:])
}

// Separator follows the time prefix in a key. It is not in the base64url
// alphabet, so no key from before time keys (a bare signature) can be mistaken
// for one that carries a time.
const Separator = '~'

// Key returns the storage key of a token issued at t whose own signature is sig.
func Key(t time.Time, sig string) string {
	return JoinKey(Prefix(t), sig)
}

// JoinKey returns the storage key for a time prefix and a signature: "" when
// there is no signature (an unknown token).
func JoinKey(prefix, sig string) string {
	if sig == "" {
		return ""
	}
	return prefix + string(Separator) + sig
}

// Tags of the opaque tokens that carry their time (package oidc): the token is
// the tag, the time prefix, then fosite's key.hmac.
const (
	CodeTag    = "jc_ac_"
	RefreshTag = "jc_rt_"
)

// Of returns the time prefix a storage key (Key) or a token (CodeTag,
// RefreshTag) starts with, and "" when it carries none. The store keeps that
// prefix in front of the hash it stores keys under, so hashing does not scatter
// them again.
func Of(k string) string {
	for _, tag := range []string{CodeTag, RefreshTag} {
		if rest, ok := strings.CutPrefix(k, tag); ok {
			if len(rest) > PrefixLen && IsPrefix(rest[:PrefixLen]) {
				return rest[:PrefixLen]
			}
			return ""
		}
	}
	if len(k) > PrefixLen+1 && k[PrefixLen] == Separator && IsPrefix(k[:PrefixLen]) {
		return k[:PrefixLen]
	}
	return ""
}

// IsPrefix reports whether s is 12 lowercase hex digits.
func IsPrefix(s string) bool {
	if len(s) != PrefixLen {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// UUIDv7 returns the version 7 UUID (RFC 9562 §5.7) for time t and 16 random
// bytes, of which it keeps 74 bits; its first 12 hex digits are Prefix(t).
func UUIDv7(t time.Time, random [16]byte) string {
	b := random
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	b[6] = 0x70 | b[6]&0x0f // version 7
	b[8] = 0x80 | b[8]&0x3f // variant 10 (RFC 9562 §4.1)
	var s [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hexDigits[c>>4], hexDigits[c&0xf]
		j += 2
	}
	return string(s[:])
}

// NewUUIDv7 returns a version 7 UUID for time t with random bits from crypto/rand.
func NewUUIDv7(t time.Time) string {
	var r [16]byte
	_, _ = rand.Read(r[:]) // never fails (crypto/rand, Go 1.24)
	return UUIDv7(t, r)
}

// PrefixOfUUIDv7 returns the time prefix of a version 7 UUID in its canonical
// lowercase form, and false for anything else.
func PrefixOfUUIDv7(id string) (string, bool) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[14] != '7' || id[18] != '-' || id[23] != '-' {
		return "", false
	}
	p := id[:8] + id[9:13]
	return p, IsPrefix(p)
}
