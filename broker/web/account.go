package web

// AccountConsent is one application the person allowed, on the account page.
type AccountConsent struct {
	// ClientID goes back in the withdraw form.
	ClientID string
	// ClientName and Organization name the application and who runs it.
	ClientName, Organization string
	// Scopes are the plain descriptions of what the application receives.
	Scopes []string
	// GrantedAt is the day of the agreement for people (see Date); GrantedISO
	// the same day as YYYY-MM-DD for <time datetime>.
	GrantedAt, GrantedISO string
}

// AccountPage lists the consents of the logged-in person, each with a form that
// withdraws it (POST to Action with client_id). It works without JavaScript. When
// LoggedOut is set it only explains how to get there.
type AccountPage struct {
	Lang, CorrelationID string
	LoggedOut           bool
	// Name is the person's name, when known.
	Name     string
	Consents []AccountConsent
	Action   string
	// Notice is a success message, Error an error message above the list; text or key.
	Notice, Error string
}

func (AccountPage) template() string { return "account" }

func (p AccountPage) lang() string { return p.Lang }
