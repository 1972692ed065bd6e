// Package rp runs independent relying parties against a real JusticeConnect process:
// the certified RP library openid-client (Node, strict settings) against the
// `justiceconnect demo` binary, the same command README.md gives newcomers.
package rp
