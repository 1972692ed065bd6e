// Package ldap is the password provider for the ministry's agent directory (OpenLDAP,
// 389-DS or Active Directory spoken to over LDAPv3). The broker's password form hands
// it a username and a password; it answers with an Identity or one of the contract's
// sentinel errors (providers.ErrBadCredentials, ErrAccountDisabled, ErrUnavailable,
// ErrThrottled). It also implements providers.Refresher (a disabled or deleted
// account stops getting tokens) and providers.AttributeSource (a smart-card login is
// enriched from the directory by, for example, the certificate's serial number).
//
// Place in the login flow: step 4 of DESIGN.md, the "form POST" style; the Identity
// goes to broker/mapping, which alone turns memberOf, employeeType and
// departmentNumber into claims through an explicit allow-list (SECURITY.md H8).
//
// How a login goes (SECURITY.md §3.H):
//
//   - Empty usernames or passwords are refused before any traffic: a simple bind
//     with a DN and an empty password is an unauthenticated bind that servers
//     accept (RFC 4513 §5.1.2), and an empty name an anonymous one (§5.1.1).
//   - A read-only service account finds the entry with user_filter, the username
//     escaped as an assertion value (RFC 4515 §3, ldap.EscapeFilter): "*", "(",
//     ")", "\", NUL are matched literally. No DN is ever built from the input, so
//     RFC 4514 escaping is never needed: the user's DN is the one the directory
//     returned.
//   - The password is checked by a simple bind (RFC 4513 §5.1.3) as that DN. When
//     the search found nothing, the same bind is made against a random DN that
//     does not exist, so an unknown user and a wrong password cost the same
//     round trips and give the same error (SECURITY.md D11). Choice made: a real
//     dummy bind rather than a sleep, because it tracks the directory's actual
//     latency.
//   - The search before the bind asks for DNs only, so that a hit costs the
//     directory about what a miss does (no memberOf expansion).
//   - Attributes are read after the password was verified, by a base search whose
//     filter is the negation of disabled_filter: "account disabled" tells nothing
//     to someone without the password, and a filter the directory cannot
//     evaluate (Undefined, RFC 4511 §4.5.1.7) disables rather than lets in.
//   - Failures are throttled in memory per account and per client address
//     (providers.ClientAddr): exponential delays, capped, never a permanent lockout.
//
// Connections: two pools of pool_size connections each. The search pool's
// connections are bound once as the service account and never as anyone else. The
// bind pool's connections only ever carry users' binds; each use starts with a
// bind, which replaces the connection's authorization state (RFC 4513 §4), so
// nothing is ever read with a user's rights. New connections try the URLs in order
// (failover); TLS is ldaps:// or StartTLS (RFC 4513 §3) with certificate
// verification, and every operation (connect, TLS, search, bind, waiting for a
// connection) is bounded by timeout: a hung directory gives ErrUnavailable, never a
// hung login (SECURITY.md H6, H7).
//
// Logs carry usernames and DNs, never passwords.
package ldap
