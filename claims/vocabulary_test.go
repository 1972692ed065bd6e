package claims

import (
	"strings"
	"testing"
)

func TestDefaultCourts(t *testing.T) {
	c := DefaultCourts()
	if c.Len() != 1+36+171 {
		t.Fatalf("courts = %d, want 208", c.Len())
	}
	for _, code := range []string{"CC", "CA-PARIS", "TJ75101", "TJ01053"} {
		if !c.Has(code) {
			t.Errorf("%s missing", code)
		}
	}
	if c.Has("TJ1053") || c.Has("TJ99999") {
		t.Error("unknown codes accepted")
	}
	if ct, ok := c.ByJudilibreID("tj1053"); ok && ct.Code != "TJ01053" {
		t.Errorf("judilibre tj1053 -> %s", ct.Code)
	}
}

func TestLoadCourtsErrors(t *testing.T) {
	header := "code\tkind\tname\tjudilibre_id\n"
	tests := map[string]string{
		"no header":     "CC\tCC\tCour\tcc\n",
		"three columns": header + "CC\tCC\tCour\n",
		"bad code":      header + "TJ1053\tTJ\tBourg\ttj1053\n",
		"kind mismatch": header + "CC\tTJ\tCour\tcc\n",
		"duplicate":     header + "CC\tCC\tCour\tcc\nCC\tCC\tCour\tcc2\n",
	}
	for name, text := range tests {
		if _, err := LoadCourts(strings.NewReader(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := LoadCourts(strings.NewReader(header + "TJ2A004\tTJ\tAjaccio\ttj2a004\n")); err != nil {
		t.Errorf("Corsican code refused: %v", err)
	}
}

func TestACR(t *testing.T) {
	if !EIDAS3.AtLeast(EIDAS1) || EIDAS1.AtLeast(EIDAS2) || ACR("x").AtLeast(EIDAS1) {
		t.Fatal("order wrong")
	}
	if MinACR(EIDAS3, EIDAS1) != EIDAS1 || MinACR(EIDAS2, EIDAS3) != EIDAS2 {
		t.Fatal("MinACR wrong")
	}
	if _, ok := ParseACR("eidas4"); ok {
		t.Fatal("eidas4 parsed")
	}
}

func TestParseRole(t *testing.T) {
	for in, want := range map[string]Role{"juge@TJ75101": {"juge", "TJ75101"}, "procureur": {"procureur", ""}, "president@CA-PARIS": {"president", "CA-PARIS"}} {
		got, err := ParseRole(in)
		if err != nil || got != want || got.String() != in {
			t.Errorf("ParseRole(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"Juge", "juge@", "juge@paris", "", "juge@TJ75101@x"} {
		if _, err := ParseRole(bad); err == nil {
			t.Errorf("ParseRole(%q) accepted", bad)
		}
	}
}

func TestProfessionsAndScopes(t *testing.T) {
	if _, ok := ParseProfession("juge"); ok {
		t.Fatal("unknown profession accepted")
	}
	if p, ok := ParseProfession("commissaire_de_justice"); !ok || p != CommissaireDeJustice {
		t.Fatal("known profession refused")
	}
	if got := ScopeClaims("profession"); len(got) != 4 || got[0] != "profession" {
		t.Fatalf("profession scope = %v", got)
	}
	if ScopeClaims("unknown") != nil {
		t.Fatal("unknown scope releases claims")
	}
}
