package web

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Languages the pages exist in. French is the reference: every key has a French
// text, and a key missing in English falls back to French.
const (
	French  = "fr"
	English = "en"
)

// Message keys handlers pass to T or put in LoginPage.Error / ErrorPage.Message.
// The page texts themselves (titles, labels) use other keys of the same table.
const (
	KeyBadCredentials  = "login.bad_credentials"
	KeyThrottled       = "login.throttled"
	KeyLoginUnavail    = "login.unavailable"
	KeyEmpty           = "login.empty"
	KeyDisabled        = "login.disabled"
	KeyGeneric         = "error.generic"
	KeyFlowExpired     = "error.flow_expired"
	KeyBadRequest      = "error.bad_request"
	KeyAccessDenied    = "error.access_denied"
	KeyCancelledTitle  = "login.cancelled.title"
	KeyCancelled       = "login.cancelled"
	KeyUnavailable     = "error.unavailable"
	KeyNotFound        = "error.not_found"
	KeyInvalidRedirect = "error.invalid_redirect"
	KeyCSRF            = "error.csrf"
	KeyPopulation      = "error.population"
	KeyLogoutDone      = "logout.done"
)

// productPlaceholder in a message is replaced by Options.ProductName.
const productPlaceholder = "{product}"

// messages are the page texts by language and key. Texts are plain: html/template
// escapes them where they are used. They never carry technical detail (SECURITY.md:
// the browser sees a plain message and a correlation ID, the cause goes to the log).
var messages = map[string]map[string]string{
	French: {
		"skip":     "Contenu",
		"skip.nav": "Accès rapide",
		"tagline":  "Identification des professionnels de la justice",
		"footer":   "{product} permet aux magistrats, greffiers, avocats et commissaires de justice de s'identifier auprès des applications de la justice.",
		"ref":      "Référence pour le support",
		"required": "Tous les champs sont obligatoires.",

		"login.title":           "Se connecter",
		"login.for":             "pour accéder à",
		"login.provider":        "Moyen d'identification :",
		"login.username":        "Identifiant",
		"login.password":        "Mot de passe",
		"login.submit":          "Se connecter",
		"login.back":            "Choisir un autre moyen d'identification",
		"login.bad_credentials": "Identifiant ou mot de passe incorrect.",
		"login.throttled":       "Trop de tentatives de connexion. Patientez quelques minutes avant de réessayer.",

		"card.title":                  "Connexion par carte agent",
		"card.missing":                "Aucune carte agent n'a été présentée. Insérez votre carte dans le lecteur, puis réessayez.",
		"card.untrusted_header":       "La connexion par carte n'a pas pu être vérifiée. Réessayez depuis l'application.",
		"card.expired":                "Le certificat de votre carte agent a expiré. Adressez-vous à votre correspondant informatique pour la renouveler.",
		"card.not_yet_valid":          "Le certificat de votre carte agent n'est pas encore valide. Réessayez à partir de sa date de validité.",
		"card.untrusted":              "Cette carte n'a pas été délivrée par une autorité reconnue par le ministère.",
		"card.revoked":                "Le certificat de votre carte agent a été révoqué. Adressez-vous à votre correspondant informatique.",
		"card.wrong_usage":            "Ce certificat ne permet pas de s'identifier. Choisissez le certificat d'authentification de votre carte agent.",
		"card.policy":                 "Ce certificat ne relève pas d'une politique de certification acceptée pour l'identification.",
		"card.revocation_unavailable": "La validité de votre carte ne peut pas être vérifiée pour le moment. Réessayez dans quelques minutes.",
		"card.unknown_user":           "Votre carte est valide, mais elle ne correspond à aucun agent de l'annuaire. Adressez-vous à votre correspondant informatique.",
		"card.disabled":               "Votre compte d'agent est désactivé.",
		"card.unavailable":            "L'annuaire des agents est momentanément indisponible. Réessayez dans quelques minutes.",
		"card.refused":                "Votre carte n'a pas pu être acceptée.",
		"login.unavailable":           "Ce moyen d'identification est momentanément indisponible. Réessayez dans quelques minutes.",
		"login.cancelled.title":       "Connexion annulée",
		"login.cancelled":             "Vous avez annulé la connexion auprès de votre fournisseur d'identité. Vous pouvez retourner à l'application.",
		"login.empty":                 "Saisissez votre identifiant et votre mot de passe.",
		"login.disabled":              "Ce compte est désactivé. Contactez votre service informatique.",

		"chooser.title":       "Choisissez comment vous identifier",
		"chooser.for":         "pour accéder à",
		"chooser.unavailable": "momentanément indisponible",
		"chooser.last":        "Utilisé lors de votre dernière connexion",
		"chooser.none":        "Aucun moyen d'identification n'est disponible pour le moment. Réessayez dans quelques minutes.",

		"consent.title": "Partage de vos informations",
		"consent.intro": "souhaite accéder aux informations suivantes :",
		"consent.app":   "Application :",
		"consent.allow": "Autoriser",
		"consent.deny":  "Refuser",
		"consent.note":  "Si vous refusez, vous ne serez pas connecté à cette application.",

		"error.title":            "Une erreur est survenue",
		"error.title.400":        "Demande invalide",
		"error.title.403":        "Accès refusé",
		"error.title.404":        "Page introuvable",
		"error.title.503":        "Service momentanément indisponible",
		"error.generic":          "Une erreur inattendue est survenue. Recommencez depuis l'application.",
		"error.flow_expired":     "Votre demande de connexion a expiré. Recommencez depuis l'application.",
		"error.bad_request":      "La demande reçue n'est pas valide. Recommencez depuis l'application.",
		"error.access_denied":    "L'accès à cette application vous a été refusé.",
		"error.unavailable":      "Le service est momentanément indisponible. Réessayez dans quelques minutes.",
		"error.not_found":        "La page demandée n'existe pas.",
		"error.invalid_redirect": "L'application n'est pas correctement enregistrée auprès de {product}. Contactez le service qui la gère.",
		"error.csrf":             "La demande n'a pas pu être vérifiée. Recommencez depuis l'application.",
		"error.population":       "Cette application n'est pas ouverte à votre profession.",
		"error.incident":         "Identifiant de l'incident :",
		"error.support":          "Si le problème persiste, communiquez cet identifiant au support.",
		"error.retry":            "Réessayer",
		"error.return":           "Retourner à",

		"logout.confirm.title":   "Déconnexion",
		"logout.confirm.text":    "Voulez-vous vous déconnecter de {product} ?",
		"logout.confirm.app":     "Demande de l'application :",
		"logout.confirm.yes":     "Se déconnecter",
		"logout.confirm.no":      "Annuler",
		"logout.cancelled.title": "Vous êtes toujours connecté",
		"logout.cancelled":       "Votre session {product} continue. Vous pouvez fermer cette page.",
		"logout.done.title":      "Vous êtes déconnecté",
		"logout.done":            "Vous êtes déconnecté de {product} et des applications où vous étiez connecté.",
		"logout.frame":           "Déconnexion d'une application",
		"logout.return":          "Retourner à l'application",

		"autopost.title":    "Redirection en cours",
		"autopost.text":     "Vous allez être redirigé vers votre service d'identification. Si rien ne se passe, sélectionnez « Continuer ».",
		"autopost.continue": "Continuer",
	},
	English: {
		"skip":     "Content",
		"skip.nav": "Quick access",
		"tagline":  "Identification of justice professionals",
		"footer":   "{product} lets judges, clerks, lawyers and bailiffs log in to the justice applications.",
		"ref":      "Reference for support",
		"required": "All fields are required.",

		"login.title":           "Log in",
		"login.for":             "to access",
		"login.provider":        "Log in with:",
		"login.username":        "Username",
		"login.password":        "Password",
		"login.submit":          "Log in",
		"login.back":            "Choose another way to log in",
		"login.bad_credentials": "Wrong username or password.",
		"login.throttled":       "Too many login attempts. Wait a few minutes before trying again.",

		"card.title":                  "Agent card login",
		"card.missing":                "No agent card was presented. Insert your card in the reader and try again.",
		"card.untrusted_header":       "The card login could not be verified. Start again from the application.",
		"card.expired":                "Your agent card's certificate has expired. Ask your IT contact to renew it.",
		"card.not_yet_valid":          "Your agent card's certificate is not valid yet.",
		"card.untrusted":              "This card was not issued by an authority the ministry recognises.",
		"card.revoked":                "Your agent card's certificate has been revoked. Contact your IT contact.",
		"card.wrong_usage":            "This certificate cannot be used to log in. Choose your agent card's authentication certificate.",
		"card.policy":                 "This certificate does not come under a certificate policy accepted for login.",
		"card.revocation_unavailable": "Your card's validity cannot be checked right now. Try again in a few minutes.",
		"card.unknown_user":           "Your card is valid but matches no agent in the directory. Contact your IT contact.",
		"card.disabled":               "Your agent account is disabled.",
		"card.unavailable":            "The agent directory is temporarily unavailable. Try again in a few minutes.",
		"card.refused":                "Your card could not be accepted.",
		"login.unavailable":           "This way of logging in is temporarily unavailable. Try again in a few minutes.",
		"login.cancelled.title":       "Login cancelled",
		"login.cancelled":             "You cancelled the login at your identity provider. You can go back to the application.",
		"login.empty":                 "Enter your username and your password.",
		"login.disabled":              "This account is disabled. Contact your IT department.",

		"chooser.title":       "Choose how to log in",
		"chooser.for":         "to access",
		"chooser.unavailable": "temporarily unavailable",
		"chooser.last":        "Used at your last login",
		"chooser.none":        "No way of logging in is available at the moment. Try again in a few minutes.",

		"consent.title": "Sharing your information",
		"consent.intro": "would like to access the following information:",
		"consent.app":   "Application:",
		"consent.allow": "Allow",
		"consent.deny":  "Deny",
		"consent.note":  "If you deny, you will not be logged in to this application.",

		"error.title":            "An error occurred",
		"error.title.400":        "Invalid request",
		"error.title.403":        "Access denied",
		"error.title.404":        "Page not found",
		"error.title.503":        "Service temporarily unavailable",
		"error.generic":          "An unexpected error occurred. Start again from the application.",
		"error.flow_expired":     "Your login request has expired. Start again from the application.",
		"error.bad_request":      "The request is not valid. Start again from the application.",
		"error.access_denied":    "Access to this application was denied.",
		"error.unavailable":      "The service is temporarily unavailable. Try again in a few minutes.",
		"error.not_found":        "The page you asked for does not exist.",
		"error.invalid_redirect": "The application is not correctly registered with {product}. Contact the team that runs it.",
		"error.csrf":             "The request could not be verified. Start again from the application.",
		"error.population":       "This application is not open to your profession.",
		"error.incident":         "Incident reference:",
		"error.support":          "If the problem persists, give this reference to support.",
		"error.retry":            "Try again",
		"error.return":           "Back to",

		"logout.confirm.title":   "Log out",
		"logout.confirm.text":    "Do you want to log out of {product}?",
		"logout.confirm.app":     "Requested by the application:",
		"logout.confirm.yes":     "Log out",
		"logout.confirm.no":      "Cancel",
		"logout.cancelled.title": "You are still logged in",
		"logout.cancelled":       "Your {product} session goes on. You may close this page.",
		"logout.done.title":      "You are logged out",
		"logout.done":            "You are logged out of {product} and of the applications you were logged in to.",
		"logout.frame":           "Logging out of an application",
		"logout.return":          "Back to the application",

		"autopost.title":    "Redirecting",
		"autopost.text":     "You are being sent to your identity service. If nothing happens, select “Continue”.",
		"autopost.continue": "Continue",
	},
}

