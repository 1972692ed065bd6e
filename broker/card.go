package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/broker/login"
	"github.com/justiceconnect/justiceconnect/broker/web"
)

// CardHandler serves the card origin (card_listen): the certificate step of the
// agent card login and the static files its pages use.
func (b *Broker) CardHandler() http.Handler { return b.card }

func (b *Broker) cardHandler(pages *web.Pages, l *login.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/card/", l.CardHandler())
	mux.Handle("GET /static/", pages.StaticHandler())
	return b.middleware(pages, mux)
}

// CardTLSConfig is the TLS configuration of the card listener when the broker ends
// TLS itself. It asks for a client certificate without verifying it: the card
// provider verifies the chain against its own trust anchors, revocation included,
// and gives the person a plain answer instead of a failed handshake. The card CAs
// are named in the CertificateRequest (RFC 8446 §4.3.2) so the browser offers the
// card's certificate. Session tickets are off and only HTTP/1.1 is offered, so
// every login is a full handshake signed by the card (DESIGN.md, "Smart card").
func CardTLSConfig(cl config.CardListen) (*tls.Config, error) {
	if cl.TLSCertFile == "" {
		return nil, errors.New("broker: card_listen: no tls_cert_file")
	}
	cert, err := tls.LoadX509KeyPair(cl.TLSCertFile, cl.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("broker: card_listen: %w", err)
	}
	pool := x509.NewCertPool()
	for _, f := range cl.ClientCAFiles {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("broker: card_listen.client_ca_files: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("broker: card_listen.client_ca_files: %s holds no PEM certificate", f)
		}
	}
	return &tls.Config{
		MinVersion:             tls.VersionTLS12,
		Certificates:           []tls.Certificate{cert},
		ClientAuth:             tls.RequestClientCert,
		ClientCAs:              pool,
		SessionTicketsDisabled: true,
		NextProtos:             []string{"http/1.1"},
	}, nil
}
