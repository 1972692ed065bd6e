package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// delegationsNow is the clock of the delegations command (tests replace it).
var delegationsNow = time.Now

// newDelegationID returns a fresh delegation ID (tests replace it).
var newDelegationID = func() (string, error) {
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return "dlg_" + base64.RawURLEncoding.EncodeToString(raw), nil
}

const delegationsUsage = `usage: justiceconnect delegations COMMAND --config FILE [--json] [flags]

commands:
  add     --actor SUBJECT --subject SUBJECT --audience URL [--audience URL ...]
          [--from RFC3339] [--until RFC3339] [--reason TEXT]
          let ACTOR act for SUBJECT toward the audiences (RFC 8693 token exchange
          with an actor_token), from --from (default now) until --until (default
          no end)
  list    [--subject SUBJECT]   every delegation, or those of one subject
  revoke  --id ID               end a delegation now

SUBJECT is the broker's public subject (the "sub" of its tokens for public-subject
clients, the Subject of audit events). Every command is recorded in the audit trail
(admin.delegation).
`

// runDelegations is "justiceconnect delegations": the mandates that let one
// professional (a clerk) obtain tokens acting for another (a judge).
func runDelegations(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, delegationsUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub := args[0]
	fs := flag.NewFlagSet("delegations "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &delegationsCmd{stdout: stdout, stderr: stderr}
	path := fs.String("config", "", "configuration file (YAML)")
	fs.BoolVar(&c.json, "json", false, "JSON output, for scripts")
	var run func(ctx context.Context, store storage.Store) int
	var check func() string
	switch sub {
	case "add":
		var a delegationAdd
		fs.StringVar(&a.actor, "actor", "", "public subject of who acts")
		fs.StringVar(&a.subject, "subject", "", "public subject acted for")
		fs.Var((*listFlag)(&a.audiences), "audience", "audience (API) the delegation covers (repeatable)")
		fs.StringVar(&a.from, "from", "", "start, RFC 3339 (default now)")
		fs.StringVar(&a.until, "until", "", "end, RFC 3339 (default none)")
		fs.StringVar(&a.reason, "reason", "", "why, recorded with the delegation and in the audit trail")
		check = a.check
		run = func(ctx context.Context, store storage.Store) int { return c.add(ctx, store, &a) }
	case "list":
		subject := fs.String("subject", "", "only the delegations of this public subject")
		run = func(ctx context.Context, store storage.Store) int { return c.list(ctx, store, *subject) }
	case "revoke":
		id := fs.String("id", "", "delegation ID")
		check = func() string {
			if strings.TrimSpace(*id) == "" {
				return "--id is required"
			}
			return ""
		}
		run = func(ctx context.Context, store storage.Store) int { return c.revoke(ctx, store, *id) }
	default:
		fmt.Fprintf(stderr, "justiceconnect delegations: unknown command %q\n\n%s", sub, delegationsUsage)
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "justiceconnect delegations %s: unexpected argument %q\n", sub, fs.Arg(0))
		return 2
	}
	if check != nil {
		if msg := check(); msg != "" {
			fmt.Fprintf(stderr, "justiceconnect delegations %s: %s\n", sub, msg)
			return 2
		}
	}
	store, code := openAdminStore(ctx, "delegations "+sub, *path, stderr)
	if store == nil {
		return code
	}
	defer store.Close()
	return run(ctx, store)
}

type delegationAdd struct {
	actor, subject, from, until, reason string
	audiences                           []string
	notBefore, notAfter                 time.Time
}

