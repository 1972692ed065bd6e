// Package faults injects faults into a running broker and its real upstream peers
// (testsuite/peer) and asserts what people and clients observe (issue #8): a
// directory that stops answering (slapd SIGSTOP), a slow SAML IdP (a delaying
// reverse proxy in front of its metadata URL), an OIDC provider whose token endpoint
// returns garbage (a corrupting proxy), and a full disk under the SQLite store (a
// small tmpfs). Each test asserts the error page or OAuth error, /readyz, that
// nothing committed is lost, and that service resumes by itself when the fault
// ends. A missing peer, or a machine where tmpfs cannot be mounted, fails the
// tests; nothing is skipped.
package faults
