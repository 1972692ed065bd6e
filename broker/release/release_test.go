package release

import (
	"testing"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

func TestSubject(t *testing.T) {
	salt := []byte("salt")
	public := &storage.Client{ID: "ministry", SubjectType: "public"}
	a := &storage.Client{ID: "a", SubjectType: "pairwise", RedirectURIs: []string{"https://mediation.example/cb"}}
	a2 := &storage.Client{ID: "a2", SubjectType: "pairwise", RedirectURIs: []string{"https://mediation.example/other"}}
	b := &storage.Client{ID: "b", SubjectType: "pairwise", RedirectURIs: []string{"https://huissiers.example/cb"}}
	if Subject(public, "sub1", salt) != "sub1" {
		t.Fatal("public client must get the public sub")
	}
	sa, sa2, sb := Subject(a, "sub1", salt), Subject(a2, "sub1", salt), Subject(b, "sub1", salt)
	if sa == "sub1" || sa != sa2 || sa == sb {
		t.Fatalf("pairwise: a=%s a2=%s b=%s", sa, sa2, sb)
	}
	if Subject(a, "sub1", []byte("other salt")) == sa {
		t.Fatal("salt ignored")
	}
}

func TestClaims(t *testing.T) {
	all := map[string]any{"given_name": "C", "email": "c@x", "profession": "magistrat", "jurisdictions": []string{"TJ75101"}}
	got := Claims([]string{"openid", "profession"}, all)
	if len(got) != 1 || got["profession"] != "magistrat" {
		t.Fatalf("released %v", got)
	}
	if len(Claims([]string{"openid"}, all)) != 0 {
		t.Fatal("openid alone released claims")
	}
}
