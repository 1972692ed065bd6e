package claims

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
)

//go:embed juridictions.tsv
var embeddedCourts []byte

// courtCode is the syntax of court codes: CC, CA-<NAME>, TJ<five characters>.
var courtCode = regexp.MustCompile(`^(CC|CA-[A-Z][A-Z-]*[A-Z]|TJ[0-9][0-9AB][0-9]{3})$`)

// Court is one row of the reference list.
type Court struct {
	Code        string
	Kind        string
	Name        string
	JudilibreID string
}

// Courts is a court reference list.
type Courts struct {
	list        []Court
	byCode      map[string]int
	byJudilibre map[string]int
}

var (
	defaultOnce   sync.Once
	defaultCourts *Courts
)

// DefaultCourts is the embedded reference list (parsed once).
func DefaultCourts() *Courts {
	defaultOnce.Do(func() {
		c, err := LoadCourts(bytes.NewReader(embeddedCourts))
		if err != nil {
			panic("claims: embedded court list: " + err.Error())
		}
		defaultCourts = c
	})
	return defaultCourts
}

// LoadCourts parses a court list in the juridictions.tsv format, strictly: the
// header, four tab-separated columns, valid and unique codes. Errors name the line.
func LoadCourts(r io.Reader) (*Courts, error) {
	c := &Courts{byCode: map[string]int{}, byJudilibre: map[string]int{}}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if line == 1 {
			if text != "code\tkind\tname\tjudilibre_id" {
				return nil, fmt.Errorf("claims: court list line 1: header must be code, kind, name, judilibre_id")
			}
			continue
		}
		if text == "" {
			continue
		}
		f := strings.Split(text, "\t")
		if len(f) != 4 {
			return nil, fmt.Errorf("claims: court list line %d: %d columns, want 4", line, len(f))
		}
		ct := Court{Code: f[0], Kind: f[1], Name: f[2], JudilibreID: f[3]}
		if !courtCode.MatchString(ct.Code) {
			return nil, fmt.Errorf("claims: court list line %d: %q is not a court code", line, ct.Code)
		}
		if ct.Kind != "CC" && ct.Kind != "CA" && ct.Kind != "TJ" {
			return nil, fmt.Errorf("claims: court list line %d: kind %q is not CC, CA or TJ", line, ct.Kind)
		}
		if !strings.HasPrefix(ct.Code, ct.Kind) {
			return nil, fmt.Errorf("claims: court list line %d: code %q does not match kind %s", line, ct.Code, ct.Kind)
		}
		if _, dup := c.byCode[ct.Code]; dup {
			return nil, fmt.Errorf("claims: court list line %d: duplicate code %s", line, ct.Code)
		}
		c.byCode[ct.Code] = len(c.list)
		if ct.JudilibreID != "" {
			c.byJudilibre[ct.JudilibreID] = len(c.list)
		}
		c.list = append(c.list, ct)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("claims: court list: %w", err)
	}
	if line == 0 {
		return nil, fmt.Errorf("claims: court list is empty")
	}
	return c, nil
}

// Lookup returns the court with this code.
func (c *Courts) Lookup(code string) (Court, bool) {
	i, ok := c.byCode[code]
	if !ok {
		return Court{}, false
	}
	return c.list[i], true
}

// Has reports whether code is in the list.
func (c *Courts) Has(code string) bool { _, ok := c.byCode[code]; return ok }

// ByJudilibreID finds a court by its Judilibre identifier.
func (c *Courts) ByJudilibreID(id string) (Court, bool) {
	i, ok := c.byJudilibre[id]
	if !ok {
		return Court{}, false
	}
	return c.list[i], true
}

// All returns the courts in list order.
func (c *Courts) All() []Court { return append([]Court(nil), c.list...) }

// Len is the number of courts.
func (c *Courts) Len() int { return len(c.list) }
