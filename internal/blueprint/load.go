package blueprint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Load applies variable files and -var assignments to a copy of base, the way Terraform does:
// every file in order, then every -var in order, a later assignment winning over an earlier one.
// Files ending in .json are read as .tfvars.json, all others as HCL .tfvars. A -var value is an
// HCL expression, except for variables of a primitive type where the raw text is taken literally
// (as `terraform -var environment=dev` does). Every problem found is returned at once, each naming
// the file and line (or the -var), the variable, the value, the rule and the fix.
// Load does not validate the result: call Validate.
func Load(ctx context.Context, base *Config, varFiles []string, vars []string) (*Config, error) {
	loadRegistry()
	if registryErr != nil {
		return nil, fmt.Errorf("internal variable table: %w", registryErr)
	}
	if base == nil {
		base = Default()
	}
	cfg, err := base.Clone()
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, f := range varFiles {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		errs = append(errs, loadFile(cfg, f)...)
	}
	for i, kv := range vars {
		if err := loadVar(cfg, i+1, kv); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// Clone returns a deep copy of c.
func (c *Config) Clone() (*Config, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("copy configuration: %w", err)
	}
	out := &Config{}
	if err := json.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("copy configuration: %w", err)
	}
	if c.ExternalCertificates != nil {
		ec := *c.ExternalCertificates
		out.ExternalCertificates = &ec
	}
	out.sources = map[string]string{}
	for k, v := range c.sources {
		out.sources[k] = v
	}
	return out, nil
}

func loadFile(cfg *Config, path string) []error {
	src, err := os.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("read variable file %s: %w (check the -var-file path)", path, err)}
	}
	var file *hcl.File
	var diags hcl.Diagnostics
	if strings.HasSuffix(path, ".json") {
		file, diags = hcljson.Parse(src, path)
	} else {
		file, diags = hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	}
	if diags.HasErrors() {
		return diagErrors(path, diags)
	}
	attrs, diags := file.Body.JustAttributes()
	if diags.HasErrors() {
		return diagErrors(path, diags)
	}
	// Apply in file order so that errors come out in reading order.
	list := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Range.Start.Byte < list[j].Range.Start.Byte })
	var errs []error
	for _, a := range list {
		where := fmt.Sprintf("%s:%d", a.Range.Filename, a.Range.Start.Line)
		v, ok := lookupVariable(a.Name)
		if !ok {
			errs = append(errs, unknownVariable(where, a.Name))
			continue
		}
		val, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			errs = append(errs, &FieldError{Source: where, Variable: a.Name, Value: exprText(src, a.Expr.Range()),
				Rule: "the value must be a literal (" + firstDiag(diags) + ")",
				Fix:  "write a constant value: tfvars files cannot refer to other variables or call functions"})
			continue
		}
		if err := assign(cfg, v, a.Name, val, where, exprText(src, a.Expr.Range())); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func loadVar(cfg *Config, n int, kv string) error {
	where := fmt.Sprintf("-var #%d", n)
	name, raw, ok := strings.Cut(kv, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return &FieldError{Source: where, Variable: name, Value: kv, Rule: "a -var must have the form name=value",
			Fix: "write -var 'name=value', e.g. -var environment=dev"}
	}
	v, found := lookupVariable(name)
	if !found {
		return unknownVariable(where, name)
	}
	var val cty.Value
	if v.Type.IsPrimitiveType() {
		// Terraform takes -var values of primitive variables literally, so a bare word is a
		// string and `true` / `28883` convert to bool / number below.
		val = cty.StringVal(raw)
	} else {
		expr, diags := hclsyntax.ParseExpression([]byte(raw), where, hcl.InitialPos)
		if diags.HasErrors() {
			return &FieldError{Source: where, Variable: name, Value: shorten(raw, v.Sensitive),
				Rule: "the value is not a valid HCL expression (" + firstDiag(diags) + ")",
				Fix:  fmt.Sprintf("quote it for your shell, e.g. -var '%s=%s'", name, exampleFor(v))}
		}
		val, diags = expr.Value(nil)
		if diags.HasErrors() {
			return &FieldError{Source: where, Variable: name, Value: shorten(raw, v.Sensitive),
				Rule: "the value must be a literal (" + firstDiag(diags) + ")",
				Fix:  "write a constant value; strings inside objects and lists need double quotes"}
		}
	}
	return assign(cfg, v, name, val, where, shorten(raw, v.Sensitive))
}

