package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestReferenceUpToDate fails when docs/configuration.md no longer matches the
// yaml tags and doc comments of broker/config.
func TestReferenceUpToDate(t *testing.T) {
	got, err := Generate("../..")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../../../docs/configuration.md")
	if err != nil {
		t.Fatalf("%v: run go run ./broker/config/cmd/genref > docs/configuration.md", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/configuration.md is out of date: run go run ./broker/config/cmd/genref > docs/configuration.md from the module root")
	}
}

func TestGenerateCoversTheSchema(t *testing.T) {
	got, err := Generate("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| `issuer` | string |", "## `store`", "| `driver` | string | `sqlite` |",
		"## `providers[]`", "## `clients[]`", "| `client_id` | string |", "## `providers[].mapping`",
		"| `access_token_lifetime` | duration | `10m0s` |", "| `kek` | secret",
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("reference lacks %q", want)
		}
	}
}
