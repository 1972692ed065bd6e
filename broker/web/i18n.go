package web

// messages are the page texts by language and key; French is the reference.
var messages = map[string]map[string]string{
	"fr": {
		"skip":                   "Aller au contenu",
		"tagline":                "Service d'identification des professionnels de la justice",
		"ministry":               "Ministère de la Justice",
		"correlation":            "Identifiant de l'incident à communiquer au support",
		"login.title":            "Se connecter",
		"login.for":              "pour accéder à",
		"login.username":         "Identifiant",
		"login.password":         "Mot de passe",
		"login.submit":           "Se connecter",
		"login.back":             "Choisir un autre moyen de connexion",
		"login.bad_credentials":  "Identifiant ou mot de passe incorrect.",
		"login.throttled":        "Trop de tentatives. Patientez quelques minutes avant de réessayer.",
		"login.unavailable":      "Ce service d'identification est momentanément indisponible. Réessayez dans quelques minutes.",
		"login.empty":            "Saisissez votre identifiant et votre mot de passe.",
		"login.disabled":         "Ce compte est désactivé. Contactez votre service informatique.",
		"chooser.title":          "Choisissez comment vous identifier",
		"chooser.unavailable":    "momentanément indisponible",
		"consent.title":          "Autoriser le partage de vos informations",
		"consent.intro":          "souhaite accéder aux informations suivantes :",
		"consent.allow":          "Autoriser",
		"consent.deny":           "Refuser",
		"consent.note":           "Vous pourrez retirer cette autorisation à tout moment.",
		"error.title":            "Une erreur est survenue",
		"error.generic":          "Une erreur inattendue est survenue. Réessayez depuis l'application.",
		"error.flow_expired":     "Votre demande de connexion a expiré. Recommencez depuis l'application.",
		"error.bad_request":      "La demande reçue n'est pas valide. Recommencez depuis l'application.",
		"error.access_denied":    "L'accès a été refusé.",
		"error.unavailable":      "Le service est momentanément indisponible. Réessayez dans quelques minutes.",
		"error.not_found":        "Cette page n'existe pas.",
		"error.invalid_redirect": "L'application n'est pas correctement enregistrée auprès de JusticeConnect. Contactez l'éditeur de l'application.",
		"error.csrf":             "La demande ne provient pas de ce site. Recommencez depuis la page de connexion.",
		"error.population":       "Cette application n'est pas ouverte à votre profession.",
		"error.retry":            "Réessayer",
		"logout.confirm.title":   "Se déconnecter",
		"logout.confirm.text":    "Voulez-vous vous déconnecter de JusticeConnect ?",
		"logout.confirm.yes":     "Se déconnecter",
		"logout.done.title":      "Vous êtes déconnecté",
		"logout.done":            "Vous êtes déconnecté de JusticeConnect et des applications où vous étiez connecté.",
		"logout.return":          "Retourner à l'application",
		"autopost.title":         "Redirection",
		"autopost.text":          "Vous allez être redirigé vers votre fournisseur d'identité.",
		"autopost.continue":      "Continuer",
	},
	"en": {
		"skip":                   "Skip to content",
		"tagline":                "Identification service for justice professionals",
		"ministry":               "French Ministry of Justice",
		"correlation":            "Incident reference to give to support",
		"login.title":            "Log in",
		"login.for":              "to access",
		"login.username":         "Username",
		"login.password":         "Password",
		"login.submit":           "Log in",
		"login.back":             "Choose another way to log in",
		"login.bad_credentials":  "Wrong username or password.",
		"login.throttled":        "Too many attempts. Wait a few minutes before trying again.",
		"login.unavailable":      "This identity service is temporarily unavailable. Try again in a few minutes.",
		"login.empty":            "Enter your username and password.",
		"login.disabled":         "This account is disabled. Contact your IT department.",
		"chooser.title":          "Choose how to log in",
		"chooser.unavailable":    "temporarily unavailable",
		"consent.title":          "Allow sharing your information",
		"consent.intro":          "would like to access the following information:",
		"consent.allow":          "Allow",
		"consent.deny":           "Deny",
		"consent.note":           "You can withdraw this permission at any time.",
		"error.title":            "An error occurred",
		"error.generic":          "An unexpected error occurred. Try again from the application.",
		"error.flow_expired":     "Your login request has expired. Start again from the application.",
		"error.bad_request":      "The request is not valid. Start again from the application.",
		"error.access_denied":    "Access was denied.",
		"error.unavailable":      "The service is temporarily unavailable. Try again in a few minutes.",
		"error.not_found":        "This page does not exist.",
		"error.invalid_redirect": "The application is not correctly registered with JusticeConnect. Contact its publisher.",
		"error.csrf":             "The request did not come from this site. Start again from the login page.",
		"error.population":       "This application is not open to your profession.",
		"error.retry":            "Try again",
		"logout.confirm.title":   "Log out",
		"logout.confirm.text":    "Do you want to log out of JusticeConnect?",
		"logout.confirm.yes":     "Log out",
		"logout.done.title":      "You are logged out",
		"logout.done":            "You are logged out of JusticeConnect and of the applications you were logged in to.",
		"logout.return":          "Back to the application",
		"autopost.title":         "Redirecting",
		"autopost.text":          "You are being sent to your identity provider.",
		"autopost.continue":      "Continue",
	},
}

// T translates key; an unknown language falls back to French, an unknown key to
// the generic error message (never the key itself, which means nothing to people).
func T(lang, key string) string {
	if m, ok := messages[lang]; ok {
		if s, ok := m[key]; ok {
			return s
		}
	}
	if s, ok := messages["fr"][key]; ok {
		return s
	}
	return messages["fr"]["error.generic"]
}
