package config

import (
	"os"
	"strings"
	"testing"
)

func TestResolutionAuto(t *testing.T) {
	cases := []struct {
		name string
		file string
		env  []string
		ov   map[string]any
		want int // after Load
	}{
		{"needle follows the canvas", "data:\n  needle:\n    canvas: 64\n", nil, nil, 64},
		{"folder defaults to auto", "data:\n  source: folder\n  path: x\n", nil, nil, ResolutionAuto},
		{"auto in the file", "data:\n  source: folder\n  path: x\n  resolution: auto\n", nil, nil, ResolutionAuto},
		{"auto in the environment", "data:\n  source: folder\n  path: x\n  resolution: 300\n", []string{"ZOOMTRAIN_DATA_RESOLUTION=auto"}, nil, ResolutionAuto},
		{"auto as an override", "data:\n  source: folder\n  path: x\n  resolution: 300\n", nil, map[string]any{"data.resolution": "auto"}, ResolutionAuto},
		{"a number stays", "data:\n  source: folder\n  path: x\n  resolution: 300\n", nil, nil, 300},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.file))
			if tc.env != nil || tc.ov != nil {
				c, err = loadBytes(t, tc.file, tc.env, tc.ov)
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Data.Resolution != tc.want {
				t.Fatalf("resolution %d, want %d", c.Data.Resolution, tc.want)
			}
			y, err := c.YAML()
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(y)
			if err != nil {
				t.Fatalf("reparse: %v\n%s", err, y)
			}
			if back.Data.Resolution != tc.want {
				t.Errorf("round trip: resolution %d, want %d", back.Data.Resolution, tc.want)
			}
			if tc.want == ResolutionAuto && !strings.Contains(string(y), "resolution: auto") {
				t.Errorf("YAML lacks resolution: auto:\n%s", y)
			}
		})
	}
}

func TestResolutionAutoBadValue(t *testing.T) {
	_, err := Parse([]byte("data:\n  source: folder\n  path: x\n  resolution: big\n"))
	if err == nil || !strings.Contains(err.Error(), `expected an integer or "auto"`) {
		t.Fatalf("got %v, want an error naming integer or auto", err)
	}
}

func TestResolveAuto(t *testing.T) {
	cases := []struct {
		largest, want int
		capped, fails bool
	}{
		{160, 160, false, false},
		{MaxAutoResolution, MaxAutoResolution, false, false},
		{4000, MaxAutoResolution, true, false},
		{40, 0, false, true}, // smaller than the saliency input 64
		{0, 0, false, true},
	}
	for _, tc := range cases {
		c, err := Parse([]byte("data:\n  source: folder\n  path: x\n"))
		if err != nil {
			t.Fatal(err)
		}
		got, capped, err := c.ResolveAuto(tc.largest)
		if (err != nil) != tc.fails {
			t.Fatalf("largest %d: error %v, want failure %v", tc.largest, err, tc.fails)
		}
		if err != nil {
			if !c.IsAuto() {
				t.Errorf("largest %d: a failed resolve left resolution %d", tc.largest, c.Data.Resolution)
			}
			continue
		}
		if got != tc.want || capped != tc.capped || c.Data.Resolution != tc.want {
			t.Errorf("largest %d: got %d capped %v (config %d), want %d capped %v", tc.largest, got, capped, c.Data.Resolution, tc.want, tc.capped)
		}
	}
}

// loadBytes loads file through Load, with env and overrides.
func loadBytes(t *testing.T, file string, env []string, ov map[string]any) (Config, error) {
	t.Helper()
	p := t.TempDir() + "/c.yaml"
	if err := os.WriteFile(p, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(p, env, ov)
}
