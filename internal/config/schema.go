package config

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// kind is the YAML type a leaf key accepts.
type kind int

const (
	kindInt kind = iota
	kindFloat
	kindString
	kindBool
	kindIntList
	kindStringList
)

func (k kind) String() string {
	switch k {
	case kindInt:
		return "an integer"
	case kindFloat:
		return "a number"
	case kindString:
		return "a string"
	case kindBool:
		return "a boolean"
	case kindStringList:
		return "a list of strings"
	default:
		return "a list of integers"
	}
}

// schema describes the keys of Config, read from its mapstructure tags so that the
// struct is the one place that lists them.
type schema struct {
	leaves   []string        // dotted leaf keys in struct order
	kinds    map[string]kind // leaf key -> accepted type
	index    map[string][]int
	sections map[string]bool // dotted keys of nested structs
}

func newSchema() schema {
	s := schema{kinds: map[string]kind{}, index: map[string][]int{}, sections: map[string]bool{}}
	s.add("", nil, reflect.TypeFor[Config]())
	return s
}

func (s *schema) add(prefix string, index []int, t reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		key := prefix + f.Tag.Get("mapstructure")
		idx := append(append([]int(nil), index...), i)
		if f.Type.Kind() == reflect.Struct {
			s.sections[key] = true
			s.add(key+".", idx, f.Type)
			continue
		}
		var k kind
		switch {
		case f.Type.Kind() == reflect.Int || f.Type.Kind() == reflect.Int64:
			k = kindInt
		case f.Type.Kind() == reflect.Float64:
			k = kindFloat
		case f.Type.Kind() == reflect.String:
			k = kindString
		case f.Type.Kind() == reflect.Bool:
			k = kindBool
		case f.Type == reflect.TypeFor[[]int]():
			k = kindIntList
		case f.Type == reflect.TypeFor[[]string]():
			k = kindStringList
		default:
			// Only reachable if someone adds a field of a new type to Config; the
			// schema test catches it.
			continue
		}
		s.leaves = append(s.leaves, key)
		s.kinds[key] = k
		s.index[key] = idx
	}
}

// envName is the environment variable that sets key: ZOOMTRAIN_ + upper case, "." -> "_".
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

const envPrefix = "ZOOMTRAIN_"

// values returns every leaf of c by dotted key.
func (s schema) values(c Config) map[string]any {
	v := reflect.ValueOf(c)
	out := make(map[string]any, len(s.leaves))
	for _, key := range s.leaves {
		out[key] = v.FieldByIndex(s.index[key]).Interface()
	}
	return out
}

// unknownKey is the error for a key that Config does not have, with a suggestion
// when a known key is spelled nearly the same.
func (s schema) unknownKey(key string) error {
	best, bestDist := "", 3
	for _, k := range s.leaves {
		if d := editDistance(key, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return fmt.Errorf("unknown config key %q (did you mean %q?)", key, best)
	}
	return fmt.Errorf("unknown config key %q", key)
}

// flatten checks a decoded YAML mapping against the schema and returns its leaves by
// dotted key, each converted to the Go type of its field.
func (s schema) flatten(prefix string, m map[string]any, out map[string]any) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first error is the same on every run
	for _, k := range keys {
		key := prefix + k
		val := m[k]
		if s.sections[key] {
			sub, err := asMapping(key, val)
			if err != nil {
				return err
			}
			if err := s.flatten(key+".", sub, out); err != nil {
				return err
			}
			continue
		}
		kd, ok := s.kinds[key]
		if !ok {
			return s.unknownKey(key)
		}
		v, err := coerce(key, kd, val)
		if err != nil {
			return err
		}
		out[key] = v
	}
	return nil
}

// asMapping accepts a section's value: a mapping, or nothing (a section whose keys
// are all commented out).
func asMapping(key string, val any) (map[string]any, error) {
	switch m := val.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return m, nil
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("config key %q: key %v is not a string", key, k)
			}
			out[ks] = v
		}
		return out, nil
	default:
		return nil, fmt.Errorf("config key %q: expected a mapping, got %s", key, describe(val))
	}
}

