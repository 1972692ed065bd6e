package main

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/justiceconnect/justiceconnect/broker"
	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/providers"
	"github.com/justiceconnect/justiceconnect/providers/ldap"
	"github.com/justiceconnect/justiceconnect/providers/oidc"
	"github.com/justiceconnect/justiceconnect/providers/saml"
	"github.com/justiceconnect/justiceconnect/providers/static"
	x509prov "github.com/justiceconnect/justiceconnect/providers/x509"
)

// This file is the one place that imports provider implementations (DESIGN.md): a
// provider type name maps to a function that decodes its settings strictly, checks
// them and builds it.

// providerType builds one kind of upstream.
type providerType struct {
	// check decodes and validates the settings, returning every problem with a path
	// relative to the provider ("settings.users[0].username").
	check func(cfg *config.Config, p config.ProviderConfig) []config.Problem
	build func(cfg *config.Config, p config.ProviderConfig, deps buildDeps) (providers.Provider, error)
}

// buildDeps are what provider implementations may need from the broker's wiring.
type buildDeps struct {
	Store  storage.Store
	Logger *slog.Logger
	// Built are the providers built so far, by ID (the card provider looks its
	// holders up in a directory built before it).
	Built map[string]providers.Provider
}

var providerTypes = map[string]providerType{
	"ldap": {
		check: func(cfg *config.Config, p config.ProviderConfig) []config.Problem {
			var sc ldap.Config
			if err := config.DecodeSettings(p.Settings, &sc); err != nil {
				return decodeProblems(err)
			}
			return settingsProblems(sc.Validate())
		},
		build: func(cfg *config.Config, p config.ProviderConfig, deps buildDeps) (providers.Provider, error) {
			var sc ldap.Config
			if err := config.DecodeSettings(p.Settings, &sc); err != nil {
				return nil, err
			}
			return ldap.New(sc, ldap.Options{Logger: deps.Logger})
		},
	},
	"oidc": {
		check: func(cfg *config.Config, p config.ProviderConfig) []config.Problem {
			var sc oidc.Config
			if err := config.DecodeSettings(p.Settings, &sc); err != nil {
				return decodeProblems(err)
			}
			return settingsProblems(sc.Validate())
		},
		build: func(cfg *config.Config, p config.ProviderConfig, deps buildDeps) (providers.Provider, error) {
			var sc oidc.Config
			if err := config.DecodeSettings(p.Settings, &sc); err != nil {
				return nil, err
			}
			return oidc.New(sc, oidc.Options{Logger: deps.Logger})
		},
	},
	"saml": {
		check: func(cfg *config.Config, p config.ProviderConfig) []config.Problem {
			var sc saml.Config
			if err := config.DecodeSettings(p.Settings, &sc); err != nil {
				return decodeProblems(err)
			}
			return settingsProblems(sc.Validate())
		},
		build: func(cfg *config.Config, p config.ProviderConfig, deps buildDeps) (providers.Provider, error) {
			var sc saml.Config
			if err := config.DecodeSettings(p.Settings, &sc); err != nil {
				return nil, err
			}
			if sc.ACSURL == "" {
				sc.ACSURL = cfg.Issuer + "/login/callback/" + p.ID
			}
			if sc.SLOURL == "" {
				sc.SLOURL = cfg.Issuer + "/session/end/return"
			}
			return saml.New(sc, saml.Options{Logger: deps.Logger, ReplayCache: deps.Store})
		},
	},
	"x509": {
		check: func(cfg *config.Config, p config.ProviderConfig) []config.Problem {
			var sc x509prov.Config
			if err := config.DecodeSettings(p.Settings, &sc); err != nil {
				return decodeProblems(err)
			}
			problems := settingsProblems(sc.Validate())
			switch i := slices.IndexFunc(cfg.Providers, func(d config.ProviderConfig) bool { return d.ID == sc.Directory }); {
			case sc.Directory == "":
			case i < 0:
				problems = append(problems, config.Problem{Path: "settings.directory", Message: fmt.Sprintf("%q is not a configured provider", sc.Directory)})
			case cfg.Providers[i].Type != "ldap":
				problems = append(problems, config.Problem{Path: "settings.directory", Message: fmt.Sprintf("provider %q is of type %s; card holders are looked up in an ldap directory", sc.Directory, cfg.Providers[i].Type)})
			case cfg.Providers[i].SubjectNamespace != p.SubjectNamespace:
				problems = append(problems, config.Problem{Path: "subject_namespace", Message: fmt.Sprintf("must equal the directory's (%q) so that an agent has the same sub by card and by password", cfg.Providers[i].SubjectNamespace)})
			}
			if cfg.CardListen.Address == "" {
				problems = append(problems, config.Problem{Path: "type", Message: "a card provider needs card_listen (the card origin)"})
			}
			return problems
		},
		build: func(cfg *config.Config, p config.ProviderConfig, deps buildDeps) (providers.Provider, error) {
			var sc x509prov.Config
			if err := config.DecodeSettings(p.Settings, &sc); err != nil {
				return nil, err
			}
			dir, ok := deps.Built[sc.Directory].(providers.AttributeSource)
			if !ok {
				return nil, fmt.Errorf("settings.directory: %q is not a directory built before the card provider", sc.Directory)
			}
			return x509prov.New(sc, dir, x509prov.Options{Logger: deps.Logger})
		},
	},
	"static": {
		check: func(cfg *config.Config, p config.ProviderConfig) []config.Problem {
			var sc static.Config
			if err := config.DecodeSettings(p.Settings, &sc); err != nil {
				return decodeProblems(err)
			}
			problems := settingsProblems(sc.Validate())
			if cfg.Mode != "development" {
				problems = append(problems, config.Problem{Path: "type", Message: "static development users are refused outside mode: development"})
			}
			if p.MaxACR != "" && p.MaxACR != "eidas1" {
				problems = append(problems, config.Problem{Path: "max_acr", Message: "static development users never reach above eidas1"})
			}
			return problems
		},
		build: func(cfg *config.Config, p config.ProviderConfig, deps buildDeps) (providers.Provider, error) {
			var sc static.Config
			if err := config.DecodeSettings(p.Settings, &sc); err != nil {
				return nil, err
			}
			return static.New(sc, time.Now)
		},
	},
}

