package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/logout"
	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// sessionsNow is the clock of the sessions command (tests replace it).
var sessionsNow = time.Now

// sessionsOperator names who ran the command in the audit trail (tests replace it).
var sessionsOperator = func() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

const sessionsUsage = `usage: justiceconnect sessions COMMAND --config FILE --user SUBJECT [--json]

commands:
  list     the subject's live single sign-on sessions
  revoke   [--reason TEXT]
           end every live session of the subject, queue back-channel logout
           notices to their clients (sent by the running broker), revoke every
           access and refresh token of the subject, offline_access and ended
           sessions included; one audit event (admin.session_revoked) per
           session and one for the other tokens

SUBJECT is the broker's public subject (the "sub" of its tokens for public-subject
clients, the Subject of audit events). Disable the account upstream too (directory,
bar, bailiffs' IdP): otherwise the person can log in again.
`

// runSessions is "justiceconnect sessions": what an administrator does when a
// professional must lose access now (a lawyer struck off the roll, an agent who
// left, a stolen card).
func runSessions(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, sessionsUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub := args[0]
	fs := flag.NewFlagSet("sessions "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &sessionsCmd{stdout: stdout, stderr: stderr}
	path := fs.String("config", "", "configuration file (YAML)")
	subject := fs.String("user", "", "the broker's public subject")
	fs.BoolVar(&c.json, "json", false, "JSON output, for scripts")
	var run func(ctx context.Context, store storage.Store, subject string) int
	switch sub {
	case "list":
		run = c.list
	case "revoke":
		reason := fs.String("reason", "", "why, recorded in the audit trail")
		run = func(ctx context.Context, store storage.Store, subject string) int {
			return c.revoke(ctx, store, subject, *reason)
		}
	default:
		fmt.Fprintf(stderr, "justiceconnect sessions: unknown command %q\n\n%s", sub, sessionsUsage)
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "justiceconnect sessions %s: unexpected argument %q\n", sub, fs.Arg(0))
		return 2
	}
	if strings.TrimSpace(*subject) == "" {
		fmt.Fprintf(stderr, "justiceconnect sessions %s: --user is required\n", sub)
		return 2
	}
	store, code := openAdminStore(ctx, "sessions "+sub, *path, stderr)
	if store == nil {
		return code
	}
	defer store.Close()
	return run(ctx, store, *subject)
}

type sessionsCmd struct {
	stdout, stderr io.Writer
	json           bool
}

func (c *sessionsCmd) fail(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "justiceconnect sessions: "+format+"\n", args...)
	return 1
}

func (c *sessionsCmd) printJSON(v any) int {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return c.fail("%v", err)
	}
	return 0
}

// sessionView is a session as list shows it; never the stored identity.
type sessionView struct {
	ID                string    `json:"session_id"`
	Subject           string    `json:"subject"`
	Provider          string    `json:"provider"`
	ACR               string    `json:"acr,omitempty"`
	AMR               []string  `json:"amr"`
	AuthTime          time.Time `json:"auth_time"`
	LastSeenAt        time.Time `json:"last_seen_at"`
	IdleExpiresAt     time.Time `json:"idle_expires_at"`
	AbsoluteExpiresAt time.Time `json:"absolute_expires_at"`
	// Expired: past one of its expiries but not yet ended. Its tokens may still be
	// alive (refresh tokens outlive the browser session); revoke covers it.
	Expired bool     `json:"expired"`
	Clients []string `json:"clients"`
}

func viewSession(s *storage.SSOSession, now time.Time) sessionView {
	return sessionView{ID: s.ID, Subject: s.Subject, Provider: s.Provider, ACR: s.ACR, AMR: nonNil(s.AMR),
		AuthTime: s.AuthTime, LastSeenAt: s.LastSeenAt, IdleExpiresAt: s.IdleExpiresAt, AbsoluteExpiresAt: s.AbsoluteExpiresAt,
		Expired: !now.Before(s.IdleExpiresAt) || !now.Before(s.AbsoluteExpiresAt), Clients: nonNil(s.Clients)}
}