// assign converts val to the variable's declared type and stores it.
func assign(cfg *Config, v *Variable, usedName string, val cty.Value, where, shown string) error {
	if v.Sensitive {
		shown = "(sensitive)"
	}
	fe := func(rule, fix string) error {
		return &FieldError{Source: where, Variable: v.Name, Value: shown, Rule: rule, Fix: fix}
	}
	if val.IsNull() {
		if v.Name == "tags" {
			// tags is nullable = false upstream: null means the default, {}.
			cfg.Tags = map[string]string{}
			cfg.noteSource(v.Name, where)
			return nil
		}
		if !v.nullable(cfg) {
			return fe("the variable cannot be null", fmt.Sprintf("give a %s value or remove the assignment to keep the default", v.TypeExpr))
		}
	}
	if err := checkAttributes(val, v.Type, v.Name); err != nil {
		return fe(err.Error(), "remove the attribute or correct its spelling; expected type "+v.TypeExpr)
	}
	if v.defaults != nil {
		val = v.defaults.Apply(val)
	}
	conv, err := convert.Convert(val, v.Type)
	if err != nil {
		return fe("wrong type: "+convertMessage(err), "give a value of type "+v.TypeExpr+", e.g. "+v.Name+" = "+exampleFor(v))
	}
	if v.Type.IsObjectType() && !conv.IsNull() {
		// A missing required attribute converts to null silently in some cty paths; reject it.
		for name := range v.Type.AttributeTypes() {
			if !v.Type.AttributeOptional(name) && conv.GetAttr(name).IsNull() {
				return fe(fmt.Sprintf("attribute %q is required", name), "add "+name+" to the object; expected type "+v.TypeExpr)
			}
		}
	}
	if err := v.set(cfg, conv); err != nil {
		return fe("cannot store the value: "+err.Error(), "give a value of type "+v.TypeExpr)
	}
	if usedName != v.Name {
		cfg.noteSource(usedName, where)
	}
	cfg.noteSource(v.Name, where)
	return nil
}

func (c *Config) noteSource(name, where string) {
	if c.sources == nil {
		c.sources = map[string]string{}
	}
	c.sources[name] = where
}

// checkAttributes rejects object attributes the declared type does not have; go-cty's
// conversion would silently drop them, hiding a typo such as adress_space.
func checkAttributes(val cty.Value, ty cty.Type, path string) error {
	if val.IsNull() || !val.IsKnown() || ty == cty.DynamicPseudoType {
		return nil
	}
	vt := val.Type()
	switch {
	case ty.IsObjectType() && (vt.IsObjectType() || vt.IsMapType()):
		want := ty.AttributeTypes()
		keys := make([]string, 0)
		for it := val.ElementIterator(); it.Next(); {
			k, _ := it.Element()
			keys = append(keys, k.AsString())
		}
		sort.Strings(keys)
		for _, k := range keys {
			at, ok := want[k]
			if !ok {
				names := make([]string, 0, len(want))
				for n := range want {
					names = append(names, n)
				}
				sort.Strings(names)
				msg := fmt.Sprintf("%s: attribute %q is not expected here (allowed: %s)", path, k, strings.Join(names, ", "))
				if s := nearest(k, names); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
				return errors.New(msg)
			}
			var ev cty.Value
			if vt.IsObjectType() {
				ev = val.GetAttr(k)
			} else {
				ev = val.Index(cty.StringVal(k))
			}
			if err := checkAttributes(ev, at, path+"."+k); err != nil {
				return err
			}
		}
	case (ty.IsMapType() || ty.IsListType() || ty.IsSetType()) && (vt.IsObjectType() || vt.IsMapType() || vt.IsTupleType() || vt.IsListType() || vt.IsSetType()):
		for it := val.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			key := "?"
			if k.Type() == cty.String {
				key = k.AsString()
			} else if k.Type() == cty.Number {
				key = k.AsBigFloat().String()
			}
			sep := "."
			if k.Type() == cty.Number {
				key, sep = "["+key+"]", ""
			}
			if err := checkAttributes(ev, ty.ElementType(), path+sep+key); err != nil {
				return err
			}
		}
	}
	return nil
}

