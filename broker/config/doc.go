// Package config is the broker's configuration file: its schema, strict YAML
// decoding and a validation that reports every problem at once, each with its path
// ("clients[1].redirect_uris[0]: ...").
//
// Load and Parse decode with unknown keys refused (yaml.v3 KnownFields), apply the
// defaults, then Validate; decoding and validation problems come back together in
// one *Problems. Secrets are never inline: a Secret names a file or an environment
// variable and is read at start (CheckFiles reads them all for check-config).
// Durations are written "10m", "12h". Settings that weaken security are named
// Insecure... and listed by Warnings, which the broker logs at start.
//
// Provider settings are type-specific: they stay a yaml.Node here and the provider's
// factory decodes them strictly with DecodeSettings. Client declarations turn into
// stored clients with ToStorageClient; the clients CLI validates with the same
// Config.ValidateClient so a client added by hand obeys the file's rules.
//
// In the login flow the package plays no part at request time: it is read once at
// start (serve, demo) or by check-config, which uses Check to get the decoded
// configuration along with its problems and go on reading secrets (CheckFiles).
package config
