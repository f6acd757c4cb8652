package armschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Set is a loaded folder of swagger files and the PUT body schema of each resource type.
type Set struct {
	files  map[string]map[string]any // absolute clean path → parsed document
	bodies map[string]schemaRef      // key(type, apiVersion) → body schema
}

// schemaRef is a schema node together with the file it lives in, so relative $refs inside it
// resolve against the right directory.
type schemaRef struct {
	file string
	node map[string]any
}

// Error is one validation failure at a JSON path of the body.
type Error struct {
	Path string // e.g. "properties.ports[0].tls.mode"; "" for the body itself
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return "body: " + e.Msg
	}
	return e.Path + ": " + e.Msg
}

func key(resourceType, apiVersion string) string {
	return strings.ToLower(resourceType) + "@" + apiVersion
}

// Load reads every *.json file under root and indexes the PUT body schemas by resource type
// and api-version (the file's info.version).
func Load(root string) (*Set, error) {
	s := &Set{files: map[string]map[string]any{}, bodies: map[string]schemaRef{}}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("ARM specs folder %s: %w", root, err)
	}
	err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".json") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var doc map[string]any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			return fmt.Errorf("swagger file %s is not valid JSON: %w", path, err)
		}
		s.files[filepath.Clean(path)] = doc
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load ARM specs from %s (expected a copy of azure-rest-api-specs' specification/ tree): %w", root, err)
	}
	if len(s.files) == 0 {
		return nil, fmt.Errorf("load ARM specs from %s: no .json files found (expected a copy of azure-rest-api-specs' specification/ tree)", root)
	}
	for file, doc := range s.files {
		s.indexPaths(file, doc)
	}
	return s, nil
}

// indexPaths records the body schema of every PUT on an instance path of doc.
func (s *Set) indexPaths(file string, doc map[string]any) {
	info, _ := doc["info"].(map[string]any)
	version, _ := info["version"].(string)
	paths, _ := doc["paths"].(map[string]any)
	for p, ops := range paths {
		opsMap, _ := ops.(map[string]any)
		put, _ := opsMap["put"].(map[string]any)
		if put == nil {
			continue
		}
		rt := resourceTypeOf(p)
		if rt == "" {
			continue
		}
		params, _ := put["parameters"].([]any)
		for _, prm := range params {
			pm, ok := prm.(map[string]any)
			if !ok {
				continue
			}
			pfile := file
			if ref, ok := pm["$ref"].(string); ok {
				r, err := s.resolve(file, ref)
				if err != nil {
					continue
				}
				pfile, pm = r.file, r.node
			}
			if pm["in"] != "body" {
				continue
			}
			if schema, ok := pm["schema"].(map[string]any); ok {
				s.bodies[key(rt, version)] = schemaRef{pfile, schema}
			}
		}
	}
}

// resourceTypeOf turns ".../providers/Microsoft.Network/virtualNetworks/{vnet}/virtualNetworkPeerings/{p}"
// into "Microsoft.Network/virtualNetworks/virtualNetworkPeerings". Collection paths (not
// ending in a {name}) and action paths give "".
func resourceTypeOf(path string) string {
	i := strings.LastIndex(path, "/providers/")
	if i < 0 {
		return ""
	}
	segs := strings.Split(strings.Trim(path[i+len("/providers/"):], "/"), "/")
	if len(segs) < 3 || len(segs)%2 == 0 {
		return ""
	}
	parts := []string{segs[0]}
	for j := 1; j < len(segs); j += 2 {
		if strings.HasPrefix(segs[j], "{") || !strings.HasPrefix(segs[j+1], "{") {
			return ""
		}
		parts = append(parts, segs[j])
	}
	return strings.Join(parts, "/")
}

// Has reports whether the set has a PUT body schema for the type at that api-version.
func (s *Set) Has(resourceType, apiVersion string) bool {
	_, ok := s.bodies[key(resourceType, apiVersion)]
	return ok
}