func unknownVariable(where, name string) error {
	fix := "run `dualpeer init` to see every variable"
	if s := nearest(name, variableNames()); s != "" {
		fix = fmt.Sprintf("did you mean %q? (run `dualpeer init` to see every variable)", s)
	}
	return &FieldError{Source: where, Variable: name, Rule: "no such variable", Fix: fix}
}

// nearest returns the candidate closest to name by edit distance, or "" when none is close
// enough to be a plausible typo.
func nearest(name string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := levenshtein.Distance(name, c, nil)
		if d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	limit := len(name) / 3
	if limit < 3 {
		limit = 3
	}
	if bestD > limit {
		return ""
	}
	return best
}

func diagErrors(path string, diags hcl.Diagnostics) []error {
	var errs []error
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		where := path
		if d.Subject != nil {
			where = fmt.Sprintf("%s:%d", filepath.ToSlash(d.Subject.Filename), d.Subject.Start.Line)
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		errs = append(errs, fmt.Errorf("%s: %s (fix the syntax; a tfvars file holds lines like name = value)", where, msg))
	}
	return errs
}

func firstDiag(diags hcl.Diagnostics) string {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			if d.Detail != "" {
				return d.Summary + ": " + d.Detail
			}
			return d.Summary
		}
	}
	return diags.Error()
}

func convertMessage(err error) string {
	var pe cty.PathError
	if errors.As(err, &pe) && len(pe.Path) > 0 {
		return fmt.Sprintf("%s at %s", pe.Error(), formatPath(pe.Path))
	}
	return err.Error()
}

func formatPath(p cty.Path) string {
	var b strings.Builder
	for _, s := range p {
		switch s := s.(type) {
		case cty.GetAttrStep:
			b.WriteString("." + s.Name)
		case cty.IndexStep:
			if s.Key.Type() == cty.String {
				b.WriteString(fmt.Sprintf("[%q]", s.Key.AsString()))
			} else if s.Key.Type() == cty.Number {
				b.WriteString("[" + s.Key.AsBigFloat().String() + "]")
			}
		}
	}
	return strings.TrimPrefix(b.String(), ".")
}

func exprText(src []byte, r hcl.Range) string {
	if r.Start.Byte < 0 || r.End.Byte > len(src) || r.Start.Byte > r.End.Byte {
		return ""
	}
	return shorten(string(src[r.Start.Byte:r.End.Byte]), false)
}

func shorten(s string, sensitive bool) string {
	if sensitive {
		return "(sensitive)"
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// exampleFor renders the variable's default as HCL, as an example of a well-typed value.
func exampleFor(v *Variable) string {
	if v.Sensitive {
		return "{ server_root_ca_cert = \"...\", … }"
	}
	val, err := v.Get(Default())
	if err != nil || val.IsNull() {
		switch {
		case v.Type == cty.String:
			return `"value"`
		case v.Type == cty.Number:
			return "1"
		}
		return "null"
	}
	return strings.TrimSpace(string(hclwrite.TokensForValue(val).Bytes()))
}
