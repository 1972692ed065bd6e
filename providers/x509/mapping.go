package x509

import (
	stdx509 "crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var (
	oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}
	// oidUPN is Microsoft's user principal name otherName (szOID_NT_PRINCIPAL_NAME).
	oidUPN          = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3}
	oidSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}
)

// mappingValue extracts the value of rule from the leaf. Each rule needs exactly
// one value: a certificate with none or several is not mapped (never a guess, and
// never the common name: SECURITY.md I6).
func mappingValue(rule string, leaf *stdx509.Certificate) (string, error) {
	var values []string
	switch rule {
	case RuleUPN:
		v, err := upns(leaf)
		if err != nil {
			return "", err
		}
		values = v
	case RuleEmail:
		values = leaf.EmailAddresses
	case RuleIssuerSerial:
		v, err := IssuerSerial(leaf)
		if err != nil {
			return "", err
		}
		values = []string{v}
	case RuleSubjectSerialNumber:
		for _, atv := range leaf.Subject.Names {
			if atv.Type.Equal(oidSerialNumber) {
				s, ok := atv.Value.(string)
				if !ok {
					return "", errors.New("subject serialNumber is not a string")
				}
				values = append(values, s)
			}
		}
	default:
		return "", fmt.Errorf("unknown mapping rule %q", rule)
	}
	switch {
	case len(values) == 0:
		return "", errors.New("the certificate carries no such value")
	case len(values) > 1:
		return "", fmt.Errorf("the certificate carries %d such values", len(values))
	case values[0] == "":
		return "", errors.New("the certificate's value is empty")
	}
	return values[0], nil
}

// IssuerSerial is the issuer_serial mapping value of c: the serial number in
// decimal, "@", and the issuer's distinguished name as an RFC 4514 string built
// from the encoded name (every attribute, in RFC 4514's reversed order, unknown
// types as dotted OIDs with a #hex value). Directories store this string to bind
// one card certificate to one entry.
func IssuerSerial(c *stdx509.Certificate) (string, error) {
	var rdns pkix.RDNSequence
	rest, err := asn1.Unmarshal(c.RawIssuer, &rdns)
	if err != nil || len(rest) > 0 {
		return "", errors.New("malformed issuer name")
	}
	return c.SerialNumber.String() + "@" + rdns.String(), nil
}

// upns returns the UPN otherNames of the subjectAltName extension (RFC 5280
// §4.2.1.6: otherName [0] { type-id OID, value [0] EXPLICIT ANY }), whose value is
// a UTF8String. crypto/x509 drops otherNames, so the extension is read here.
func upns(c *stdx509.Certificate) ([]string, error) {
	var out []string
	for _, ext := range c.Extensions {
		if !ext.Id.Equal(oidSubjectAltName) {
			continue
		}
		in := cryptobyte.String(ext.Value)
		var names cryptobyte.String
		if !in.ReadASN1(&names, cbasn1.SEQUENCE) || !in.Empty() {
			return nil, errors.New("malformed subjectAltName")
		}
		for !names.Empty() {
			var gn cryptobyte.String
			var tag cbasn1.Tag
			if !names.ReadAnyASN1(&gn, &tag) {
				return nil, errors.New("malformed subjectAltName")
			}
			if tag != cbasn1.Tag(0).ContextSpecific().Constructed() {
				continue
			}
			var typeID asn1.ObjectIdentifier
			var value cryptobyte.String
			if !gn.ReadASN1ObjectIdentifier(&typeID) ||
				!gn.ReadASN1(&value, cbasn1.Tag(0).ContextSpecific().Constructed()) || !gn.Empty() {
				return nil, errors.New("malformed otherName")
			}
			if !typeID.Equal(oidUPN) {
				continue
			}
			var s cryptobyte.String
			if !value.ReadASN1(&s, cbasn1.UTF8String) || !value.Empty() || !utf8.Valid(s) {
				return nil, errors.New("malformed UPN (not a UTF8String)")
			}
			out = append(out, string(s))
		}
	}
	return out, nil
}
