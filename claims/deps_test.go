package claims_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// allowedModule reports whether an import path may appear in this module's
// dependency graph: the standard library (no dot in the first element), this
// module, and go-jose v4 (DESIGN.md: partners import claims; it must not drag
// the broker's dependencies into their module graph).
func allowedModule(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".") ||
		path == "github.com/justiceconnect/justiceconnect/claims" || path == "github.com/justiceconnect/justiceconnect/claims_test" ||
		strings.HasPrefix(path, "github.com/justiceconnect/justiceconnect/claims/") ||
		path == "github.com/go-jose/go-jose/v4" ||
		strings.HasPrefix(path, "github.com/go-jose/go-jose/v4/")
}

func TestDependencies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	// -test includes what the tests and claimstest import too.
	out, err := exec.Command(goBin, "list", "-deps", "-test", "-f", "{{.ImportPath}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	n := 0
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "[") { // "pkg [pkg.test]": the variant's suffix
			continue
		}
		p = strings.TrimSuffix(p, ".test") // the test main package
		n++
		if !allowedModule(p) {
			t.Errorf("dependency %s is neither stdlib nor go-jose v4", p)
		}
	}
	if n < 10 {
		t.Fatalf("go list returned %d packages: %s", n, out)
	}
}

func TestGoModRequiresOnlyGoJose(t *testing.T) {
	b, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	inRequire := false
	var reqs []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		line, _, _ = strings.Cut(line, "//")
		line = strings.TrimSpace(line)
		switch {
		case line == "require (":
			inRequire = true
		case inRequire && line == ")":
			inRequire = false
		case inRequire && line != "":
			reqs = append(reqs, strings.Fields(line)[0])
		case strings.HasPrefix(line, "require "):
			reqs = append(reqs, strings.Fields(line)[1])
		case strings.HasPrefix(line, "replace "):
			t.Errorf("claims/go.mod has a replace directive: %s", line)
		}
	}
	if len(reqs) != 1 || reqs[0] != "github.com/go-jose/go-jose/v4" {
		t.Fatalf("claims/go.mod requires %q, want only github.com/go-jose/go-jose/v4", reqs)
	}
}
