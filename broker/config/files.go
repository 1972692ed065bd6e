package config

import "os"

// CheckFiles reads every secret the configuration names and checks that every
// file it names can be read: what serve would find at start, reported at once
// for check-config. Messages name files and variables, never secret values.
func (c *Config) CheckFiles() []Problem {
	p := &Problems{}
	secret := func(path string, s Secret) {
		if !s.IsSet() {
			return
		}
		if _, err := s.Read(); err != nil {
			p.add(path, "cannot read the secret: %v", err)
		}
	}
	file := func(path, name string) {
		if name == "" {
			return
		}
		f, err := os.Open(name)
		if err != nil {
			p.add(path, "%v", err)
			return
		}
		f.Close()
	}
	secret("keys.kek", c.Keys.KEK)
	if c.Store.Driver == "postgres" {
		secret("store.postgres_dsn", c.Store.PostgresDSN)
	}
	secret("pairwise_salt", c.PairwiseSalt)
	file("listen.tls_cert_file", c.Listen.TLSCertFile)
	file("listen.tls_key_file", c.Listen.TLSKeyFile)
	file("card_listen.tls_cert_file", c.CardListen.TLSCertFile)
	file("card_listen.tls_key_file", c.CardListen.TLSKeyFile)
	for i, name := range c.CardListen.ClientCAFiles {
		file(index("card_listen.client_ca_files", i), name)
	}
	for i, cl := range c.Clients {
		path := index("clients", i)
		secret(path+".secret", cl.Secret)
		if cl.JWKSFile != "" {
			if _, err := ReadJWKS(cl.JWKSFile); err != nil {
				p.add(path+".jwks_file", "%v", err)
			}
		}
	}
	return p.List
}
