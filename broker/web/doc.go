// Package web holds every page people see — the provider chooser, the password
// form, consent, errors, logout confirmation, "logged out" and the auto-post
// relay to upstream SAML identity providers — as html/template files embedded in
// the binary, in French by default and in English on request (ui_locales, then
// Accept-Language).
//
// In the login flow (see DESIGN.md "One login, browser to token") broker/login
// renders ChooserPage (step 3), LoginPage and AutoPostPage (step 4); broker/oidc
// renders ConsentPage (step 5), the logout pages and ErrorPage for any step.
// Handlers pass message keys (KeyBadCredentials, KeyFlowExpired...) or text; the
// browser never sees technical detail, only a plain message and the correlation
// ID that leads to the cause in the log.
//
// The pages have the look of the DSFR (Système de design de l'État): a small
// part of the npm package @gouvfr/dsfr is vendored in vendor/dsfr (version in
// vendor/dsfr/VERSION, licence in vendor/dsfr/LICENSE.md, refreshed with
// vendor/refresh-dsfr.sh) and served by StaticHandler under a content-hashed
// path, with static/justiceconnect.css and static/autopost.js. No DSFR
// JavaScript is used: every page works without JavaScript, and nothing is loaded
// from another site (SECURITY.md D2).
//
// SecurityHeaders/SecurityHeadersWith set the headers every response carries:
// a strict Content-Security-Policy with frame-ancestors 'none' and
// X-Frame-Options against clickjacking (SECURITY.md D1), Referrer-Policy
// no-referrer (D2), nosniff, COOP, a Permissions-Policy and HSTS over TLS. The
// policy allows no inline script or style, so templates must not add any.
//
// Accessibility follows the RGAA basics: <html lang>, one h1 per page, a skip
// link, labels tied to every field, errors linked with aria-describedby, DSFR
// focus rings and colours, and titles of the form "Titre — JusticeConnect".
package web
