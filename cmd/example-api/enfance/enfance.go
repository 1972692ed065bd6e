// Package enfance is the handler of the example API (command example-api), "API
// des mesures de protection de l'enfance", kept out of package main so tests can
// serve it (testsuite/api).
package enfance

import (
	"encoding/json"
	"net/http"

	"github.com/justiceconnect/justiceconnect/claims"
)

// Requirements of the urgent-cases route.
const (
	UrgentRole  = "juge_enfants"
	UrgentCourt = "TJ75101"
	// MinACR is the assurance level of the urgent-cases route. eidas1 lets the
	// example run against password logins (demo and test brokers); production
	// requires claims.EIDAS3 (smart card).
	MinACR = claims.EIDAS1
)

// NewAPI returns the API's handler, every route guarded by v:
//
//	GET /dossiers           scope profession and any profession of the vocabulary
//	GET /dossiers/urgents   profession magistrat, role juge_enfants at TJ75101,
//	                        acr MinACR or higher
//
// Answers are JSON: the caller (sub, profession, acr, act when present) and the
// cases. Refusals are the claims middleware's RFC 6750 answers.
func NewAPI(v *claims.Verifier) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /dossiers", v.Middleware(
		claims.HasScope(claims.ScopeProfession),
		claims.HasProfession(claims.Professions()...),
	)(http.HandlerFunc(listDossiers)))
	mux.Handle("GET /dossiers/urgents", v.Middleware(
		claims.HasProfession(claims.Magistrat),
		claims.HasRole(UrgentRole, UrgentCourt),
		claims.AtLeast(MinACR),
	)(http.HandlerFunc(listUrgents)))
	return mux
}

// caller is who called, as the answers report it.
type caller struct {
	Subject    string        `json:"sub"`
	Profession string        `json:"profession,omitempty"`
	ACR        string        `json:"acr,omitempty"`
	Act        *claims.Actor `json:"act,omitempty"`
}

type dossier struct {
	ID          string `json:"id"`
	Juridiction string `json:"juridiction"`
	Mesure      string `json:"mesure"`
	Urgent      bool   `json:"urgent"`
}

// Made-up cases: the example has no data store.
var dossiers = []dossier{
	{ID: "AE-2024-0117", Juridiction: "TJ75101", Mesure: "assistance éducative", Urgent: true},
	{ID: "AE-2024-0342", Juridiction: "TJ75101", Mesure: "placement provisoire", Urgent: true},
	{ID: "AE-2023-0981", Juridiction: "TJ01053", Mesure: "mesure judiciaire d'investigation éducative"},
}

func listDossiers(w http.ResponseWriter, r *http.Request) {
	writeAnswer(w, r, dossiers)
}

func listUrgents(w http.ResponseWriter, r *http.Request) {
	var out []dossier
	for _, d := range dossiers {
		if d.Urgent && d.Juridiction == UrgentCourt {
			out = append(out, d)
		}
	}
	writeAnswer(w, r, out)
}

func writeAnswer(w http.ResponseWriter, r *http.Request, ds []dossier) {
	c, ok := claims.FromContext(r.Context())
	if !ok { // only reachable if a route is registered without the middleware
		http.Error(w, "unauthenticated", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(struct {
		Caller   caller    `json:"caller"`
		Dossiers []dossier `json:"dossiers"`
	}{
		Caller:   caller{Subject: c.Subject, Profession: string(c.Profession), ACR: string(c.ACR), Act: c.Act},
		Dossiers: ds,
	})
}