// coerce converts a decoded value to the type of a leaf, refusing anything that
// would lose information (12.5 for an integer, "12" for a number).
func coerce(key string, k kind, val any) (any, error) {
	bad := func() error {
		return fmt.Errorf("config key %q: expected %s, got %s", key, k, describe(val))
	}
	if key == resolutionKey {
		if val == ResolutionAutoName {
			return ResolutionAuto, nil
		}
		bad = func() error {
			return fmt.Errorf("config key %q: expected an integer or %q, got %s", key, ResolutionAutoName, describe(val))
		}
	}
	switch k {
	case kindInt:
		n, ok := asInt(val)
		if !ok {
			return nil, bad()
		}
		return n, nil
	case kindFloat:
		switch v := val.(type) {
		case float64:
			return v, nil
		case float32:
			return float64(v), nil
		}
		if n, ok := asInt(val); ok {
			return float64(n), nil
		}
		return nil, bad()
	case kindString:
		if v, ok := val.(string); ok {
			return v, nil
		}
		return nil, bad()
	case kindBool:
		if v, ok := val.(bool); ok {
			return v, nil
		}
		return nil, bad()
	case kindStringList:
		switch v := val.(type) {
		case nil:
			return []string{}, nil
		case []string:
			return append([]string{}, v...), nil
		case []any:
			out := make([]string, len(v))
			for i, e := range v {
				str, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("config key %q: element %d: expected a string, got %s", key, i, describe(e))
				}
				out[i] = str
			}
			return out, nil
		}
		return nil, bad()
	default:
		switch v := val.(type) {
		case []int:
			return append([]int{}, v...), nil
		case []any:
			out := make([]int, len(v))
			for i, e := range v {
				n, ok := asInt(e)
				if !ok {
					return nil, fmt.Errorf("config key %q: element %d: expected an integer, got %s", key, i, describe(e))
				}
				out[i] = n
			}
			return out, nil
		}
		return nil, bad()
	}
}

// asInt accepts integers of any Go type and integral floats (YAML reads 1e3 as a float).
func asInt(val any) (int, bool) {
	switch v := val.(type) {
	case int:
		return v, true
	case int64:
		if v < math.MinInt || v > math.MaxInt {
			return 0, false
		}
		return int(v), true
	case int32:
		return int(v), true
	case uint64:
		if v > math.MaxInt {
			return 0, false
		}
		return int(v), true
	case float64:
		// The bounds are exclusive of 2^63, which does not fit an int64.
		if v != math.Trunc(v) || v < -(1<<62) || v > 1<<62 {
			return 0, false
		}
		return int(v), true
	}
	return 0, false
}

func describe(val any) string {
	switch v := val.(type) {
	case nil:
		return "nothing (null)"
	case string:
		return "string " + strconv.Quote(v)
	case bool:
		return fmt.Sprintf("boolean %v", v)
	case int, int32, int64, uint64:
		return fmt.Sprintf("integer %v", v)
	case float32, float64:
		return fmt.Sprintf("number %v", v)
	case map[string]any, map[any]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", val)
}

// parseScalar reads a value given as text (an environment variable, a string
// override) for a leaf of kind k: strings are taken verbatim, everything else is
// read as YAML, and a list may be written without brackets ("8,11").
func parseScalar(key string, k kind, text string) (any, error) {
	if key == resolutionKey && strings.TrimSpace(text) == ResolutionAutoName {
		return ResolutionAuto, nil
	}
	if k == kindString {
		return text, nil
	}
	src := strings.TrimSpace(text)
	if (k == kindIntList || k == kindStringList) && !strings.HasPrefix(src, "[") {
		src = "[" + src + "]"
	}
	var v any
	if err := yaml.Unmarshal([]byte(src), &v); err != nil {
		return nil, fmt.Errorf("config key %q: expected %s, got %q", key, k, text)
	}
	if _, isStr := v.(string); isStr || v == nil {
		return nil, fmt.Errorf("config key %q: expected %s, got %q", key, k, text)
	}
	return coerce(key, k, v)
}

// unflatten nests dotted keys into the mappings Viper expects of a config layer.
func unflatten(flat map[string]any) map[string]any {
	out := map[string]any{}
	for key, v := range flat {
		parts := strings.Split(key, ".")
		m := out
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = v
	}
	return out
}

// editDistance is the Levenshtein distance, for "did you mean" suggestions.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