// check validates the flags before the store is opened.
func (a *delegationAdd) check() string {
	a.actor, a.subject = strings.TrimSpace(a.actor), strings.TrimSpace(a.subject)
	var problems []string
	if a.actor == "" {
		problems = append(problems, "--actor is required")
	}
	if a.subject == "" {
		problems = append(problems, "--subject is required")
	}
	if a.actor != "" && a.actor == a.subject {
		problems = append(problems, "--actor and --subject are the same person")
	}
	if len(a.audiences) == 0 {
		problems = append(problems, "at least one --audience is required")
	}
	for _, aud := range a.audiences {
		if u, err := url.Parse(aud); err != nil || u.Scheme == "" || u.Host == "" {
			problems = append(problems, fmt.Sprintf("--audience %q is not an absolute URL", aud))
		}
	}
	var err error
	if a.from != "" {
		if a.notBefore, err = time.Parse(time.RFC3339, a.from); err != nil {
			problems = append(problems, fmt.Sprintf("--from %q is not an RFC 3339 time", a.from))
		}
	}
	if a.until != "" {
		if a.notAfter, err = time.Parse(time.RFC3339, a.until); err != nil {
			problems = append(problems, fmt.Sprintf("--until %q is not an RFC 3339 time", a.until))
		}
	}
	if !a.notAfter.IsZero() && !a.notBefore.IsZero() && !a.notAfter.After(a.notBefore) {
		problems = append(problems, "--until must be after --from")
	}
	return strings.Join(problems, "; ")
}

type delegationsCmd struct {
	stdout, stderr io.Writer
	json           bool
}

func (c *delegationsCmd) fail(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "justiceconnect delegations: "+format+"\n", args...)
	return 1
}

func (c *delegationsCmd) printJSON(v any) int {
	if err := writeJSON(c.stdout, v); err != nil {
		return c.fail("%v", err)
	}
	return 0
}

// record appends an admin.delegation event and returns the append error
// (audit.Log.Record only logs it), so the command can exit 1.
func (c *delegationsCmd) record(ctx context.Context, store storage.AuditStore, ev storage.AuditEvent) error {
	trail := &auditErrors{AuditStore: store}
	log := &audit.Log{Store: trail, Logger: slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Now: delegationsNow}
	ev.Type = audit.DelegationAdmin
	if ev.Details == nil {
		ev.Details = map[string]string{}
	}
	ev.Details["operator"] = sessionsOperator()
	ev.Details["via"] = "cli"
	log.Record(ctx, ev)
	return trail.err
}

