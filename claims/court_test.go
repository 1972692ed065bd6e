package claims_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/justiceconnect/justiceconnect/claims"
)

func TestDefaultCourts(t *testing.T) {
	c := claims.DefaultCourts()
	// data/README.md: 1 + 36 + 171 rows.
	kinds := map[string]int{}
	for _, ct := range c.All() {
		kinds[ct.Kind]++
	}
	if c.Len() != 208 || kinds["CC"] != 1 || kinds["CA"] != 36 || kinds["TJ"] != 171 {
		t.Fatalf("Len %d, kinds %v", c.Len(), kinds)
	}
	if c != claims.DefaultCourts() {
		t.Error("DefaultCourts parsed twice")
	}
	for _, tc := range []struct {
		code, kind, name, judilibre string
	}{
		{"CC", "CC", "Cour de cassation", "cc"},
		{"CA-PARIS", "CA", "Cour d'appel de Paris", "ca_paris"},
		{"TJ75101", "TJ", "Tribunal judiciaire de Paris", "TJ75101"},
		{"TJ01053", "TJ", "Tribunal judiciaire de Bourg-en-Bresse", "TJ1053"},
		{"TJ2A004", "TJ", "Tribunal judiciaire d'Ajaccio", "TJ2A004"},
	} {
		got, ok := c.Lookup(tc.code)
		want := claims.Court{Code: tc.code, Kind: tc.kind, Name: tc.name, JudilibreID: tc.judilibre}
		if !ok || got != want {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v", tc.code, got, ok, want)
		}
		if !c.Has(tc.code) {
			t.Errorf("Has(%q) false", tc.code)
		}
		if got, ok := c.ByJudilibreID(tc.judilibre); !ok || got.Code != tc.code {
			t.Errorf("ByJudilibreID(%q) = %+v, %v", tc.judilibre, got, ok)
		}
	}
	for _, code := range []string{"TJ1053", "CA-paris", "TJ99999", ""} {
		if c.Has(code) {
			t.Errorf("Has(%q) true", code)
		}
	}
	all := c.All()
	all[0].Code = "mutated"
	if c.All()[0].Code != "CC" {
		t.Error("All shares its backing array")
	}
}

// TestEmbeddedCopyMatchesReference: the embedded list is a copy of the shared
// reference data when that file is reachable from the repository.
func TestEmbeddedCopyMatchesReference(t *testing.T) {
	ref := filepath.Join("..", "..", "shared", "data", "juridictions.tsv")
	want, err := os.ReadFile(ref)
	if err != nil {
		t.Skipf("reference data not beside the repository: %v", err)
	}
	got, err := os.ReadFile("juridictions.tsv")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("claims/juridictions.tsv differs from data/juridictions.tsv")
	}
}

func TestLoadCourtsErrors(t *testing.T) {
	const h = "code\tkind\tname\tjudilibre_id\n"
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty file", "", "empty file"},
		{"header only", h, "no court"},
		{"wrong header", "code\tkind\tname\n", "line 1: header"},
		{"header renamed", "code\ttype\tname\tjudilibre_id\n", "line 1: header"},
		{"3 columns", h + "CC\tCC\tCour de cassation\n", "line 2: 3 columns"},
		{"5 columns", h + "CC\tCC\tCour\tcc\textra\n", "line 2: 5 columns"},
		{"empty field", h + "CC\tCC\t\tcc\n", "line 2: column name"},
		{"padded field", h + "CC\tCC\tCour \tcc\n", "line 2: column name"},
		{"empty line", h + "CC\tCC\tCour\tcc\n\n", "line 3: empty line"},
		{"bad code", h + "CC\tCC\tCour\tcc\nTJ7510\tTJ\tX\tx\n", `line 3: bad court code "TJ7510"`},
		{"lowercase code", h + "tj75101\tTJ\tX\tx\n", `line 2: bad court code`},
		{"CA double hyphen", h + "CA--PARIS\tCA\tX\tx\n", `line 2: bad court code`},
		{"CA empty name", h + "CA-\tCA\tX\tx\n", `line 2: bad court code`},
		{"kind mismatch", h + "CA-PARIS\tTJ\tX\tx\n", `line 2: code "CA-PARIS" is of kind CA`},
		{"duplicate code", h + "TJ75101\tTJ\tA\ta\nCC\tCC\tB\tb\nTJ75101\tTJ\tC\tc\n", `line 4: code "TJ75101" already on line 2`},
		{"duplicate judilibre id", h + "TJ75101\tTJ\tA\ta\nTJ75102\tTJ\tB\ta\n", `line 3: judilibre_id "a" already on line 2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := claims.LoadCourts(strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("accepted: %d courts", c.Len())
			}
			if !errors.Is(err, claims.ErrCourtList) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadCourtsAccepts(t *testing.T) {
	in := "\ufeffcode\tkind\tname\tjudilibre_id\r\nCA-ST-DENIS-REUNION\tCA\tCour d'appel de Saint-Denis\tca_st_denis\r\nTJ97411\tTJ\tTribunal judiciaire de Saint-Denis\tTJ97411\r\n"
	c, err := claims.LoadCourts(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 2 || !c.Has("CA-ST-DENIS-REUNION") || !c.Has("TJ97411") {
		t.Fatalf("%+v", c.All())
	}
}
