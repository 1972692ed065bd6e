// Package conformance is our black-box re-implementation of the OpenID Foundation
// conformance modules that apply to JusticeConnect (SECURITY.md §1.2–1.4: the Basic
// OP, Config OP and RP-initiated logout plans), since the suite itself cannot run on
// these machines (§1.1). Each test is named after the module it re-implements and
// fails when the broker answers otherwise.
package conformance
