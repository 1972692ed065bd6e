// Package mapping is the one place where what an upstream says becomes what the
// broker asserts: it turns a providers.Identity (attributes under the upstream's own
// names, and authentication facts) into the claims of VOCABULARY.md and an acr.
// Step 4 of the login flow (finish) calls it. Rules come from configuration per
// provider; anything the rules do not produce is never issued — an unknown profession
// gives no profession claim, a court value that maps to no known code gives no court
// (and a warning in the log), never a guess.
package mapping
