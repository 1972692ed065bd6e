package claims

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

// juridictionsTSV is a copy of the shared reference data (data/juridictions.tsv),
// so the broker and every resource server agree on codes without a file to ship.
//
//go:embed juridictions.tsv
var juridictionsTSV []byte

// Court is one row of the court reference list.
type Court struct {
	Code        string // CC, CA-<NAME> or TJ<INSEE of the seat>
	Kind        string // "CC", "CA" or "TJ"
	Name        string // French name
	JudilibreID string // identifier in the Judilibre API, verbatim
}

// Courts is an immutable court reference list, safe for concurrent use.
type Courts struct {
	all         []Court
	byCode      map[string]int
	byJudilibre map[string]int
}

// ErrCourtList is returned (wrapped, naming the line) by LoadCourts.
var ErrCourtList = errors.New("claims: invalid court list")

var courtsHeader = []string{"code", "kind", "name", "judilibre_id"}

var defaultCourts = sync.OnceValue(func() *Courts {
	c, err := LoadCourts(bytes.NewReader(juridictionsTSV))
	if err != nil {
		// The embedded file is tested; reaching this is a build defect.
		panic(err)
	}
	return c
})

// DefaultCourts returns the embedded reference list, parsed once.
func DefaultCourts() *Courts { return defaultCourts() }

// LoadCourts parses a court list in the juridictions.tsv format: UTF-8,
// tab-separated, the header "code kind name judilibre_id", then one court per
// line with exactly four non-empty fields. It is strict, because a code accepted
// here may end up in tokens: every problem is an error naming its line (the
// first one found), codes must match their kind's syntax (see ValidCourtCode),
// and neither codes nor Judilibre identifiers may repeat.
func LoadCourts(r io.Reader) (*Courts, error) {
	c := &Courts{byCode: map[string]int{}, byJudilibre: map[string]int{}}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
			if !slices.Equal(strings.Split(text, "\t"), courtsHeader) {
				return nil, fmt.Errorf("%w: line 1: header must be %q", ErrCourtList, strings.Join(courtsHeader, "\t"))
			}
			continue
		}
		if text == "" {
			return nil, fmt.Errorf("%w: line %d: empty line", ErrCourtList, line)
		}
		f := strings.Split(text, "\t")
		if len(f) != 4 {
			return nil, fmt.Errorf("%w: line %d: %d columns, want 4", ErrCourtList, line, len(f))
		}
		for i, v := range f {
			if strings.TrimSpace(v) != v || v == "" {
				return nil, fmt.Errorf("%w: line %d: column %s empty or padded with spaces", ErrCourtList, line, courtsHeader[i])
			}
		}
		ct := Court{Code: f[0], Kind: f[1], Name: f[2], JudilibreID: f[3]}
		if !ValidCourtCode(ct.Code) {
			return nil, fmt.Errorf("%w: line %d: bad court code %q", ErrCourtList, line, ct.Code)
		}
		if k := courtKind(ct.Code); k != ct.Kind {
			return nil, fmt.Errorf("%w: line %d: code %q is of kind %s, not %q", ErrCourtList, line, ct.Code, k, ct.Kind)
		}
		if prev, dup := c.byCode[ct.Code]; dup {
			return nil, fmt.Errorf("%w: line %d: code %q already on line %d", ErrCourtList, line, ct.Code, prev+2)
		}
		if prev, dup := c.byJudilibre[ct.JudilibreID]; dup {
			return nil, fmt.Errorf("%w: line %d: judilibre_id %q already on line %d", ErrCourtList, line, ct.JudilibreID, prev+2)
		}
		c.byCode[ct.Code] = len(c.all)
		c.byJudilibre[ct.JudilibreID] = len(c.all)
		c.all = append(c.all, ct)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: line %d: %w", ErrCourtList, line+1, err)
	}
	if line == 0 {
		return nil, fmt.Errorf("%w: empty file, no header", ErrCourtList)
	}
	if len(c.all) == 0 {
		return nil, fmt.Errorf("%w: no court after the header", ErrCourtList)
	}
	return c, nil
}

// ValidCourtCode reports whether code has the syntax of VOCABULARY.md: "CC";
// "CA-" followed by uppercase ASCII letters, digits and single hyphens
// (CA-AIX-PROVENCE); or "TJ" followed by exactly five uppercase letters or
// digits, the INSEE code of the seat (TJ75101, TJ2A004 in Corsica).
func ValidCourtCode(code string) bool {
	return courtKind(code) != ""
}

// courtKind returns the kind code's syntax implies, or "" when it is malformed.
func courtKind(code string) string {
	switch {
	case code == "CC":
		return "CC"
	case strings.HasPrefix(code, "CA-"):
		name := code[3:]
		if name == "" || len(name) > 40 || name[0] == '-' || name[len(name)-1] == '-' || strings.Contains(name, "--") {
			return ""
		}
		for i := 0; i < len(name); i++ {
			if c := name[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return ""
			}
		}
		return "CA"
	case strings.HasPrefix(code, "TJ") && len(code) == 7:
		for i := 2; i < 7; i++ {
			if c := code[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return ""
			}
		}
		return "TJ"
	}
	return ""
}

// Lookup returns the court with this code.
func (c *Courts) Lookup(code string) (Court, bool) {
	i, ok := c.byCode[code]
	if !ok {
		return Court{}, false
	}
	return c.all[i], true
}

// Has reports whether code is in the list.
func (c *Courts) Has(code string) bool {
	_, ok := c.byCode[code]
	return ok
}

// ByJudilibreID returns the court Judilibre names id (verbatim, e.g. "TJ1053").
func (c *Courts) ByJudilibreID(id string) (Court, bool) {
	i, ok := c.byJudilibre[id]
	if !ok {
		return Court{}, false
	}
	return c.all[i], true
}

// All returns every court in file order; the slice is a fresh copy.
func (c *Courts) All() []Court { return slices.Clone(c.all) }

// Len returns the number of courts.
func (c *Courts) Len() int { return len(c.all) }
