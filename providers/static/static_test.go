package static

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/justiceconnect/justiceconnect/providers"
)

func TestLogin(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	fixed := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	p, err := New(Config{Users: []User{
		{Username: "claire", PasswordHash: string(hash), Attributes: map[string][]string{"employeeType": {"GRF"}}},
		{Username: "off", PasswordHash: string(hash), Disabled: true},
	}}, func() time.Time { return fixed })
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, pass string
		want             error
	}{
		{"ok", "claire", "s3cret-pass", nil},
		{"wrong password", "claire", "nope", providers.ErrBadCredentials},
		{"unknown user", "nobody", "s3cret-pass", providers.ErrBadCredentials},
		{"empty user", "", "s3cret-pass", providers.ErrBadCredentials},
		{"empty password", "claire", "", providers.ErrBadCredentials},
		{"disabled", "off", "s3cret-pass", providers.ErrAccountDisabled},
		{"disabled wrong password reveals nothing", "off", "x", providers.ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := p.Login(context.Background(), tt.user, tt.pass)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Login error = %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				return
			}
			if id.Subject != "static:claire" || id.Username != "claire" || id.Attribute("employeeType") != "GRF" {
				t.Errorf("identity = %+v", id)
			}
			if !id.Authn.Time.Equal(fixed) || len(id.Authn.Methods) != 1 || id.Authn.Methods[0] != "pwd" {
				t.Errorf("authn = %+v", id.Authn)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	problems := Config{Users: []User{{Username: "a", PasswordHash: "plain"}, {Username: "a"}, {}}}.Validate()
	want := []string{
		"users[0].password_hash: must be a bcrypt hash (htpasswd -nbB or justiceconnect demo output)",
		"users[1].username: duplicate a",
		"users[1].password_hash: must be a bcrypt hash (htpasswd -nbB or justiceconnect demo output)",
		"users[2].username: required",
		"users[2].password_hash: must be a bcrypt hash (htpasswd -nbB or justiceconnect demo output)",
	}
	if len(problems) != len(want) {
		t.Fatalf("problems = %q", problems)
	}
	for i := range want {
		if problems[i] != want[i] {
			t.Errorf("problem %d = %q, want %q", i, problems[i], want[i])
		}
	}
}