// delegationView is a delegation as the command shows it.
type delegationView struct {
	ID        string     `json:"id"`
	Actor     string     `json:"actor"`
	Subject   string     `json:"subject"`
	Audiences []string   `json:"audiences"`
	NotBefore *time.Time `json:"not_before,omitempty"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	Reason    string     `json:"reason,omitempty"`
	// State is "active", "pending" (not yet valid), "expired" or "revoked".
	State string `json:"state"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func viewDelegation(d *storage.Delegation, now time.Time) delegationView {
	v := delegationView{ID: d.ID, Actor: d.Actor, Subject: d.Subject, Audiences: nonNil(d.Audiences),
		NotBefore: optTime(d.NotBefore), NotAfter: optTime(d.NotAfter), RevokedAt: d.RevokedAt, CreatedAt: d.CreatedAt,
		Reason: d.Reason, State: "active"}
	switch {
	case d.RevokedAt != nil && !now.Before(*d.RevokedAt):
		v.State = "revoked"
	case !d.NotAfter.IsZero() && !now.Before(d.NotAfter):
		v.State = "expired"
	case !d.NotBefore.IsZero() && now.Before(d.NotBefore):
		v.State = "pending"
	}
	return v
}

func (c *delegationsCmd) add(ctx context.Context, store storage.Store, a *delegationAdd) int {
	now := delegationsNow().UTC()
	id, err := newDelegationID()
	if err != nil {
		return c.fail("add: generate an ID: %v", err)
	}
	d := &storage.Delegation{ID: id, Actor: a.actor, Subject: a.subject, Audiences: a.audiences,
		NotBefore: a.notBefore.UTC(), NotAfter: a.notAfter.UTC(), CreatedAt: now, Reason: a.reason}
	if a.notBefore.IsZero() {
		d.NotBefore = now
	}
	if a.notAfter.IsZero() {
		d.NotAfter = time.Time{}
	}
	if !d.NotAfter.IsZero() && !d.NotAfter.After(now) {
		return c.fail("add: --until %s is already past", a.until)
	}
	createErr := store.CreateDelegation(ctx, d)
	ev := storage.AuditEvent{Outcome: audit.OutcomeOK, Subject: d.Subject, Details: map[string]string{
		"action": "add", "delegation_id": d.ID, "actor": d.Actor, "audiences": strings.Join(d.Audiences, " "),
		"not_before": d.NotBefore.Format(time.RFC3339Nano)}}
	if !d.NotAfter.IsZero() {
		ev.Details["not_after"] = d.NotAfter.Format(time.RFC3339Nano)
	}
	if d.Reason != "" {
		ev.Details["reason"] = d.Reason
	}
	if createErr != nil {
		ev.Outcome = audit.OutcomeFail
		ev.Details["error"] = createErr.Error()
	}
	auditErr := c.record(ctx, store, ev)
	if createErr != nil {
		return c.fail("add: %v", createErr)
	}
	if auditErr != nil {
		return c.fail("add: delegation %s created, but the audit event was not recorded: %v", d.ID, auditErr)
	}
	if c.json {
		return c.printJSON(viewDelegation(d, now))
	}
	fmt.Fprintf(c.stdout, "Delegation %s created: %s may act for %s toward %s.\n", d.ID, d.Actor, d.Subject, strings.Join(d.Audiences, " "))
	return 0
}

func (c *delegationsCmd) list(ctx context.Context, store storage.Store, subject string) int {
	list, err := store.ListDelegations(ctx, subject)
	ev := storage.AuditEvent{Outcome: audit.OutcomeOK, Subject: subject, Details: map[string]string{"action": "list"}}
	if err != nil {
		ev.Outcome = audit.OutcomeFail
		ev.Details["error"] = err.Error()
	} else {
		ev.Details["count"] = fmt.Sprint(len(list))
	}
	auditErr := c.record(ctx, store, ev)
	if err != nil {
		return c.fail("list: %v", err)
	}
	if auditErr != nil {
		return c.fail("list: the audit event was not recorded: %v", auditErr)
	}
	now := delegationsNow()
	views := make([]delegationView, 0, len(list))
	for _, d := range list {
		views = append(views, viewDelegation(d, now))
	}
	if c.json {
		return c.printJSON(views)
	}
	if len(views) == 0 {
		fmt.Fprintln(c.stdout, "No delegation.")
		return 0
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tACTOR\tSUBJECT\tAUDIENCES\tFROM\tUNTIL\tSTATE\tREASON")
	for _, v := range views {
		from, until := "-", "-"
		if v.NotBefore != nil {
			from = v.NotBefore.Local().Format(time.DateTime)
		}
		if v.NotAfter != nil {
			until = v.NotAfter.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Actor, v.Subject, strings.Join(v.Audiences, " "),
			from, until, v.State, orDash(v.Reason))
	}
	if err := tw.Flush(); err != nil {
		return c.fail("%v", err)
	}
	return 0
}

func (c *delegationsCmd) revoke(ctx context.Context, store storage.Store, id string) int {
	now := delegationsNow().UTC()
	err := store.RevokeDelegation(ctx, id, now)
	ev := storage.AuditEvent{Outcome: audit.OutcomeOK, Details: map[string]string{"action": "revoke", "delegation_id": id}}
	if err != nil {
		ev.Outcome = audit.OutcomeFail
		ev.Details["error"] = err.Error()
	}
	auditErr := c.record(ctx, store, ev)
	if errors.Is(err, storage.ErrNotFound) {
		return c.fail("revoke: no delegation %q", id)
	}
	if err != nil {
		return c.fail("revoke %s: %v", id, err)
	}
	if auditErr != nil {
		return c.fail("revoke: delegation %s revoked, but the audit event was not recorded: %v", id, auditErr)
	}
	if c.json {
		return c.printJSON(map[string]any{"id": id, "revoked": true, "revoked_at": now})
	}
	fmt.Fprintf(c.stdout, "Delegation %s revoked.\n", id)
	return 0
}
