package web

import (
	"fmt"
	"time"
)

// accountMessages are the texts of the about page, the account page and the plain
// descriptions of scopes, kept apart from messages so the pages added with the
// partner kit and the account page stay in their own file; lookup reads both.
var accountMessages = map[string]map[string]string{
	French: {
		"about.title":          "Qu’est-ce que {product} ?",
		"about.lead":           "{product} est le service d’identification des professionnels de la justice. Il vous permet d’accéder aux applications de la justice et de ses partenaires avec un identifiant que vous avez déjà.",
		"about.who.title":      "Pour qui ?",
		"about.who":            "Les magistrats, greffiers et agents du ministère de la Justice, les avocats et les commissaires de justice.",
		"about.how.title":      "Comment ça marche ?",
		"about.how":            "Vous vous identifiez auprès de votre organisation (annuaire ou carte agent du ministère, votre barreau, votre chambre professionnelle) ; {product} transmet à l’application votre identité et votre qualité professionnelle. {product} ne crée pas de nouveau mot de passe et ne voit jamais celui de votre organisation lorsque vous vous identifiez chez elle.",
		"about.data.title":     "Vos informations",
		"about.data":           "Une application d’une autre organisation que le ministère ne reçoit vos informations qu’après votre accord. Vous pouvez consulter et retirer ces accords à tout moment.",
		"about.account":        "Voir les accords que j’ai donnés",
		"about.partners.title": "Vous proposez une application ?",
		"about.partners":       "Le kit partenaire donne le bouton « S’identifier avec {product} » et le code à intégrer.",
		"about.partners.link":  "Kit partenaire",

		"account.title":           "Mon compte {product}",
		"account.consents":        "Applications autorisées",
		"account.intro":           "Ces applications d’autres organisations reçoivent des informations vous concernant, avec votre accord.",
		"account.none":            "Vous n’avez donné votre accord à aucune application d’une autre organisation.",
		"account.granted":         "Accord donné le",
		"account.org":             "Organisation :",
		"account.shared":          "Informations partagées :",
		"account.withdraw":        "Retirer mon accord",
		"account.withdraw.note":   "Si vous retirez votre accord, l’application ne pourra plus obtenir vos informations sans vous le redemander, et ses accès en cours sont révoqués.",
		"account.withdrawn":       "Votre accord a été retiré. L’application vous le redemandera à votre prochaine connexion.",
		"account.unknown":         "Cet accord n’existe pas ou a déjà été retiré.",
		"account.loggedout.title": "Vous n’êtes pas connecté",
		"account.loggedout":       "Pour voir les accords que vous avez donnés, connectez-vous d’abord à une application de la justice avec {product}, puis revenez sur cette page.",
		"account.about":           "Qu’est-ce que {product} ?",

		"scope.openid":         "Votre identifiant {product} pour cette application",
		"scope.profile":        "Vos nom et prénom",
		"scope.email":          "Votre adresse électronique",
		"scope.uid":            "Votre identifiant auprès de votre fournisseur d’identité",
		"scope.idp_id":         "Le fournisseur d’identité que vous avez utilisé",
		"scope.idp_acr":        "Le niveau de sécurité de votre connexion chez ce fournisseur",
		"scope.profession":     "Votre profession, votre numéro professionnel et votre organisation",
		"scope.jurisdictions":  "Les juridictions où vous exercez",
		"scope.justice_roles":  "Vos fonctions dans ces juridictions",
		"scope.offline_access": "Un accès qui reste valable après votre déconnexion",

		"scope.profession.detail":     "Par exemple : magistrat, greffier, avocat, commissaire de justice.",
		"scope.justice_roles.detail":  "Par exemple : juge des enfants au tribunal judiciaire de Paris.",
		"scope.offline_access.detail": "L’application pourra obtenir de nouveaux jetons sans vous redemander de vous connecter.",
	},
	English: {
		"about.title":          "What is {product}?",
		"about.lead":           "{product} is the identification service of justice professionals. It lets you use the applications of the Ministry of Justice and its partners with an account you already have.",
		"about.who.title":      "Who is it for?",
		"about.who":            "Judges, court clerks and staff of the Ministry of Justice, lawyers and commissaires de justice.",
		"about.how.title":      "How does it work?",
		"about.how":            "You identify yourself with your organisation (the ministry's directory or agent card, your bar, your professional chamber); {product} passes your identity and professional status on to the application. {product} creates no new password and never sees your organisation's password when you log in there.",
		"about.data.title":     "Your information",
		"about.data":           "An application of another organisation than the ministry receives your information only after you agree. You can see and withdraw these agreements at any time.",
		"about.account":        "See the agreements I gave",
		"about.partners.title": "Do you run an application?",
		"about.partners":       "The partner kit has the “S’identifier avec {product}” button and the code to add to your site.",
		"about.partners.link":  "Partner kit",

		"account.title":           "My {product} account",
		"account.consents":        "Applications you allowed",
		"account.intro":           "These applications of other organisations receive information about you, with your agreement.",
		"account.none":            "You have not allowed any application of another organisation.",
		"account.granted":         "Allowed on",
		"account.org":             "Organisation:",
		"account.shared":          "Information shared:",
		"account.withdraw":        "Withdraw my agreement",
		"account.withdraw.note":   "If you withdraw your agreement, the application can no longer get your information without asking you again, and its current access is revoked.",
		"account.withdrawn":       "Your agreement was withdrawn. The application will ask you again next time you log in.",
		"account.unknown":         "This agreement does not exist or was already withdrawn.",
		"account.loggedout.title": "You are not logged in",
		"account.loggedout":       "To see the agreements you gave, first log in to a justice application with {product}, then come back to this page.",
		"account.about":           "What is {product}?",

		"scope.openid":         "Your {product} identifier for this application",
		"scope.profile":        "Your first and last names",
		"scope.email":          "Your e-mail address",
		"scope.uid":            "Your identifier at your identity provider",
		"scope.idp_id":         "The identity provider you used",
		"scope.idp_acr":        "The security level of your login at that provider",
		"scope.profession":     "Your profession, professional number and organisation",
		"scope.jurisdictions":  "The courts where you work",
		"scope.justice_roles":  "Your functions in those courts",
		"scope.offline_access": "Access that stays valid after you log out",

		"scope.profession.detail":     "For example: judge, court clerk, lawyer, commissaire de justice.",
		"scope.justice_roles.detail":  "For example: children's judge at the judicial court of Paris.",
		"scope.offline_access.detail": "The application can get new tokens without asking you to log in again.",
	},
}

// Lookup returns the text of key in lang (French when lang has none) and whether
// the key exists, for handlers that must tell a known key from free text (the
// plain description of a scope, "scope.<name>").
func (p *Pages) Lookup(lang, key string) (string, bool) { return p.lookup(lang, key) }

var monthNames = map[string][12]string{
	French:  {"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"},
	English: {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
}

// Date writes a day for people: "14 mars 2031" in French, "14 March 2031" in
// English, in t's location.
func Date(lang string, t time.Time) string {
	return fmt.Sprintf("%d %s %d", t.Day(), monthNames[normLang(lang)][t.Month()-1], t.Year())
}
