package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadKEK(t *testing.T) {
	kek := GenerateKEK()
	if len(kek) != KEKSize || bytes.Equal(kek, GenerateKEK()) {
		t.Fatal("GenerateKEK: wrong size or not random")
	}
	dir := t.TempDir()
	write := func(name, content string, perm os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, perm); err != nil { // umask may have narrowed it
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name    string
		file    string
		env     string
		envVal  string
		wantErr string // empty: success
	}{
		{name: "hex file", file: write("hex", hex.EncodeToString(kek)+"\n", 0o600)},
		{name: "base64 file", file: write("b64", base64.StdEncoding.EncodeToString(kek), 0o400)},
		{name: "base64url raw file", file: write("b64url", base64.RawURLEncoding.EncodeToString(kek), 0o600)},
		{name: "group readable", file: write("wide", hex.EncodeToString(kek), 0o640), wantErr: "wider than 0600"},
		{name: "world readable", file: write("world", hex.EncodeToString(kek), 0o604), wantErr: "wider than 0600"},
		{name: "short key", file: write("short", base64.StdEncoding.EncodeToString(kek[:16]), 0o600), wantErr: "decodes to 16 bytes, want 32"},
		{name: "not text", file: write("junk", "not a key at all!", 0o600), wantErr: "neither hex nor base64"},
		{name: "empty file", file: write("empty", "\n", 0o600), wantErr: "empty"},
		{name: "zeros", file: write("zeros", strings.Repeat("00", 32), 0o600), wantErr: "all zeros"},
		{name: "missing file", file: filepath.Join(dir, "nope"), wantErr: "no such file"},
		{name: "env", env: "JC_TEST_KEK", envVal: base64.StdEncoding.EncodeToString(kek)},
		{name: "env unset", env: "JC_TEST_KEK_UNSET", wantErr: "environment variable JC_TEST_KEK_UNSET is unset or empty"},
		{name: "env bad", env: "JC_TEST_KEK", envVal: "abc", wantErr: "environment variable JC_TEST_KEK"},
		{name: "nothing configured", wantErr: "neither a file nor an environment variable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.envVal != "" {
				t.Setenv(c.env, c.envVal)
			}
			got, err := LoadKEK(c.file, c.env)
			if c.wantErr == "" {
				if err != nil || !bytes.Equal(got, kek) {
					t.Fatalf("LoadKEK = %x, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("LoadKEK error = %v, want %q", err, c.wantErr)
			}
			if c.file != "" && !strings.Contains(err.Error(), c.file) {
				t.Errorf("error does not name the file: %v", err)
			}
			// The key text never appears in errors.
			if strings.Contains(err.Error(), hex.EncodeToString(kek)) || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(kek)) {
				t.Errorf("error leaks the key: %v", err)
			}
		})
	}
}