// normLang maps anything but English to French, the default.
func normLang(lang string) string {
	if lang == English {
		return English
	}
	return French
}

// lookup returns the text of key in lang, falling back to French.
func (p *Pages) lookup(lang, key string) (string, bool) {
	s, ok := messages[normLang(lang)][key]
	if !ok {
		s, ok = accountMessages[normLang(lang)][key]
	}
	if !ok {
		s, ok = messages[French][key]
	}
	if !ok {
		s, ok = accountMessages[French][key]
	}
	if !ok {
		return "", false
	}
	return strings.ReplaceAll(s, productPlaceholder, p.opts.ProductName), true
}

// T returns the text of key in lang (French for an unknown language). An unknown
// key gives the generic error message, never the key itself, which would mean
// nothing to people.
func (p *Pages) T(lang, key string) string {
	if s, ok := p.lookup(lang, key); ok {
		return s
	}
	s, _ := p.lookup(lang, KeyGeneric)
	return s
}

// msg shows s as given unless it is a message key, which it translates: page data
// fields such as LoginPage.Error accept either.
func (p *Pages) msg(lang, s string) string {
	if t, ok := p.lookup(lang, s); ok {
		return t
	}
	return s
}

// Lang picks the page language: the first supported tag of ui_locales (OIDC Core
// §3.1.2.1, space-separated, in order of preference), then the browser's
// Accept-Language by quality (RFC 9110 §12.5.4), French otherwise.
func (p *Pages) Lang(r *http.Request, uiLocales string) string {
	for _, tag := range strings.Fields(uiLocales) {
		if l := supported(tag); l != "" {
			return l
		}
	}
	if r == nil {
		return French
	}
	type pref struct {
		lang string
		q    float64
	}
	var prefs []pref
	for _, h := range r.Header.Values("Accept-Language") {
		for _, part := range strings.Split(h, ",") {
			tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			q := 1.0
			for _, param := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(param), "=")
				if strings.EqualFold(k, "q") {
					f, err := strconv.ParseFloat(v, 64)
					if err != nil || f < 0 || f > 1 {
						f = 0
					}
					q = f
				}
			}
			if l := supported(strings.TrimSpace(tag)); l != "" && q > 0 {
				prefs = append(prefs, pref{l, q})
			}
		}
	}
	sort.SliceStable(prefs, func(i, j int) bool { return prefs[i].q > prefs[j].q })
	if len(prefs) > 0 {
		return prefs[0].lang
	}
	return French
}

// supported maps a BCP 47 tag ("fr-FR", "en_GB", "EN") to a page language, or "".
func supported(tag string) string {
	base, _, _ := strings.Cut(strings.ReplaceAll(tag, "_", "-"), "-")
	switch strings.ToLower(base) {
	case French:
		return French
	case English:
		return English
	}
	return ""
}
