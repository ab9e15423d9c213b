// Package metrics keeps a run's per-epoch measurements in an append-only JSON Lines file
// (metrics.jsonl): one Record per line, fsynced on append, readable after a crash.
package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"zoomtrain/internal/atomicfile"
	"zoomtrain/internal/inputfile"
)

// MaxFileBytes bounds the metrics file that Read, Truncate and Append work on. A record
// at full float precision is under 400 bytes, so 64 MiB holds over 170 000 epochs: no
// run comes near it, and a runaway or wrong file is an error, not an unbounded read.
const MaxFileBytes = 64 << 20

// Record is one epoch's measurements. Accuracies are fractions in [0, 1]. The JSON keys
// are epoch, step, train_loss, train_acc, val_loss, val_top1, val_top5, seconds,
// images_per_s, blur_sigma, lr, time and skipped (left out when 0), and for a regression
// run train_mae, val_mae and val_rmse.
//
// A NaN float field means "not measured" (for example no validation pass this epoch):
// Append leaves it out of the line and Read gives NaN for a field a line lacks, so a
// missing value is never mistaken for a loss or accuracy of zero.
type Record struct {
	Epoch      int
	Step       int
	TrainLoss  float64
	TrainAcc   float64
	ValLoss    float64
	ValTop1    float64
	ValTop5    float64
	Seconds    float64
	ImagesPerS float64
	BlurSigma  float64
	LR         map[string]float64 // keys "task" and "saliency"
	Time       string             // RFC 3339
	Skipped    int                // unreadable training images skipped this epoch (data.on_error: skip)
	// Regression holds a regression run's errors, in the targets' units; nil for a
	// classification run (whose TrainAcc and ValTop1 are then the measures).
	Regression *RegressionErrors
}

// RegressionErrors are a regression epoch's mean absolute errors over every target of
// the training examples seen and of the validation set, and the validation RMSE. NaN
// means not measured.
type RegressionErrors struct {
	TrainMAE, ValMAE, ValRMSE float64
}

// NewRecord returns a record for epoch and step with every measurement marked missing
// (NaN), to be filled in as the values become known.
func NewRecord(epoch, step int) Record {
	n := math.NaN()
	return Record{Epoch: epoch, Step: step, TrainLoss: n, TrainAcc: n, ValLoss: n,
		ValTop1: n, ValTop5: n, Seconds: n, ImagesPerS: n, BlurSigma: n}
}

// wire is the JSON form; pointers tell an absent field from a zero.
type wire struct {
	Epoch      *int               `json:"epoch"`
	Step       int                `json:"step"`
	TrainLoss  *float64           `json:"train_loss,omitempty"`
	TrainAcc   *float64           `json:"train_acc,omitempty"`
	ValLoss    *float64           `json:"val_loss,omitempty"`
	ValTop1    *float64           `json:"val_top1,omitempty"`
	ValTop5    *float64           `json:"val_top5,omitempty"`
	Seconds    *float64           `json:"seconds,omitempty"`
	ImagesPerS *float64           `json:"images_per_s,omitempty"`
	BlurSigma  *float64           `json:"blur_sigma,omitempty"`
	LR         map[string]float64 `json:"lr,omitempty"`
	Time       string             `json:"time,omitempty"`
	Skipped    int                `json:"skipped,omitempty"`
	TrainMAE   *float64           `json:"train_mae,omitempty"`
	ValMAE     *float64           `json:"val_mae,omitempty"`
	ValRMSE    *float64           `json:"val_rmse,omitempty"`
}