// Types lists the covered "type@api-version" keys (lower-case types), sorted.
func (s *Set) Types() []string {
	out := make([]string, 0, len(s.bodies))
	for k := range s.bodies {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ValidateBody checks a PUT body for resourceType at apiVersion and returns every problem
// found (nil when the body is valid). The body may hold any JSON-marshalable Go values.
func (s *Set) ValidateBody(resourceType, apiVersion string, body map[string]any) []error {
	root, ok := s.bodies[key(resourceType, apiVersion)]
	if !ok {
		return []error{fmt.Errorf("no ARM schema for %s at api-version %s: the specs folder covers %s",
			resourceType, apiVersion, strings.Join(s.Types(), ", "))}
	}
	// Normalise to plain JSON values (map[string]any, []any, json.Number, string, bool, nil)
	// so the walk does not care whether the caller built the body from structs or literals.
	raw, err := json.Marshal(body)
	if err != nil {
		return []error{fmt.Errorf("ARM body for %s is not JSON-marshalable: %w", resourceType, err)}
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return []error{fmt.Errorf("ARM body for %s: %w", resourceType, err)}
	}
	w := &walker{set: s}
	w.value("", root, v)
	return w.errs
}

type walker struct {
	set  *Set
	errs []error
}

func (w *walker) fail(path, format string, args ...any) {
	w.errs = append(w.errs, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// resolve follows a "$ref" written in file. Refs are "<relative file>#/a/b" or "#/a/b".
func (s *Set) resolve(file, ref string) (schemaRef, error) {
	target, pointer, _ := strings.Cut(ref, "#")
	tfile := file
	if target != "" {
		tfile = filepath.Clean(filepath.Join(filepath.Dir(file), target))
	}
	doc, ok := s.files[tfile]
	if !ok {
		return schemaRef{}, fmt.Errorf("file %s not in the specs folder", tfile)
	}
	var node any = doc
	for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := node.(map[string]any)
		if !ok {
			return schemaRef{}, fmt.Errorf("%s: %q is not an object", ref, tok)
		}
		if node, ok = m[tok]; !ok {
			return schemaRef{}, fmt.Errorf("%s: no %q", ref, tok)
		}
	}
	m, ok := node.(map[string]any)
	if !ok {
		return schemaRef{}, fmt.Errorf("%s does not point at a schema object", ref)
	}
	return schemaRef{tfile, m}, nil
}

// opaqueRef stands for a $ref into a file that is deliberately missing.
var opaqueRef = map[string]any{"x-dualpeer-opaque": true}

// deref follows $ref chains; a ref into a missing file becomes opaqueRef. Sibling keywords
// of a $ref (readOnly, x-ms-mutability, description) are kept by the caller via meta.
func (w *walker) deref(sr schemaRef) schemaRef {
	for i := 0; i < 32; i++ {
		ref, ok := sr.node["$ref"].(string)
		if !ok {
			return sr
		}
		next, err := w.set.resolve(sr.file, ref)
		if err != nil {
			return schemaRef{sr.file, opaqueRef}
		}
		sr = next
	}
	return sr
}

// notSendable says whether a property schema marks a field that a request must not carry:
// readOnly, or x-ms-mutability without create and update.
func notSendable(nodes ...map[string]any) bool {
	for _, n := range nodes {
		if ro, _ := n["readOnly"].(bool); ro {
			return true
		}
		if mut, ok := n["x-ms-mutability"].([]any); ok {
			writable := false
			for _, m := range mut {
				if m == "create" || m == "update" {
					writable = true
				}
			}
			if !writable {
				return true
			}
		}
	}
	return false
}

// objectShape is a schema's properties, required list and additionalProperties after
// merging allOf.
type objectShape struct {
	props      map[string]schemaRef
	required   []string
	additional any // nil: not declared; bool or schemaRef
	declared   bool
}

func (w *walker) shape(sr schemaRef, depth int) objectShape {
	sh := objectShape{props: map[string]schemaRef{}}
	w.mergeShape(&sh, sr, depth)
	return sh
}

func (w *walker) mergeShape(sh *objectShape, sr schemaRef, depth int) {
	if depth > 16 {
		return
	}
	sr = w.deref(sr)
	for _, a := range asSlice(sr.node["allOf"]) {
		if am, ok := a.(map[string]any); ok {
			w.mergeShape(sh, schemaRef{sr.file, am}, depth+1)
		}
	}
	if props, ok := sr.node["properties"].(map[string]any); ok {
		sh.declared = true
		for name, p := range props {
			if pm, ok := p.(map[string]any); ok {
				sh.props[name] = schemaRef{sr.file, pm}
			}
		}
	}
	for _, r := range asSlice(sr.node["required"]) {
		if s, ok := r.(string); ok {
			sh.required = append(sh.required, s)
		}
	}
	switch ap := sr.node["additionalProperties"].(type) {
	case bool:
		sh.additional = ap
	case map[string]any:
		sh.additional = schemaRef{sr.file, ap}
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// value validates v against the schema sr at path.
func (w *walker) value(path string, sr schemaRef, v any) {
	site := sr.node // the property node itself (may carry x-nullable next to a $ref)
	sr = w.deref(sr)
	n := sr.node
	if v == nil {
		if nb, _ := site["x-nullable"].(bool); nb {
			return
		}
		if nb, _ := n["x-nullable"].(bool); nb {
			return
		}
		w.fail(path, "null is not allowed; omit the field instead")
		return
	}
	if _, ok := n["x-dualpeer-opaque"]; ok {
		// A reference into a file that is not in the folder: request bodies use {"id": "<arm id>"}.
		m, ok := v.(map[string]any)
		if !ok {
			w.fail(path, "want an object with an \"id\" (a reference to another resource), got %s", kindOf(v))
			return
		}
		if id, ok := m["id"].(string); !ok || id == "" {
			w.fail(path, "a reference to another resource needs a non-empty string \"id\"")
		}
		return
	}
	typ, _ := n["type"].(string)
	if typ == "" && (n["properties"] != nil || n["allOf"] != nil || n["additionalProperties"] != nil) {
		typ = "object"
	}
	if enum := asSlice(n["enum"]); len(enum) > 0 {
		found := false
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				found = true
				break
			}
		}
		if !found {
			w.fail(path, "value %v is not one of %v", v, enumStrings(enum))
		}
	}
	switch typ {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			w.fail(path, "want an object, got %s", kindOf(v))
			return
		}
		w.object(path, sr, m)
	case "array":
		a, ok := v.([]any)
		if !ok {
			w.fail(path, "want an array, got %s", kindOf(v))
			return
		}
		if mx, ok := num(n["maxItems"]); ok && float64(len(a)) > mx {
			w.fail(path, "has %d items, at most %v allowed", len(a), mx)
		}
		if mn, ok := num(n["minItems"]); ok && float64(len(a)) < mn {
			w.fail(path, "has %d items, at least %v required", len(a), mn)
		}
		if items, ok := n["items"].(map[string]any); ok {
			for i, e := range a {
				w.value(fmt.Sprintf("%s[%d]", path, i), schemaRef{sr.file, items}, e)
			}
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			w.fail(path, "want a string, got %s", kindOf(v))
			return
		}
		if mx, ok := num(n["maxLength"]); ok && float64(len([]rune(s))) > mx {
			w.fail(path, "is %d characters long, at most %v allowed", len([]rune(s)), mx)
		}
		if mn, ok := num(n["minLength"]); ok && float64(len([]rune(s))) < mn {
			w.fail(path, "is %d characters long, at least %v required", len([]rune(s)), mn)
		}
		if pat, ok := n["pattern"].(string); ok {
			// Swagger patterns are ECMA-262; the few Go's RE2 cannot compile are skipped.
			if re, err := regexp.Compile(pat); err == nil && !re.MatchString(s) {
				w.fail(path, "%q does not match the pattern %s", s, pat)
			}
		}
	case "integer", "number":
		jn, ok := v.(json.Number)
		if !ok {
			w.fail(path, "want a number, got %s", kindOf(v))
			return
		}
		f, err := jn.Float64()
		if err != nil {
			w.fail(path, "%s is not a number", jn)
			return
		}
		if typ == "integer" && f != math.Trunc(f) {
			w.fail(path, "want an integer, got %s", jn)
		}
		if mx, ok := num(n["maximum"]); ok && f > mx {
			w.fail(path, "%s is above the maximum %v", jn, mx)
		}
		if mn, ok := num(n["minimum"]); ok && f < mn {
			w.fail(path, "%s is below the minimum %v", jn, mn)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			w.fail(path, "want a boolean, got %s", kindOf(v))
		}
	case "":
		// No type and no structure: a free-form value.
	default:
		w.fail(path, "schema has unsupported type %q (armschema does not know it)", typ)
	}
}

func (w *walker) object(path string, sr schemaRef, m map[string]any) {
	sh := w.shape(sr, 0)
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names) // stable error order
	for _, k := range names {
		p := join(path, k)
		if ps, ok := sh.props[k]; ok {
			if notSendable(ps.node, w.deref(ps).node) {
				w.fail(p, "is read-only in the ARM schema and must not be sent")
				continue
			}
			w.value(p, ps, m[k])
			continue
		}
		switch ap := sh.additional.(type) {
		case schemaRef:
			w.value(p, ap, m[k])
		case bool:
			if !ap {
				w.fail(p, "unknown property (the schema allows %s)", known(sh))
			}
		default:
			if sh.declared {
				w.fail(p, "unknown property (the schema allows %s)", known(sh))
			}
			// Neither properties nor additionalProperties: a free-form object.
		}
	}
	for _, r := range sh.required {
		if _, ok := m[r]; ok {
			continue
		}
		if ps, ok := sh.props[r]; ok && notSendable(ps.node, w.deref(ps).node) {
			continue // required in responses only
		}
		w.fail(join(path, r), "is required")
	}
}

func known(sh objectShape) string {
	var ks []string
	for k, p := range sh.props {
		if !notSendable(p.node) {
			ks = append(ks, k)
		}
	}
	if len(ks) == 0 {
		return "no properties"
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

func num(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	}
	return 0, false
}

func enumStrings(e []any) []string {
	out := make([]string, len(e))
	for i, v := range e {
		out[i] = fmt.Sprint(v)
	}
	return out
}

func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// Join is errors.Join for a ValidateBody result, for callers that want one error.
func Join(errs []error) error { return errors.Join(errs...) }
