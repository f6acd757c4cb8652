package dataflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A compiled filter rule. The expression language is the small subset of AIO's that
// filters need: comparisons of inputs ($1…$n) with literals or other inputs, joined by
// && and || (&& binds tighter). Anything else is refused at validation time, never
// silently ignored.
type filter struct {
	inputs [][]string // split paths
	or     [][]comparison
}

type comparison struct {
	left, right operand
	op          string
}

type operand struct {
	input int // 1-based; 0 = literal
	lit   any // float64, string or bool
}

var ops = []string{">=", "<=", "==", "!=", ">", "<"}

func compileFilter(r FilterRule) (*filter, error) {
	if len(r.Inputs) == 0 {
		return nil, errors.New("no inputs")
	}
	f := &filter{}
	for _, in := range r.Inputs {
		f.inputs = append(f.inputs, strings.Split(in, "."))
	}
	if strings.TrimSpace(r.Expression) == "" {
		return nil, errors.New("empty expression")
	}
	for _, disj := range strings.Split(r.Expression, "||") {
		var and []comparison
		for _, conj := range strings.Split(disj, "&&") {
			c, err := parseComparison(strings.TrimSpace(conj), len(r.Inputs))
			if err != nil {
				return nil, fmt.Errorf("expression %q: %w", r.Expression, err)
			}
			and = append(and, c)
		}
		f.or = append(f.or, and)
	}
	return f, nil
}

func parseComparison(s string, n int) (comparison, error) {
	for _, op := range ops {
		if i := strings.Index(s, op); i > 0 {
			l, err := parseOperand(strings.TrimSpace(s[:i]), n)
			if err != nil {
				return comparison{}, err
			}
			r, err := parseOperand(strings.TrimSpace(s[i+len(op):]), n)
			if err != nil {
				return comparison{}, err
			}
			return comparison{left: l, right: r, op: op}, nil
		}
	}
	return comparison{}, fmt.Errorf("%q is not a comparison (supported: %s)", s, strings.Join(ops, " "))
}

func parseOperand(s string, n int) (operand, error) {
	switch {
	case strings.HasPrefix(s, "$"):
		i, err := strconv.Atoi(s[1:])
		if err != nil || i < 1 || i > n {
			return operand{}, fmt.Errorf("%s does not name one of the %d inputs", s, n)
		}
		return operand{input: i}, nil
	case len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0]:
		return operand{lit: s[1 : len(s)-1]}, nil
	case s == "true" || s == "false":
		return operand{lit: s == "true"}, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return operand{}, fmt.Errorf("%q is neither an input ($n), a number, a quoted string nor a boolean", s)
	}
	return operand{lit: v}, nil
}

// matches reports whether the rule matches the JSON document (and so drops it). A
// message that is not JSON, or lacks an input field, does not match: a filter never
// drops what it cannot read.
func (f *filter) matches(doc map[string]any) bool {
	vals := make([]any, len(f.inputs))
	for i, path := range f.inputs {
		v, ok := lookup(doc, path)
		if !ok {
			return false
		}
		vals[i] = v
	}
	for _, and := range f.or {
		all := true
		for _, c := range and {
			if !c.eval(vals) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func lookup(doc map[string]any, path []string) (any, bool) {
	var cur any = doc
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func (c comparison) eval(vals []any) bool {
	get := func(o operand) any {
		if o.input > 0 {
			return vals[o.input-1]
		}
		return o.lit
	}
	l, r := get(c.left), get(c.right)
	switch lv := l.(type) {
	case float64:
		rv, ok := r.(float64)
		if !ok {
			return false
		}
		switch c.op {
		case ">":
			return lv > rv
		case ">=":
			return lv >= rv
		case "<":
			return lv < rv
		case "<=":
			return lv <= rv
		case "==":
			return lv == rv
		case "!=":
			return lv != rv
		}
	case string, bool:
		switch c.op {
		case "==":
			return l == r
		case "!=":
			return l != r
		}
	}
	return false
}

// transformer applies a dataflow's BuiltInTransformation.
type transformer struct {
	filters []*filter
}

func newTransformer(d Dataflow) (*transformer, error) {
	t := &transformer{}
	for i, r := range d.Filter {
		f, err := compileFilter(r)
		if err != nil {
			return nil, fmt.Errorf("filter #%d: %w", i+1, err)
		}
		t.filters = append(t.filters, f)
	}
	return t, nil
}

// keep reports whether a payload passes the filters. The map stage is PassThrough, so
// the payload itself is forwarded unchanged (byte for byte: no re-serialisation).
func (t *transformer) keep(payload []byte) bool {
	if len(t.filters) == 0 {
		return true
	}
	var doc map[string]any
	if err := json.Unmarshal(payload, &doc); err != nil {
		return true
	}
	for _, f := range t.filters {
		if f.matches(doc) {
			return false
		}
	}
	return true
}
