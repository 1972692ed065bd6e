// Package config is the broker's configuration file: its schema, strict YAML
// decoding (unknown keys are errors) and a validation that reports every problem at
// once with its path. Secrets are never inline: a Secret names a file or an
// environment variable. Settings that weaken security are named Insecure... and
// listed by Warnings.
package config
