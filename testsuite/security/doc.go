// Package security turns the rows of SECURITY.md §3 that concern the broker's own
// pages and sessions into black-box tests against an in-process broker.
package security
