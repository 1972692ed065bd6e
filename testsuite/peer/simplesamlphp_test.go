package peer

import (
	"strings"
	"testing"
)

// TestSimpleSAMLphpStarts checks that the IdP answers its metadata with the generated
// certificate, and that MetadataXML drops single logout unless asked for.
func TestSimpleSAMLphpStarts(t *testing.T) {
	idp := StartSimpleSAMLphp(t, SAMLIdPOptions{})
	md := string(idp.MetadataXML(t))
	if !strings.Contains(md, idp.EntityID) {
		t.Fatalf("metadata does not name %s:\n%s", idp.EntityID, md)
	}
	if !strings.Contains(md, idp.SSOURL) {
		t.Errorf("metadata has no SSO endpoint %s", idp.SSOURL)
	}
	if strings.Contains(md, "SingleLogoutService") {
		t.Errorf("SLO not requested but present:\n%s", md)
	}
	first := idp.Certificate()
	_, second := idp.RotateKey(t)
	if first.Equal(second) {
		t.Fatal("RotateKey kept the certificate")
	}
	md2 := string(idp.MetadataXML(t))
	if md2 == md {
		t.Error("metadata unchanged after key rotation")
	}

	slo := StartSimpleSAMLphp(t, SAMLIdPOptions{SLO: true})
	if !strings.Contains(string(slo.MetadataXML(t)), slo.SLOURL) {
		t.Error("SLO requested but absent from metadata")
	}
}
