package config

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	jose "github.com/go-jose/go-jose/v3" // fosite's client interface uses v3 key sets

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// ToStorageClient turns a declaration into the stored client, hashing a clear
// secret with hashSecret (bcrypt).
func ToStorageClient(cc ClientConfig, hashSecret func([]byte) ([]byte, error)) (*storage.Client, error) {
	c := &storage.Client{
		ID: cc.ClientID, Name: cc.Name, Organization: cc.Organization, Kind: cc.Kind,
		Public:                 cc.TokenEndpointAuthMethod == "none",
		RedirectURIs:           cc.RedirectURIs,
		PostLogoutRedirectURIs: cc.PostLogoutRedirectURIs,
		GrantTypes:             cc.GrantTypes, Scopes: cc.Scopes, Audience: cc.Audience,
		TokenEndpointAuthMethod:     cc.TokenEndpointAuthMethod,
		TokenEndpointAuthSigningAlg: cc.TokenEndpointAuthSigningAlg,
		IDTokenSignedResponseAlg:    cc.IDTokenSignedResponseAlg,
		UserinfoSignedResponseAlg:   cc.UserinfoSignedResponseAlg,
		SubjectType:                 cc.SubjectType, SectorIdentifier: cc.SectorIdentifier,
		BackchannelLogoutURI: cc.BackchannelLogoutURI, BackchannelLogoutSessionRequired: cc.BackchannelLogoutURI != "",
		FrontchannelLogoutURI: cc.FrontchannelLogoutURI,
		AccessTokenLifespan:   time.Duration(cc.AccessTokenLifetime), RefreshTokenLifespan: time.Duration(cc.RefreshTokenLifetime),
		AllowedProviders: cc.AllowedProviders, AllowedProfessions: cc.AllowedProfessions,
		Source: "config",
	}
	switch {
	case cc.SecretHash != "":
		c.SecretHash = []byte(cc.SecretHash)
	case cc.Secret.IsSet():
		secret, err := cc.Secret.Read()
		if err != nil {
			return nil, fmt.Errorf("secret: %w", err)
		}
		if c.SecretHash, err = hashSecret(secret); err != nil {
			return nil, fmt.Errorf("hash secret: %w", err)
		}
	}
	if cc.JWKSFile != "" {
		b, err := os.ReadFile(cc.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("jwks_file: %w", err)
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(b, &set); err != nil {
			return nil, fmt.Errorf("jwks_file: %w", err)
		}
		for _, k := range set.Keys {
			if !k.IsPublic() {
				return nil, fmt.Errorf("jwks_file: key %q holds private material: publish public keys only", k.KeyID)
			}
		}
		c.JWKS = &set
	}
	return c, nil
}
