package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written in Go syntax ("60s", "10m", "12h") or in
// whole days ("400d").
type Duration time.Duration

// UnmarshalYAML parses Go duration syntax. A malformed value is a *yaml.TypeError,
// so decoding goes on and the other problems are reported too.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if n.Kind != yaml.ScalarNode || n.Decode(&s) != nil {
		return nodeError(n, "a duration such as 60s, 10m or 12h is expected")
	}
	v, err := ParseDuration(s)
	if err != nil {
		return nodeError(n, fmt.Sprintf("%q is not a duration such as 60s, 10m, 12h or 400d", s))
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads Go duration syntax, or a whole number of days ("400d"), which
// is how retention periods are usually written.
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok && days != "" && strings.Trim(days, "0123456789") == "" {
		n, err := strconv.Atoi(days)
		if err != nil || n > 100000 {
			return 0, fmt.Errorf("%q: too many days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// MarshalYAML writes the Go syntax back.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// String is the Go syntax ("10m0s").
func (d Duration) String() string { return time.Duration(d).String() }

// Secret names where a secret lives: a file or an environment variable, never the
// secret itself, so configuration files can be shared and versioned.
type Secret struct {
	File string `yaml:"file"`
	Env  string `yaml:"env"`
}

// UnmarshalYAML accepts only the mapping {file: PATH} or {env: NAME}; an inline
// string is refused with a message saying how to write it.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nodeError(n, "secrets are never written inline: use {file: PATH} or {env: NAME}")
	}
	var msgs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var dst *string
		switch k.Value {
		case "file":
			dst = &s.File
		case "env":
			dst = &s.Env
		default:
			msgs = append(msgs, fmt.Sprintf("line %d: field %s not found in type config.Secret", k.Line, k.Value))
			continue
		}
		if v.Kind != yaml.ScalarNode {
			msgs = append(msgs, positioned(v, "a file path or an environment variable name is expected"))
			continue
		}
		*dst = v.Value
	}
	if len(msgs) > 0 {
		return &yaml.TypeError{Errors: msgs}
	}
	return nil
}

// IsSet reports whether a file or an environment variable is named.
func (s Secret) IsSet() bool { return s.File != "" || s.Env != "" }

// String names the source, never the value.
func (s Secret) String() string {
	switch {
	case s.File != "" && s.Env != "":
		return "file " + s.File + " and env " + s.Env
	case s.File != "":
		return "file " + s.File
	case s.Env != "":
		return "env " + s.Env
	}
	return "unset"
}

// Read returns the secret without its trailing newline. Errors name the file or
// the environment variable, never the value.
func (s Secret) Read() ([]byte, error) {
	switch {
	case s.File != "" && s.Env != "":
		return nil, errors.New("give either file or env, not both")
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return nil, fmt.Errorf("secret file: %w", err)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 {
			return nil, fmt.Errorf("secret file %s is empty", s.File)
		}
		return b, nil
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		v = strings.TrimRight(v, "\r\n")
		if !ok || v == "" {
			return nil, fmt.Errorf("environment variable %s is not set or empty", s.Env)
		}
		return []byte(v), nil
	}
	return nil, errors.New("no secret given: set {file: PATH} or {env: NAME}")
}

// nodeError is a decoding problem at n that lets decoding go on.
func nodeError(n *yaml.Node, msg string) error {
	return &yaml.TypeError{Errors: []string{positioned(n, msg)}}
}

// positioned formats msg with n's position, as resolveTypeErrors expects.
func positioned(n *yaml.Node, msg string) string {
	return fmt.Sprintf("line %d column %d: %s", n.Line, n.Column, msg)
}
