package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with the configuration. Path is where, in the file's
// own terms ("clients[1].redirect_uris[0]"); it is empty for the file as a whole.
type Problem struct {
	Path    string
	Message string
}

// String is "path: message".
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Problems is every problem found. Its Error prints one problem per line.
type Problems struct{ List []Problem }

func (p *Problems) Error() string {
	lines := make([]string, len(p.List))
	for i, x := range p.List {
		lines[i] = x.String()
	}
	return strings.Join(lines, "\n")
}

func (p *Problems) add(path, format string, args ...any) {
	p.List = append(p.List, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// errOrNil returns p as an error when it holds a problem, and a true nil otherwise.
func (p *Problems) errOrNil() error {
	if len(p.List) == 0 {
		return nil
	}
	return p
}

// join makes a path: join("a", "b") is "a.b"; keys that are not plain words are
// quoted ("courts.values[\"Tribunal judiciaire de Paris\"]").
func join(path, key string) string {
	if !plainKey.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// position is where a node sits in the file and the path that leads to it.
type position struct {
	line, column int
	key          string // the mapping key naming the node, "" for sequence items
	keyLine      int
	tag          string
	path         string
}

// positions lists every node under n with its path, in document order.
func positions(n *yaml.Node, path string, out *[]position) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			positions(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			*out = append(*out, position{line: v.Line, column: v.Column, key: k.Value, keyLine: k.Line, tag: v.ShortTag(), path: p})
			positions(v, p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := index(path, i)
			*out = append(*out, position{line: c.Line, column: c.Column, keyLine: -1, tag: c.ShortTag(), path: p})
			positions(c, p, out)
		}
	}
}

var (
	unknownFieldRE = regexp.MustCompile(`^line (\d+): field (.+) not found in type \S+$`)
	columnRE       = regexp.MustCompile(`^line (\d+) column (\d+): (.*)$`)
	lineRE         = regexp.MustCompile(`^line (\d+): (.*)$`)
	unmarshalRE    = regexp.MustCompile(`cannot unmarshal (!!\w+)`)
)

// resolveTypeErrors turns yaml.v3's "line N: ..." messages into problems with a
// path, found from the document's positions.
func resolveTypeErrors(doc *yaml.Node, prefix string, te *yaml.TypeError) []Problem {
	if te == nil {
		return nil
	}
	var pos []position
	positions(doc, prefix, &pos)
	var out []Problem
	for _, msg := range te.Errors {
		if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			path := ""
			for _, p := range pos {
				if p.keyLine == line && p.key == m[2] {
					path = p.path
					break
				}
			}
			out = append(out, Problem{Path: path, Message: fmt.Sprintf("unknown key %q (line %d)", m[2], line)})
			continue
		}
		if m := columnRE.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			col, _ := strconv.Atoi(m[2])
			path := ""
			for _, p := range pos {
				if p.line == line && p.column == col {
					path = p.path // the deepest node starting there comes last
				}
			}
			out = append(out, Problem{Path: path, Message: fmt.Sprintf("%s (line %d)", m[3], line)})
			continue
		}
		if m := lineRE.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			tag := ""
			if t := unmarshalRE.FindStringSubmatch(m[2]); t != nil {
				tag = t[1]
			}
			path := ""
			for _, p := range pos {
				if p.line == line && (tag == "" || p.tag == tag) {
					path = p.path
				}
			}
			out = append(out, Problem{Path: path, Message: fmt.Sprintf("%s (line %d)", humanize(m[2]), line)})
			continue
		}
		out = append(out, Problem{Path: prefix, Message: msg})
	}
	return out
}

var goTypeRE = regexp.MustCompile(`into (\[\])?(map\[string\])?(config\.\w+|\w+)$`)

// humanize rewords yaml.v3's "cannot unmarshal !!seq into string" in the file's
// terms.
func humanize(msg string) string {
	m := unmarshalRE.FindStringSubmatch(msg)
	t := goTypeRE.FindStringSubmatch(msg)
	if m == nil || t == nil {
		return msg
	}
	kinds := map[string]string{"!!seq": "a list", "!!map": "a mapping", "!!str": "a string", "!!int": "a number", "!!float": "a number", "!!bool": "a boolean"}
	got := kinds[m[1]]
	if got == "" {
		got = m[1]
	}
	want := "a mapping"
	switch {
	case t[1] != "":
		want = "a list"
	case t[2] != "":
		want = "a mapping"
	case t[3] == "string":
		want = "a string"
	case t[3] == "bool":
		want = "true or false"
	case strings.HasPrefix(t[3], "int"), strings.HasPrefix(t[3], "uint"), strings.HasPrefix(t[3], "float"):
		want = "a number"
	}
	return fmt.Sprintf("%s is expected, not %s", want, got)
}

// dropShadowed removes validation problems at (or under) a path that already has
// a decoding problem: a value that could not be decoded is left empty, and saying
// so again as "required" would only add noise.
func dropShadowed(list, decoded []Problem) []Problem {
	out := list[:0:0]
next:
	for _, p := range list {
		for _, d := range decoded {
			if d.Path != "" && (p.Path == d.Path || strings.HasPrefix(p.Path, d.Path+".") || strings.HasPrefix(p.Path, d.Path+"[")) {
				continue next
			}
		}
		out = append(out, p)
	}
	return out
}

// DecodeSettings decodes a provider's settings block strictly into into (a
// pointer): unknown keys and values of the wrong type are problems. It returns a
// *Problems whose paths start with "settings" ("settings.users[0].password"), with
// the line in the configuration file, or nil. An absent block decodes nothing.
func DecodeSettings(node yaml.Node, into any) error {
	if node.Kind == 0 {
		return nil
	}
	p := &Problems{}
	// yaml.v3 has no KnownFields for Node.Decode: the keys are checked against
	// into's type first, with the same rules (yaml tags, lowercased names, inline).
	unknownKeys(&node, reflect.TypeOf(into), "settings", p)
	if err := node.Decode(into); err != nil {
		if te, ok := err.(*yaml.TypeError); ok {
			p.List = append(p.List, resolveTypeErrors(&node, "settings", te)...)
		} else {
			p.add("settings", "%v", err)
		}
	}
	return p.errOrNil()
}

var (
	nodeType        = reflect.TypeOf(yaml.Node{})
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

// unknownKeys reports the mapping keys under n that t has no field for.
func unknownKeys(n *yaml.Node, t reflect.Type, path string, p *Problems) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			unknownKeys(c, t, path, p)
		}
		return
	}
	for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface) {
		if t.Kind() == reflect.Interface {
			return
		}
		t = t.Elem()
	}
	if t == nil || t == nodeType || t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return
		}
		fields, anyKey := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			switch {
			case ok:
				unknownKeys(v, ft, join(path, k.Value), p)
			case !anyKey && k.Value != "<<":
				p.add(join(path, k.Value), "unknown key %q (line %d)", k.Value, k.Line)
			}
		}
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for i, c := range n.Content {
				unknownKeys(c, t.Elem(), index(path, i), p)
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				unknownKeys(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), p)
			}
		}
	}
}

// yamlFields maps the YAML keys of struct t to their types, as yaml.v3 names
// them; anyKey is true when an inline map takes every other key.
func yamlFields(t reflect.Type) (fields map[string]reflect.Type, anyKey bool) {
	fields = map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Struct:
				inner, innerAny := yamlFields(ft)
				for k, v := range inner {
					fields[k] = v
				}
				anyKey = anyKey || innerAny
			case reflect.Map:
				anyKey = true
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return fields, anyKey
}