func present(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// MarshalJSON writes the record as one JSON object, leaving out NaN (missing) fields.
func (r Record) MarshalJSON() ([]byte, error) {
	epoch := r.Epoch
	w := wire{
		Epoch: &epoch, Step: r.Step,
		TrainLoss: present(r.TrainLoss), TrainAcc: present(r.TrainAcc),
		ValLoss: present(r.ValLoss), ValTop1: present(r.ValTop1), ValTop5: present(r.ValTop5),
		Seconds: present(r.Seconds), ImagesPerS: present(r.ImagesPerS),
		BlurSigma: present(r.BlurSigma), LR: r.LR, Time: r.Time, Skipped: r.Skipped,
	}
	if e := r.Regression; e != nil {
		w.TrainMAE, w.ValMAE, w.ValRMSE = present(e.TrainMAE), present(e.ValMAE), present(e.ValRMSE)
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads one record; absent float fields become NaN. The epoch is required,
// since Truncate and the plots key on it.
func (r *Record) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.Epoch == nil {
		return errors.New("record has no epoch")
	}
	*r = Record{
		Epoch: *w.Epoch, Step: w.Step,
		TrainLoss: orNaN(w.TrainLoss), TrainAcc: orNaN(w.TrainAcc),
		ValLoss: orNaN(w.ValLoss), ValTop1: orNaN(w.ValTop1), ValTop5: orNaN(w.ValTop5),
		Seconds: orNaN(w.Seconds), ImagesPerS: orNaN(w.ImagesPerS),
		BlurSigma: orNaN(w.BlurSigma), LR: w.LR, Time: w.Time, Skipped: w.Skipped,
	}
	if w.TrainMAE != nil || w.ValMAE != nil || w.ValRMSE != nil {
		r.Regression = &RegressionErrors{TrainMAE: orNaN(w.TrainMAE), ValMAE: orNaN(w.ValMAE), ValRMSE: orNaN(w.ValRMSE)}
	}
	return nil
}

// validate rejects what JSON cannot hold (infinities) and malformed times.
func (r Record) validate() error {
	fields := []struct {
		name string
		v    float64
	}{
		{"train_loss", r.TrainLoss}, {"train_acc", r.TrainAcc}, {"val_loss", r.ValLoss},
		{"val_top1", r.ValTop1}, {"val_top5", r.ValTop5}, {"seconds", r.Seconds},
		{"images_per_s", r.ImagesPerS}, {"blur_sigma", r.BlurSigma},
	}
	if e := r.Regression; e != nil {
		fields = append(fields, []struct {
			name string
			v    float64
		}{{"train_mae", e.TrainMAE}, {"val_mae", e.ValMAE}, {"val_rmse", e.ValRMSE}}...)
	}
	for _, f := range fields {
		if math.IsInf(f.v, 0) {
			return fmt.Errorf("%s is %v", f.name, f.v)
		}
	}
	for k, v := range r.LR {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("lr[%q] is %v", k, v)
		}
	}
	if r.Time != "" {
		if _, err := time.Parse(time.RFC3339, r.Time); err != nil {
			return fmt.Errorf("time %q is not RFC 3339: %w", r.Time, err)
		}
	}
	return nil
}

// Append adds r as one line at the end of the file at path, creating it if needed, and
// fsyncs it. An empty Time is set to now. A torn last line left by a crash is cut off
// first, so the new record does not run into it.
func Append(path string, r Record) error {
	if r.Time == "" {
		r.Time = time.Now().UTC().Format(time.RFC3339)
	}
	if err := r.validate(); err != nil {
		return fmt.Errorf("metrics record for epoch %d: %w", r.Epoch, err)
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("metrics record for epoch %d: %w", r.Epoch, err)
	}
	line = append(line, '\n')

	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)
	f, err := inputfile.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open metrics: %w", err)
	}
	defer f.Close()
	if err := inputfile.CheckSize(f, path, MaxFileBytes); err != nil {
		return fmt.Errorf("append to metrics: %w", err)
	}
	end, err := repairTail(f)
	if err != nil {
		return fmt.Errorf("metrics %s: %w", path, err)
	}
	// One write at a known offset: a crash leaves at most a torn last line.
	if _, err := f.WriteAt(line, end); err != nil {
		return fmt.Errorf("append to %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if created {
		// The new directory entry must be durable too.
		if d, err := os.Open(filepath.Dir(path)); err == nil {
			_ = d.Sync() // best effort: some filesystems cannot sync directories
			d.Close()
		}
	}
	return nil
}

// repairTail makes the file end with a newline and returns its length. A last line
// without a newline is kept (with a newline added) when it is a whole record, and cut off
// when it is a fragment.
func repairTail(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if size == 0 {
		return 0, nil
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, size-1); err != nil {
		return 0, fmt.Errorf("read tail: %w", err)
	}
	if last[0] == '\n' {
		return size, nil
	}
	// Walk back to the previous newline; records are short, so this is usually one read.
	const chunk = 4096
	var tail []byte
	start := size
	for start > 0 {
		n := min(int64(chunk), start)
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, start-n); err != nil {
			return 0, fmt.Errorf("read tail: %w", err)
		}
		tail = append(buf, tail...)
		start -= n
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			tail, start = tail[i+1:], start+int64(i+1)
			break
		}
	}
	var r Record
	if len(bytes.TrimSpace(tail)) > 0 && json.Unmarshal(tail, &r) == nil {
		if _, err := f.WriteAt([]byte{'\n'}, size); err != nil {
			return 0, fmt.Errorf("end last line: %w", err)
		}
		return size + 1, nil
	}
	if err := f.Truncate(start); err != nil {
		return 0, fmt.Errorf("cut torn line: %w", err)
	}
	return start, nil
}

// line is one parsed line with its raw bytes, so Truncate keeps fields it does not know.
type line struct {
	rec Record
	raw []byte
}

// parse reads every line. A malformed line is an error, except the last line when it
// lacks its newline: that is a write torn by a crash and is dropped.
func parse(r io.Reader) ([]line, error) {
	br := bufio.NewReader(r)
	var out []line
	for n := 1; ; n++ {
		raw, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		torn := err == io.EOF
		if len(bytes.TrimSpace(raw)) > 0 {
			var rec Record
			if perr := json.Unmarshal(raw, &rec); perr != nil {
				if torn {
					return out, nil
				}
				return nil, fmt.Errorf("line %d: %w", n, perr)
			}
			out = append(out, line{rec: rec, raw: bytes.TrimRight(raw, "\r\n")})
		}
		if torn {
			return out, nil
		}
	}
}

// Read returns the records in the file at path, in file order.
func Read(path string) ([]Record, error) {
	f, err := open(path)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	defer f.Close()
	lines, err := parse(f)
	if err != nil {
		return nil, fmt.Errorf("read metrics %s: %w", path, err)
	}
	recs := make([]Record, len(lines))
	for i, l := range lines {
		recs[i] = l.rec
	}
	return recs, nil
}

// Truncate keeps only the records with Epoch <= epoch, rewriting the file atomically; it
// is what a resumed run calls so that epochs it will redo are not listed twice. A missing
// file is left missing.
func Truncate(path string, epoch int) error {
	f, err := open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("truncate metrics: %w", err)
	}
	lines, err := parse(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("truncate metrics %s: %w", path, err)
	}
	var buf bytes.Buffer
	for _, l := range lines {
		if l.rec.Epoch <= epoch {
			buf.Write(l.raw)
			buf.WriteByte('\n')
		}
	}
	if err := atomicfile.WriteBytes(path, buf.Bytes()); err != nil {
		return fmt.Errorf("truncate metrics: %w", err)
	}
	return nil
}

// open opens a metrics file for reading: a regular file within MaxFileBytes.
func open(path string) (*os.File, error) {
	f, err := inputfile.Open(path)
	if err != nil {
		return nil, err
	}
	if err := inputfile.CheckSize(f, path, MaxFileBytes); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
