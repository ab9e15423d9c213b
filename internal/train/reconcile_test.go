package train

import (
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/metrics"
)

// fakeCheckpoint is a checkpoint taken at the end of epoch epochs, carrying the history
// of those epochs (with val top-1 epoch / 10), or none when noHistory.
func fakeCheckpoint(t *testing.T, epochs int, noHistory bool, best float64) *checkpoint.Checkpoint {
	t.Helper()
	var h []metrics.Record
	for e := 1; e <= epochs; e++ {
		r := metrics.NewRecord(e, 10*e)
		r.ValTop1 = float64(e) / 10
		r.Time = "2026-12-01T10:00:00Z"
		h = append(h, r)
	}
	hist, err := historyJSON(h)
	if err != nil {
		t.Fatal(err)
	}
	if noHistory {
		hist = ""
	}
	pos, _ := json.Marshal(position{Epoch: epochs, Step: 10 * epochs})
	return &checkpoint.Checkpoint{Extra: map[string]string{extraPosition: string(pos), extraHistory: hist, extraBest: strconv.FormatFloat(best, 'g', -1, 64)}}
}

func TestReconcileMetrics(t *testing.T) {
	full := func(d *RunDir, c *checkpoint.Checkpoint) {
		h, _ := CheckpointHistory(c)
		for _, r := range h {
			if err := metrics.Append(d.File(MetricsFile), r); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name       string
		noHistory  bool
		damage     func(d *RunDir, c *checkpoint.Checkpoint)
		wantNote   string // "" for none
		wantEpochs int
		aside      bool
	}{
		{"intact", false, full, "", 3, false},
		{"deleted", false, func(*RunDir, *checkpoint.Checkpoint) {}, "is missing: rebuilt its 3 record(s)", 3, false},
		{"emptied", false, func(d *RunDir, _ *checkpoint.Checkpoint) { os.WriteFile(d.File(MetricsFile), nil, 0o644) }, "holds 0 of the 3 epochs", 3, false},
		{"garbage mid-file", false, func(d *RunDir, _ *checkpoint.Checkpoint) {
			os.WriteFile(d.File(MetricsFile), []byte("{\"epoch\":1}\nnot json\n"), 0o644)
		}, "cannot be read", 3, true},
		{"deleted, no history in the checkpoint", true, func(*RunDir, *checkpoint.Checkpoint) {}, "carries no history", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &RunDir{path: t.TempDir()}
			c := fakeCheckpoint(t, 3, tc.noHistory, 0.3)
			tc.damage(d, fakeCheckpoint(t, 3, false, 0.3))
			notes, err := ReconcileMetrics(d, c)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(notes, "; ")
			if (tc.wantNote == "") != (got == "") || !strings.Contains(got, tc.wantNote) {
				t.Errorf("notes %q, want one containing %q", got, tc.wantNote)
			}
			recs, err := metrics.Read(d.File(MetricsFile))
			if tc.wantEpochs == 0 {
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("metrics written without a history to write: %v", err)
				}
			} else if err != nil || len(recs) != tc.wantEpochs {
				t.Errorf("%d records (%v), want %d", len(recs), err, tc.wantEpochs)
			}
			if _, err := os.Stat(d.File(MetricsFile) + DamagedSuffix); (err == nil) != tc.aside {
				t.Errorf("damaged copy kept = %v, want %v", err == nil, tc.aside)
			}
		})
	}
}

func TestSeedBest(t *testing.T) {
	for _, tc := range []struct {
		best float64
		want bool
	}{{0.3, true}, {0.5, false}} { // the last epoch's val top-1 is 0.3
		d := &RunDir{path: t.TempDir()}
		src := d.File("src.ckpt")
		os.WriteFile(src, []byte("checkpoint bytes"), 0o644)
		wrote, err := SeedBest(d, fakeCheckpoint(t, 3, false, tc.best), src)
		if err != nil || wrote != tc.want {
			t.Errorf("best %v: wrote %v, %v; want %v", tc.best, wrote, err, tc.want)
		}
		_, err = os.Stat(d.File(BestCheckpoint))
		if (err == nil) != tc.want {
			t.Errorf("best %v: best.ckpt exists = %v", tc.best, err == nil)
		}
	}
}
