// Package flow is the record of one browser login in progress, from the moment
// /authorize finds no usable SSO session to the moment the authorization response is
// sent. States:
//
//	AwaitingLogin --(provider chosen, redirect upstream)--> AwaitingLogin (Provider, Pending set)
//	AwaitingLogin --(finish: identity mapped, SSO session started)--> Authenticated
//	Authenticated --(resume with the single-use verifier, consent if needed)--> Done
//
// A flow is bound to the browser that started it (hash of the __Host- binding cookie),
// expires after a short lifetime, and is updated with optimistic concurrency, so a
// verifier can be used once even when two requests race.
package flow
