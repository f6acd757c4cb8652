package azure

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// protectedTag carries a hash of a body's write-only fields (secret values, protected
// settings), which ARM never returns: comparing the hash is how a re-apply knows they are
// unchanged without reading them. A SHA-256 of key material reveals nothing usable.
const protectedTag = "dualpeer-protected-sha256"

// writeOnlyPaths are the fields ARM accepts on PUT but never returns on GET.
var writeOnlyPaths = map[string][]string{
	"microsoft.keyvault/vaults/secrets":             {"properties.value"},
	"microsoft.compute/virtualmachines/extensions":  {"properties.protectedSettings"},
	"microsoft.compute/virtualmachines/runcommands": {"properties.protectedParameters"},
}

// sealWriteOnly adds the protected hash tag to body and returns the copy used for
// comparison, without the write-only fields.
func sealWriteOnly(rtype string, body map[string]any) (cmp map[string]any) {
	paths := writeOnlyPaths[strings.ToLower(rtype)]
	if len(paths) == 0 {
		return body
	}
	h := sha256.New()
	cmp = normalize(body).(map[string]any)
	for _, p := range paths {
		v, ok := take(cmp, p)
		if !ok {
			continue
		}
		b, _ := json.Marshal(v)
		h.Write([]byte(p))
		h.Write(b)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	tags, _ := body["tags"].(map[string]any)
	if tags == nil {
		tags = map[string]any{}
	}
	tags[protectedTag] = sum
	body["tags"] = tags
	ctags, _ := cmp["tags"].(map[string]any)
	if ctags == nil {
		ctags = map[string]any{}
		cmp["tags"] = ctags
	}
	ctags[protectedTag] = sum
	return cmp
}

// take removes a dotted path from m and returns its value.
func take(m map[string]any, path string) (any, bool) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			return nil, false
		}
		m = next
	}
	v, ok := m[parts[len(parts)-1]]
	delete(m, parts[len(parts)-1])
	return v, ok
}

// normalize turns any JSON-able value into the generic shape json.Unmarshal gives, so that
// desired and actual compare alike (numbers as float64, slices as []any).
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return v
	}
	return out
}

// satisfied reports whether actual already has everything desired says (desired ⊆ actual):
// ARM adds read-only and defaulted fields, which do not count as a difference. Resource ids
// and locations compare as ARM compares them (case-insensitively, locations without spaces).
func satisfied(desired, actual any, key string) bool {
	switch d := desired.(type) {
	case map[string]any:
		a, ok := actual.(map[string]any)
		if !ok {
			return false
		}
		for k, dv := range d {
			av, ok := a[k]
			if !ok {
				av, ok = lookupFold(a, k)
			}
			if !ok {
				if isEmpty(dv) {
					continue
				}
				return false
			}
			if !satisfied(dv, av, k) {
				return false
			}
		}
		return true
	case []any:
		a, ok := actual.([]any)
		if !ok || len(a) != len(d) {
			return false
		}
		for i := range d {
			if !satisfied(d[i], a[i], key) {
				return false
			}
		}
		return true
	case string:
		a, ok := actual.(string)
		if !ok {
			return false
		}
		if d == a {
			return true
		}
		if key == "location" {
			return strings.EqualFold(strings.ReplaceAll(d, " ", ""), strings.ReplaceAll(a, " ", ""))
		}
		if strings.HasPrefix(d, "/subscriptions/") || strings.HasPrefix(d, "/providers/") || strings.EqualFold(key, "type") {
			return strings.EqualFold(d, a)
		}
		return false
	default:
		return normalizeEq(desired, actual)
	}
}

func lookupFold(m map[string]any, k string) (any, bool) {
	for mk, v := range m {
		if strings.EqualFold(mk, k) {
			return v, true
		}
	}
	return nil, false
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

func normalizeEq(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
