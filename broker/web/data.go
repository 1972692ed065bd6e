package web

// The page data. Every page has Lang ("fr", the default, or "en"; anything else
// is French) and CorrelationID, the request ID shown small at the bottom of the
// page so people can quote it to support. Text fields are plain text: the
// templates escape them. Fields documented as "text or key" take either a
// message key of T (translated in the page's language) or text to show as is.
// Hidden maps become hidden form fields, in key order.

// LoginPage is the username/password form of a PasswordProvider.
type LoginPage struct {
	Lang, CorrelationID string
	// ClientName is the application the person is logging in to.
	ClientName string
	// ProviderLabel names the identity source ("Annuaire du ministère").
	ProviderLabel string
	// Action is the URL the form POSTs to.
	Action string
	// Hidden are the form's hidden fields (flow, provider).
	Hidden map[string]string
	// Username pre-fills the username field (login_hint, or the last attempt).
	Username string
	// Error is shown above the form in an alert the fields point to with
	// aria-describedby; text or key (KeyBadCredentials...).
	Error string
	// BackURL, when set, links back to the chooser.
	BackURL string
}

// Choice is one identity source on the chooser.
type Choice struct {
	ID, Label, Description string
	// Action is the URL the choice's form POSTs to.
	Action string
	Hidden map[string]string
	// Unavailable shows the choice greyed out, marked "momentanément indisponible".
	Unavailable bool
	// LastUsed marks the way the person logged in last time on this browser.
	LastUsed bool
}

// ChooserPage lets the person pick how to log in: one form and button per choice.
type ChooserPage struct {
	Lang, CorrelationID, ClientName string
	Choices                         []Choice
}

// ConsentItem is one kind of information on the consent page.
type ConsentItem struct{ Label, Detail string }

// ConsentPage asks before information goes to an application of another
// organisation. Its buttons post decision=allow or decision=deny.
type ConsentPage struct {
	Lang, CorrelationID string
	ClientName          string
	// Organization is who asks ("Organisation X souhaite accéder..."); ClientName
	// when empty.
	Organization string
	Action       string
	Hidden       map[string]string
	Items        []ConsentItem
}

// ErrorPage is the plain error page. It never shows technical detail; the
// correlation ID links what the person sees to the cause in the log.
type ErrorPage struct {
	Lang, CorrelationID string
	// Title and Message are text or keys; empty ones get a default by Status.
	Title, Message string
	// Status is the HTTP status the page is rendered with (for the default texts).
	Status int
	// RetryURL, when set, is offered as a "Réessayer" button.
	RetryURL string
	// ReturnURL, when set, is offered as a "Retourner à ReturnTo" button (the
	// application, told of the refusal).
	ReturnURL, ReturnTo string
	// Chosen marks a page that answers what the person chose (a cancel at the
	// identity provider), not a fault: an information alert, and no request to
	// contact support. The incident reference stays, for the application's logs.
	Chosen bool
}

// LogoutConfirmPage asks before logging out on a request we cannot trust (no valid
// id_token_hint). Its buttons post decision=logout or decision=cancel.
type LogoutConfirmPage struct {
	Lang, CorrelationID string
	// ClientName is the application asking, when known.
	ClientName string
	Action     string
	Hidden     map[string]string
}

// LoggedOutPage says the session ended. The front-channel logout URLs of the
// applications (OIDC Front-Channel Logout 1.0 §2) load in hidden frames; Render
// adds their origins to the response's frame-src.
type LoggedOutPage struct {
	Lang, CorrelationID string
	FrontchannelURLs    []string
	// ReturnURL, when set, is a link back to the application.
	ReturnURL string
}

// AutoPostPage carries a form to another site (SAML HTTP-POST binding,
// OAuth form_post). A small script from /static submits it; without JavaScript a
// visible "Continuer" button does. Render adds Action's origin to form-action.
type AutoPostPage struct {
	Lang, CorrelationID, Action string
	Fields                      map[string]string
}

// MessagePage is a plain information page. Title and Message are text or keys.
type MessagePage struct{ Lang, CorrelationID, Title, Message string }

func (LoginPage) template() string         { return "login" }
func (ChooserPage) template() string       { return "chooser" }
func (ConsentPage) template() string       { return "consent" }
func (ErrorPage) template() string         { return "error" }
func (LogoutConfirmPage) template() string { return "logout_confirm" }
func (LoggedOutPage) template() string     { return "logged_out" }
func (AutoPostPage) template() string      { return "autopost" }
func (MessagePage) template() string       { return "message" }

func (p LoginPage) lang() string         { return p.Lang }
func (p ChooserPage) lang() string       { return p.Lang }
func (p ConsentPage) lang() string       { return p.Lang }
func (p ErrorPage) lang() string         { return p.Lang }
func (p LogoutConfirmPage) lang() string { return p.Lang }
func (p LoggedOutPage) lang() string     { return p.Lang }
func (p AutoPostPage) lang() string      { return p.Lang }
func (p MessagePage) lang() string       { return p.Lang }
