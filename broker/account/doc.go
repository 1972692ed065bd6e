// Package account is the person's own page, /compte: while their SSO session is
// live they see the applications of other organisations they agreed to share
// information with (the consents given on the consent page, step 5 of the login
// flow in DESIGN.md), what each receives in plain words and since when, and can
// withdraw an agreement. Withdrawing revokes the consent and the application's
// tokens for the person in one store transaction and writes an audit event; the
// next authorization at that application asks for consent again.
package account
