// Package web holds every page people see — chooser, password form, consent,
// errors, logout — as embedded html/template files, in French by default and in
// English on request, with the look of the French state design system (DSFR), no
// JavaScript required and no third-party resource loaded. It also sets the security
// headers every response carries (SECURITY.md D1, D2).
package web
