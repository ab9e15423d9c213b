package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"zoomtrain/internal/inputfile"
)

// MaxFileBytes bounds a config file, and the config stored in a checkpoint. A complete
// resolved config (every key, from YAML()) is about 1 KB; 64 KiB leaves room for any
// amount of comments, and parses in tens of milliseconds, where a 55 MB YAML list took
// minutes and gigabytes.
const MaxFileBytes = 64 << 10

// Load resolves the configuration: Default(), then the YAML file at path (none if
// path is ""), then the ZOOMTRAIN_* variables of env (in os.Environ form), then
// overrides (dotted key -> value, only the flags the user set). A string override
// for a non-string key is read like an environment variable ("8,11" for a list). The
// result is validated.
//
// A ZOOMTRAIN_ variable under a config section (ZOOMTRAIN_TRAIN_LRATE) that names
// no key is an error; other ZOOMTRAIN_ variables are left to whoever reads them.
func Load(path string, env []string, overrides map[string]any) (Config, error) {
	var file []byte
	if path != "" {
		// Only a regular file is read, so /dev/zero or a FIFO is an error, not a hang.
		b, err := inputfile.ReadFile(path, MaxFileBytes)
		if err != nil {
			return Config{}, fmt.Errorf("read config: %w", err)
		}
		file = b
	}
	return resolve(path, file, env, overrides)
}

// Parse reads a complete or partial YAML configuration strictly, with no
// environment or overrides: the way to read the config stored in a checkpoint.
// The result is validated.
func Parse(yamlBytes []byte) (Config, error) {
	return resolve("", yamlBytes, nil, nil)
}

func resolve(path string, file []byte, env []string, overrides map[string]any) (Config, error) {
	s := newSchema()
	where := func(err error) error {
		if path == "" {
			return fmt.Errorf("config: %w", err)
		}
		return fmt.Errorf("config %s: %w", path, err)
	}
	if len(file) > MaxFileBytes {
		return Config{}, where(fmt.Errorf("%w: %d bytes, the limit is %d", inputfile.ErrTooLarge, len(file), MaxFileBytes))
	}

	fileLayer := map[string]any{}
	if err := readYAML(s, file, fileLayer); err != nil {
		return Config{}, where(err)
	}
	envLayer, err := readEnv(s, env)
	if err != nil {
		return Config{}, fmt.Errorf("environment: %w", err)
	}
	flagLayer, err := readOverrides(s, overrides)
	if err != nil {
		return Config{}, err
	}

	v := viper.New()
	for key, val := range s.values(Default()) {
		v.SetDefault(key, val)
	}
	if err := v.MergeConfigMap(unflatten(fileLayer)); err != nil {
		return Config{}, where(err)
	}
	// Viper's Set layer outranks the file; environment goes in first so that
	// overrides replace it.
	for _, layer := range []map[string]any{envLayer, flagLayer} {
		for key, val := range layer {
			v.Set(key, val)
		}
	}

	var c Config
	strict := func(dc *mapstructure.DecoderConfig) {
		dc.WeaklyTypedInput = false
		dc.DecodeHook = nil
	}
	if err := v.UnmarshalExact(&c, strict); err != nil {
		// The layers were checked key by key above, so this is a bug, not a user error.
		return Config{}, fmt.Errorf("config: decode: %w", err)
	}

	if !setIn(resolutionKey, fileLayer, envLayer, flagLayer) {
		switch c.Data.Source {
		case SourceNeedle:
			c.Data.Resolution = c.Data.Needle.Canvas
		case SourceFolder:
			c.Data.Resolution = ResolutionAuto
		}
	}
	if c.Data.Source == SourceNeedleGaze && !setIn("data.resolution", fileLayer, envLayer, flagLayer) {
		c.Data.Resolution = c.Data.Gaze.Canvas
	}
	// Not prefixed with the file: the bad value may come from any layer.
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func setIn(key string, layers ...map[string]any) bool {
	for _, l := range layers {
		if _, ok := l[key]; ok {
			return true
		}
	}
	return false
}

// readYAML decodes one YAML document into flat, checking every key and type.
func readYAML(s schema, b []byte, flat map[string]any) error {
	var doc any
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file means all defaults
		}
		return oneLine{err}
	}
	var extra any
	if err := dec.Decode(&extra); err == nil {
		return fmt.Errorf("more than one YAML document")
	}
	m, err := asMapping("", doc)
	if err != nil {
		return fmt.Errorf("expected a mapping of config keys, got %s", describe(doc))
	}
	return s.flatten("", m, flat)
}

func readEnv(s schema, env []string) (map[string]any, error) {
	byName := make(map[string]string, len(s.leaves))
	for _, key := range s.leaves {
		byName[envName(key)] = key
	}
	var sections []string
	for sec := range s.sections {
		sections = append(sections, envName(sec)+"_")
	}
	sort.Strings(sections)

	out := map[string]any{}
	for _, kv := range env {
		name, text, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) {
			continue
		}
		key, known := byName[name]
		if !known {
			for _, sec := range sections {
				if strings.HasPrefix(name, sec) {
					return nil, fmt.Errorf("unknown config key %s", name)
				}
			}
			continue
		}
		v, err := parseScalar(key, s.kinds[key], text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[key] = v
	}
	return out, nil
}

func readOverrides(s schema, overrides map[string]any) (map[string]any, error) {
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]any, len(overrides))
	for _, key := range keys {
		k, ok := s.kinds[key]
		if !ok {
			return nil, s.unknownKey(key)
		}
		val := overrides[key]
		var err error
		if text, isStr := val.(string); isStr {
			val, err = parseScalar(key, k, text)
		} else {
			val, err = coerce(key, k, val)
		}
		if err != nil {
			return nil, err
		}
		out[key] = val
	}
	return out, nil
}

// YAML returns the resolved configuration with every key, in the order of the
// Config struct, so that two equal configs give equal bytes.
func (c Config) YAML() ([]byte, error) {
	s := newSchema()
	root := &yaml.Node{Kind: yaml.MappingNode}
	sections := map[string]*yaml.Node{"": root}
	vals := s.values(c)
	for _, key := range s.leaves {
		parent := ""
		name := key
		if i := strings.LastIndexByte(key, '.'); i >= 0 {
			parent, name = key[:i], key[i+1:]
		}
		m := section(sections, parent)
		var vn yaml.Node
		val := vals[key]
		if key == resolutionKey && val == ResolutionAuto {
			val = ResolutionAutoName
		}
		if err := vn.Encode(val); err != nil {
			return nil, fmt.Errorf("encode %s: %w", key, err)
		}
		if vn.Kind == yaml.SequenceNode {
			vn.Style = yaml.FlowStyle // step_epochs: [8, 11]
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: name}, &vn)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return buf.Bytes(), nil
}

// section finds or creates the mapping node of a dotted section key, appending new
// sections to their parent in the order they are first met (struct order).
func section(sections map[string]*yaml.Node, key string) *yaml.Node {
	if n, ok := sections[key]; ok {
		return n
	}
	parent, name := "", key
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		parent, name = key[:i], key[i+1:]
	}
	p := section(sections, parent)
	n := &yaml.Node{Kind: yaml.MappingNode}
	p.Content = append(p.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: name}, n)
	sections[key] = n
	return n
}

// oneLine keeps a multi-line parser error (yaml lists each problem on its own line)
// to one line, since the CLI prints errors as one line.
type oneLine struct{ err error }

func (e oneLine) Error() string { return strings.Join(strings.Fields(e.err.Error()), " ") }
func (e oneLine) Unwrap() error { return e.err }