// liveSessions returns the subject's sessions that are not ended, oldest first.
func liveSessions(ctx context.Context, store storage.SSOSessionStore, subject string) ([]*storage.SSOSession, error) {
	list, err := store.ListSSOSessionsBySubject(ctx, subject)
	if err != nil {
		return nil, err
	}
	list = slices.DeleteFunc(list, func(s *storage.SSOSession) bool { return s.EndedAt != nil })
	slices.SortFunc(list, func(a, b *storage.SSOSession) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return list, nil
}

func (c *sessionsCmd) list(ctx context.Context, store storage.Store, subject string) int {
	list, err := liveSessions(ctx, store, subject)
	if err != nil {
		return c.fail("list %s: %v", subject, err)
	}
	now := sessionsNow()
	views := make([]sessionView, 0, len(list))
	for _, s := range list {
		views = append(views, viewSession(s, now))
	}
	if c.json {
		return c.printJSON(views)
	}
	if len(views) == 0 {
		fmt.Fprintf(c.stdout, "No live session for %s.\n", subject)
		return 0
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tPROVIDER\tACR\tAUTH TIME\tLAST SEEN\tSTATE\tCLIENTS")
	for _, v := range views {
		state := "active until " + minTime(v.IdleExpiresAt, v.AbsoluteExpiresAt).Local().Format(time.DateTime)
		if v.Expired {
			state = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Provider, orDash(v.ACR),
			v.AuthTime.Local().Format(time.DateTime), v.LastSeenAt.Local().Format(time.DateTime), state,
			orDash(strings.Join(v.Clients, " ")))
	}
	if err := tw.Flush(); err != nil {
		return c.fail("%v", err)
	}
	return 0
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// revokedSession is what revoke did to one session.
type revokedSession struct {
	ID            string   `json:"session_id"`
	Provider      string   `json:"provider"`
	Clients       []string `json:"clients"`
	Ended         bool     `json:"ended"`
	TokensRevoked int64    `json:"tokens_revoked"`
	NoticesQueued int      `json:"backchannel_notices_queued"`
	Audited       bool     `json:"audited"`
	Error         string   `json:"error,omitempty"`
}

type revokeResult struct {
	Subject       string           `json:"subject"`
	Sessions      []revokedSession `json:"sessions"`
	TokensRevoked int64            `json:"tokens_revoked"`
	// OtherTokensRevoked are tokens of the subject outside the live sessions
	// (offline_access grants of sessions that ended earlier).
	OtherTokensRevoked int64 `json:"other_tokens_revoked"`
	OK                 bool  `json:"ok"`
}

// revokeStepText says what failed, by logout.End's step.
var revokeStepText = map[string]string{
	logout.StepEndSession:   "end the session",
	logout.StepRevokeTokens: "revoke its tokens",
	logout.StepQueueNotices: "queue back-channel logout notices",
	logout.StepCommit:       "commit",
}

// auditErrors remembers the last append failure, so that the command can tell
// the administrator (audit.Log.Record only logs it).
type auditErrors struct {
	storage.AuditStore
	err error
}

func (a *auditErrors) AppendAudit(ctx context.Context, e *storage.AuditEvent) error {
	a.err = a.AuditStore.AppendAudit(ctx, e)
	return a.err
}

// revoke ends every live session of subject and revokes its tokens. It goes on
// after a failed session, so that one error does not leave the others alive, and
// exits 1 if anything failed; running it again is harmless.
func (c *sessionsCmd) revoke(ctx context.Context, store storage.Store, subject, reason string) int {
	list, err := liveSessions(ctx, store, subject)
	if err != nil {
		return c.fail("revoke %s: list sessions: %v", subject, err)
	}
	trail := &auditErrors{AuditStore: store}
	log := &audit.Log{Store: trail, Logger: slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Now: sessionsNow}
	operator := sessionsOperator()
	res := revokeResult{Subject: subject, Sessions: []revokedSession{}, OK: true}
	for _, s := range list {
		r := revokedSession{ID: s.ID, Provider: s.Provider, Clients: nonNil(s.Clients)}
		failedStep := ""
		// The session, its tokens (offline_access ones too, unlike a user's own
		// logout: OIDC Back-Channel Logout 1.0, section 2.7, leaves that choice to
		// the OP) and the back-channel notices to its relying parties, which the
		// running broker signs and sends within seconds, with retries (section
		// 2.5): in one transaction, so a failure leaves the session live, listed
		// by the next run, never ended without its notices. A refresh already past
		// its checks when the tokens are revoked can still complete: running the
		// command again catches it.
		ended, err := logout.End(ctx, store, s, false, true, sessionsNow().UTC())
		if err != nil {
			var step *logout.StepError
			failedStep = logout.StepEndSession
			if errors.As(err, &step) {
				failedStep, err = step.Step, step.Err
			}
			r.Error = fmt.Sprintf("%s: %v", revokeStepText[failedStep], err)
		} else {
			r.Ended, r.TokensRevoked, r.NoticesQueued = true, ended.TokensRevoked, len(ended.Notices)
		}

		ev := storage.AuditEvent{Type: audit.SessionRevoked, Outcome: audit.OutcomeOK, Subject: s.Subject,
			Provider: s.Provider, Session: s.ID, Details: map[string]string{
				"tokens_revoked": strconv.FormatInt(r.TokensRevoked, 10),
				"notices_queued": strconv.Itoa(r.NoticesQueued),
				"operator":       operator,
				"via":            "cli",
			}}
		if len(s.Clients) > 0 {
			ev.Details["clients"] = strings.Join(s.Clients, " ")
		}
		if reason != "" {
			ev.Details["reason"] = reason
		}
		if failedStep != "" {
			ev.Outcome = audit.OutcomeFail
			ev.Details["failed_step"] = failedStep
		}
		trail.err = nil
		log.Record(ctx, ev)
		r.Audited = trail.err == nil
		if trail.err != nil && r.Error == "" {
			r.Error = fmt.Sprintf("record the audit event: %v", trail.err)
		}
		if r.Error != "" {
			res.OK = false
		}
		res.TokensRevoked += r.TokensRevoked
		res.Sessions = append(res.Sessions, r)
	}

	// Then every other grant of the person: offline_access tokens outlive the
	// session they came from, and ended sessions are no longer listed.
	n, err := store.RevokeTokensOfSubject(ctx, subject)
	res.OtherTokensRevoked = n
	res.TokensRevoked += n
	ev := storage.AuditEvent{Type: audit.SessionRevoked, Outcome: audit.OutcomeOK, Subject: subject, Details: map[string]string{
		"scope": "all_tokens", "tokens_revoked": strconv.FormatInt(n, 10), "operator": operator, "via": "cli"}}
	if reason != "" {
		ev.Details["reason"] = reason
	}
	if err != nil {
		res.OK = false
		ev.Outcome = audit.OutcomeFail
		ev.Details["failed_step"] = "revoke_subject_tokens"
		fmt.Fprintf(c.stderr, "justiceconnect sessions: revoke the other tokens of %s: %v\n", subject, err)
	}
	if err != nil || n > 0 || len(list) > 0 {
		log.Record(ctx, ev) // a run that found nothing records nothing
	}

	code := 0
	if !res.OK {
		code = 1
	}
	if c.json {
		if c.printJSON(res) != 0 {
			return 1
		}
		return code
	}
	if len(res.Sessions) == 0 {
		fmt.Fprintf(c.stdout, "No live session for %s: nothing to revoke.\n", subject)
	} else {
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SESSION\tPROVIDER\tENDED\tTOKENS REVOKED\tNOTICES\tAUDITED\tCLIENTS\tERROR")
		for _, r := range res.Sessions {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", r.ID, r.Provider, yesNo(r.Ended), r.TokensRevoked, r.NoticesQueued, yesNo(r.Audited),
				orDash(strings.Join(r.Clients, " ")), orDash(r.Error))
		}
		if err := tw.Flush(); err != nil {
			return c.fail("%v", err)
		}
		fmt.Fprintf(c.stdout, "%d session(s) of %s ended, %d token(s) revoked.\n", len(res.Sessions), subject, res.TokensRevoked)
	}
	if !res.OK {
		fmt.Fprintln(c.stdout, "Some steps failed: run the command again once the store answers.")
	}
	// Said every time: an administrator must not believe more was done than was.
	fmt.Fprintln(c.stdout, "Not done by this command:")
	fmt.Fprintln(c.stdout, "  - back-channel logout notices are queued, not sent: the running broker sends them (with retries); clients without a backchannel_logout_uri learn it at their next refresh;")
	fmt.Fprintln(c.stdout, "  - access tokens already issued are JWTs that APIs verify themselves: they stay valid until they expire;")
	fmt.Fprintln(c.stdout, "  - the account is still enabled upstream: disable it there, or the person can log in again.")
	return code
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