// decodeProblems returns DecodeSettings' problems (their paths already start with
// settings), or the error as one problem.
func decodeProblems(err error) []config.Problem {
	var ps *config.Problems
	if errors.As(err, &ps) {
		return ps.List
	}
	return []config.Problem{{Path: "settings", Message: err.Error()}}
}

// settingsProblems turns a provider's "path: message" lines into problems under
// settings.
func settingsProblems(lines []string) []config.Problem {
	out := make([]config.Problem, 0, len(lines))
	for _, l := range lines {
		path, msg, ok := strings.Cut(l, ": ")
		if !ok {
			path, msg = "", l
		}
		out = append(out, config.Problem{Path: strings.TrimSuffix("settings."+path, "."), Message: msg})
	}
	return out
}

// providerProblems checks every provider's type and settings.
func providerProblems(cfg *config.Config) []config.Problem {
	var out []config.Problem
	for i, p := range cfg.Providers {
		path := fmt.Sprintf("providers[%d]", i)
		t, ok := providerTypes[p.Type]
		if !ok {
			out = append(out, config.Problem{Path: path + ".type", Message: fmt.Sprintf("unknown provider type %q", p.Type)})
			continue
		}
		for _, pr := range t.check(cfg, p) {
			out = append(out, config.Problem{Path: path + "." + pr.Path, Message: pr.Message})
		}
	}
	return out
}

// buildUpstreams builds every configured provider, after providerProblems found none.
func buildUpstreams(cfg *config.Config, deps buildDeps) ([]broker.Upstream, error) {
	if problems := providerProblems(cfg); len(problems) > 0 {
		return nil, &config.Problems{List: problems}
	}
	// Card providers come second: they need their directory built.
	built := map[string]providers.Provider{}
	for _, second := range []bool{false, true} {
		for _, p := range cfg.Providers {
			if (p.Type == "x509") != second {
				continue
			}
			impl, err := providerTypes[p.Type].build(cfg, p, buildDeps{Store: deps.Store, Logger: deps.Logger.With("provider", p.ID), Built: built})
			if err != nil {
				return nil, fmt.Errorf("provider %s: %w", p.ID, err)
			}
			built[p.ID] = impl
		}
	}
	out := make([]broker.Upstream, 0, len(cfg.Providers))
	for _, p := range cfg.Providers {
		out = append(out, broker.Upstream{Config: p, Impl: built[p.ID]})
	}
	return out, nil
}
