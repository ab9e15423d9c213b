package main

// The documented command lines run: every command line in the README, in each
// command's --help examples and in the comments of configs/ is extracted and, unless
// marked, run against the binary on tiny data. A line added to any of them later is
// picked up without touching this file.
//
// What counts as a command line:
//   - README.md: each line of an indented code block whose program (after VAR=value
//     assignments) is zoomtrain, go, a path (scripts/x.sh, ./x) or one of knownProgram's;
//     a trailing backslash continues it. Other block lines (the folder layout, the code
//     map) are text. `cmd1 && cmd2` runs both.
//   - --help: every line of every command's Example field.
//   - configs/**/*.yaml: a comment line that starts with zoomtrain or go run.
//
// Marking a README line that cannot run here: put, on the line before its code block,
//
//	<!-- docs-test: skip `PREFIX` REASON -->
//
// (a blank line between it and the block), which skips the block's command lines that start with PREFIX (without `PREFIX`, the
// whole block) and says why: downloaded weights, PyTorch, the test suite itself. A
// marker that matches no line fails the test, so a stale one cannot hide. A command
// line that is not zoomtrain, go build, go install or go tool pprof, and is not marked,
// fails the test too. For --help examples and configs/ the same goes through
// notRunHere below.
//
// How a line is run (runDocCommand): with bash, in a fresh folder holding configs/,
// testdata/ and scripts/ of the repository (symlinked), HOME set to a folder whose
// images/ is a tiny image folder (so ~/images exists), `zoomtrain` on PATH and
// `go run ./cmd/zoomtrain` replaced by `zoomtrain`. Inputs a line names that do not
// exist are made first: runs/NAME is a copy of the run that the documented training
// commands create under that name (so a stale run name fails), best.ckpt a copy of the
// default run's best checkpoint, an image name a needle canvas (PNG or JPEG by its
// extension), a .npy name a saliency map of the warp test vectors. The sizes shrink
// through tinyEnv (environment: fewer needle canvases, one epoch) and tinyFlags (flag
// values that the environment cannot override). Under -short nothing runs: each
// zoomtrain line is only parsed against the command tree (unknown commands, flags and
// extra arguments are caught).

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"image/png"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// notRunHere lists --help and configs/ command lines (by prefix) that cannot run in a
// test, with the reason; README lines are marked in the README itself.
var notRunHere = map[string]string{
	"zoomtrain import official --weights checkpoint_imagenet.pth":                         "needs the official model's trained weights, not distributed",
	"zoomtrain train --config configs/official.yaml --data ~/photos --init official.ckpt": "needs a checkpoint imported from the official model's weights",
}

// docCommandTimeout bounds one documented command line on tiny data.
const docCommandTimeout = 2 * time.Minute

// knownProgram says whether a first word makes a README code line a command line.
func knownProgram(p string) bool {
	switch p {
	case "zoomtrain", "go", "apt-get", "sudo", "python3", "python", "pip", "pip3", "bash",
		"sh", "make", "git", "curl", "wget", "docker", "/usr/bin/time", "time", "env":
		return true
	}
	return strings.HasPrefix(p, "./") || strings.HasPrefix(p, "scripts/")
}

// tinyEnv shrinks what no flag on the line sets: the needle set and the epochs.
var tinyEnv = []string{
	"ZOOMTRAIN_TRAIN_EPOCHS=1",
	"ZOOMTRAIN_DATA_NEEDLE_TRAIN=64",
	"ZOOMTRAIN_DATA_NEEDLE_VAL=32",
	"ZOOMTRAIN_DATA_GAZE_TRAIN=64",
	"ZOOMTRAIN_DATA_GAZE_VAL=32",
}

// tinyFlags gives, per subcommand, flag values that replace the documented ones (or are
// added when the line gives none): a flag beats the environment.
var tinyFlags = map[string][][2]string{
	"train":            {{"--epochs", "1"}},
	"data needle":      {{"--train", "20"}, {"--val", "10"}},
	"data needle-gaze": {{"--train", "20"}, {"--val", "10"}},
	"bench":            {{"--steps", "1"}, {"--warmup", "0"}, {"--batch-size", "2"}},
}

type docLine struct {
	where string // file:line or "zoomtrain X --help"
	text  string // the command line as written, continuations joined
	skip  string // why it is not run, if marked
}

var skipMarker = regexp.MustCompile("^<!-- docs-test: skip (?:`([^`]+)` )?(.*?) ?-->$")

// readmeLines extracts the README's command lines and checks its markers.
func readmeLines(t *testing.T, path string) []docLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var out []docLine
	type marker struct {
		prefix, reason string
		line           int
		used           bool
	}
	var pending []*marker // markers for the next code block
	var active []*marker  // markers of the block being read
	inBlock := false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if m := skipMarker.FindStringSubmatch(l); m != nil { // not indented: a marker shown in a code block is an example
			pending = append(pending, &marker{prefix: m[1], reason: m[2], line: i + 1})
			continue
		}
		code := strings.HasPrefix(l, "    ") && (inBlock || i == 0 || strings.TrimSpace(lines[i-1]) == "")
		if !code {
			if strings.TrimSpace(l) != "" {
				if inBlock {
					for _, m := range active {
						if !m.used {
							t.Errorf("%s:%d: docs-test marker matches no command line of the block after it", path, m.line)
						}
					}
					active = nil
				}
				inBlock = false
			}
			continue
		}
		if !inBlock {
			inBlock, active, pending = true, pending, nil
		}
		start := i
		text := strings.TrimSpace(l)
		for strings.HasSuffix(text, "\\") && i+1 < len(lines) {
			i++
			text = strings.TrimSuffix(text, "\\") + " " + strings.TrimSpace(lines[i])
		}
		if !isCommandLine(text) {
			continue
		}
		d := docLine{where: fmt.Sprintf("%s:%d", path, start+1), text: text}
		for _, m := range active {
			if m.prefix == "" || strings.HasPrefix(text, m.prefix) {
				d.skip, m.used = m.reason, true
			}
		}
		out = append(out, d)
	}
	for _, m := range append(active, pending...) {
		if !m.used {
			t.Errorf("%s:%d: docs-test marker matches no command line of the block after it", path, m.line)
		}
	}
	return out
}

// program is the first word of a command after VAR=value assignments.
func program(text string) string {
	words, err := splitWords(text)
	if err != nil {
		return ""
	}
	for _, w := range words {
		if eq := strings.IndexByte(w, '='); eq > 0 && !strings.HasPrefix(w, "-") && envName.MatchString(w[:eq]) {
			continue
		}
		return w
	}
	return ""
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func isCommandLine(text string) bool { return knownProgram(program(text)) }

// helpLines are the Example lines of every command.
func helpLines() []docLine {
	var out []docLine
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, l := range strings.Split(c.Example, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, docLine{where: c.CommandPath() + " --help", text: l})
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(streams{In: strings.NewReader(""), Out: &strings.Builder{}, Err: &strings.Builder{}}))
	return out
}

var configCommand = regexp.MustCompile(`^\s*#\s*((?:zoomtrain|go run) .*)$`)

// configLines are the command lines in the comments of configs/.
func configLines(t *testing.T, root string) []docLine {
	t.Helper()
	var out []docLine
	err := filepath.WalkDir(filepath.Join(root, "configs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for i, l := range strings.Split(string(b), "\n") {
			if m := configCommand.FindStringSubmatch(l); m != nil {
				out = append(out, docLine{where: fmt.Sprintf("%s:%d", p, i+1), text: strings.TrimSpace(m[1])})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// allDocLines gathers the three sources and applies notRunHere.
func allDocLines(t *testing.T) []docLine {
	t.Helper()
	lines := readmeLines(t, "../../README.md")
	other := append(helpLines(), configLines(t, "../..")...)
	used := map[string]bool{}
	for i := range other {
		for p, why := range notRunHere {
			if strings.HasPrefix(other[i].text, p) {
				other[i].skip, used[p] = why, true
			}
		}
	}
	for p := range notRunHere {
		if !used[p] {
			t.Errorf("notRunHere[%q] matches no --help or configs/ command line", p)
		}
	}
	return append(lines, other...)
}

// splitWords splits a command line as the shell would for the simple lines of the
// docs: quotes, backslash escapes, and a # comment from an unquoted word start.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		case c == '#' && !inWord:
			i = len(s)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// commands splits a line into its && parts, each as words.
func commands(text string) ([][]string, error) {
	words, err := splitWords(text)
	if err != nil {
		return nil, err
	}
	var out [][]string
	cur := []string{}
	for _, w := range words {
		if w == "&&" {
			out, cur = append(out, cur), []string{}
			continue
		}
		cur = append(cur, w)
	}
	return append(out, cur), nil
}

// zoomtrainArgs returns the arguments of a zoomtrain invocation (zoomtrain ARGS or
// go run ./cmd/zoomtrain ARGS), or ok false.
func zoomtrainArgs(words []string) (env, args []string, ok bool) {
	for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
		env, words = append(env, words[0]), words[1:]
	}
	switch {
	case len(words) > 0 && words[0] == "zoomtrain":
		return env, words[1:], true
	case len(words) > 2 && words[0] == "go" && words[1] == "run" && strings.TrimSuffix(words[2], "/") == "./cmd/zoomtrain":
		return env, words[3:], true
	}
	return env, nil, false
}

// runsInGoHere says whether a non-zoomtrain command is run by the test.
func runsInGoHere(words []string) bool {
	if len(words) < 2 || words[0] != "go" {
		return false
	}
	return words[1] == "build" || words[1] == "install" || (words[1] == "tool" && len(words) > 2 && words[2] == "pprof")
}

// parseAgainstTree checks a zoomtrain command line against the command tree, without
// running it: the subcommand exists, its flags parse, its arguments are accepted.
func parseAgainstTree(args []string) error {
	root := newRootCmd(streams{In: strings.NewReader(""), Out: &strings.Builder{}, Err: &strings.Builder{}})
	root.InitDefaultVersionFlag()
	c, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	c.InitDefaultHelpFlag()
	if err := c.ParseFlags(rest); err != nil {
		return err
	}
	if c == root && len(c.Flags().Args()) > 0 {
		return fmt.Errorf("unknown command %q", c.Flags().Args()[0])
	}
	return c.ValidateArgs(c.Flags().Args())
}

func TestDocCommandsParse(t *testing.T) {
	lines := allDocLines(t)
	if len(lines) < 20 {
		t.Fatalf("found %d documented command lines, expected the README's and --help's (at least 20)", len(lines))
	}
	for _, d := range lines {
		if d.skip != "" {
			continue
		}
		cmds, err := commands(d.text)
		if err != nil {
			t.Errorf("%s: %v", d.where, err)
			continue
		}
		for _, words := range cmds {
			_, args, ok := zoomtrainArgs(words)
			if !ok {
				if !runsInGoHere(words) {
					t.Errorf("%s: %q is neither a zoomtrain command nor go build/install/tool pprof: run it here or mark it (<!-- docs-test: skip `PREFIX` REASON -->)", d.where, strings.Join(words, " "))
				}
				continue
			}
			if err := parseAgainstTree(args); err != nil {
				t.Errorf("%s: %s: %v", d.where, d.text, err)
			}
		}
	}
}

// docFixtures are made once: a tiny image folder, a tiny needle-gaze regression folder,
// the runs the documented training commands make (default and needle-uniform), sample
// images.
type docFixtures struct {
	dir    string // holds home/images, gaze, runs/<name>, canvas.png
	bin    string // folder with the zoomtrain binary
	defRun string // name of the default run
}

var (
	docFixturesOnce sync.Once
	docFix          docFixtures
	docFixErr       error
)

// goEnv pins the go command's caches to the test's own, since HOME moves.
var goEnv = sync.OnceValue(func() []string {
	out, err := exec.Command(goTool(), "env", "GOPATH", "GOMODCACHE", "GOCACHE").Output()
	if err != nil {
		return nil
	}
	vals := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(vals) != 3 {
		return nil
	}
	return []string{"GOPATH=" + vals[0], "GOMODCACHE=" + vals[1], "GOCACHE=" + vals[2]}
})

func docEnv(fix docFixtures, home string) []string {
	env := append([]string{"HOME=" + home, "PATH=" + fix.bin + string(os.PathListSeparator) + os.Getenv("PATH")}, goEnv()...)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "HOME=") && !strings.HasPrefix(e, "PATH=") && !strings.HasPrefix(e, "ZOOMTRAIN_") && !strings.HasPrefix(e, "GOPATH=") && !strings.HasPrefix(e, "GOMODCACHE=") && !strings.HasPrefix(e, "GOCACHE=") {
			env = append(env, e)
		}
	}
	return append(env, tinyEnv...)
}

func makeDocFixtures(t *testing.T) docFixtures {
	t.Helper()
	docFixturesOnce.Do(func() {
		bin := testBinary(t)
		dir := filepath.Join(binDir, "docs-fixtures")
		fix := docFixtures{dir: dir, bin: filepath.Dir(bin)}
		repo, err := filepath.Abs("../..")
		if err != nil {
			docFixErr = err
			return
		}
		step := func(args ...string) error {
			cmd := exec.Command(bin, args...)
			cmd.Dir = dir
			cmd.Env = docEnv(fix, filepath.Join(dir, "home"))
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("fixture: zoomtrain %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return nil
		}
		if err := os.MkdirAll(filepath.Join(dir, "home"), 0o755); err != nil {
			docFixErr = err
			return
		}
		if err := os.Symlink(filepath.Join(repo, "configs"), filepath.Join(dir, "configs")); err != nil {
			docFixErr = err
			return
		}
		for _, args := range [][]string{
			{"data", "needle", "--out", "home/images", "--canvas", "64", "--digit", "14,18", "--train", "64", "--val", "16"},
			{"data", "needle-gaze", "--out", "gaze", "--canvas", "64", "--train", "32", "--val", "16"},
			{"train"}, // the runs the README's two main training commands create, under their own names
			{"train", "--config", "configs/needle-uniform.yaml"},
		} {
			if docFixErr = step(args...); docFixErr != nil {
				return
			}
		}
		ents, _ := os.ReadDir(filepath.Join(dir, "runs"))
		for _, e := range ents {
			if !strings.Contains(e.Name(), "uniform") {
				fix.defRun = e.Name()
			}
		}
		if fix.defRun == "" {
			docFixErr = fmt.Errorf("fixture: the default train made no run under runs/")
			return
		}
		docFix = fix
	})
	if docFixErr != nil {
		t.Fatal(docFixErr)
	}
	return docFix
}

// outputFlags name files or folders a command writes: no fixture is made for them.
var outputFlags = map[string]bool{"--out": true, "--grid-out": true, "--cpuprofile": true, "-o": true}

// prepareInputs makes, in sandbox, the inputs that words name and that do not exist.
func prepareInputs(t *testing.T, fix docFixtures, sandbox string, words []string) {
	t.Helper()
	trainsNew := len(words) > 1 && words[1] == "train" && !contains(words, "--resume")
	for i, w := range words {
		if i > 0 && outputFlags[words[i-1]] || strings.HasPrefix(w, "-") || strings.HasPrefix(w, "~") {
			continue
		}
		p := filepath.Join(sandbox, w)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		switch {
		case i > 0 && words[i-1] == "--data" && strings.Contains(filepath.Base(w), "gaze"):
			copyTree(t, filepath.Join(fix.dir, "gaze"), p) // a regression folder that a line above writes
		case strings.HasPrefix(w, "runs/") && !trainsNew:
			name := strings.SplitN(strings.TrimPrefix(w, "runs/"), "/", 2)[0]
			src := filepath.Join(fix.dir, "runs", name)
			if _, err := os.Stat(src); err != nil {
				continue // not a run the documented commands make: the line fails as a user's would
			}
			copyTree(t, src, filepath.Join(sandbox, "runs", name))
		case strings.HasSuffix(w, ".ckpt"):
			copyFile(t, filepath.Join(fix.dir, "runs", fix.defRun, filepath.Base(w)), p)
		case strings.HasSuffix(w, ".png") || strings.HasSuffix(w, ".jpg") || strings.HasSuffix(w, ".jpeg"):
			src := firstImage(t, filepath.Join(fix.dir, "home", "images", "val"))
			if strings.HasSuffix(w, ".png") {
				copyFile(t, src, p)
			} else {
				writeJPEGCopy(t, src, p)
			}
		case strings.HasSuffix(w, ".npy"):
			copyFile(t, "../../testdata/warp/square/saliency.npy", p)
		}
	}
}

func contains(words []string, w string) bool {
	for _, x := range words {
		if x == w {
			return true
		}
	}
	return false
}

// shrink applies tinyFlags to one zoomtrain invocation's arguments.
func shrink(args []string) []string {
	sub := ""
	if len(args) > 0 {
		sub = args[0]
		if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
			if _, ok := tinyFlags[sub+" "+args[1]]; ok {
				sub += " " + args[1]
			}
		}
	}
	out := append([]string(nil), args...)
	for _, fv := range tinyFlags[sub] {
		found := false
		for i := range out {
			if out[i] == fv[0] && i+1 < len(out) {
				out[i+1], found = fv[1], true
			} else if strings.HasPrefix(out[i], fv[0]+"=") {
				out[i], found = fv[0]+"="+fv[1], true
			}
		}
		if !found && !contains(out, "--resume") && !contains(out, "--print-config") {
			out = append(out, fv[0], fv[1])
		}
	}
	return out
}

func shellQuote(w string) string {
	if plainShellWord.MatchString(w) {
		return w
	}
	if strings.HasPrefix(w, "~/") {
		return "~/" + shellQuote(w[2:])
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

func TestDocCommandsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every documented command line against the binary (TestDocCommandsParse checks them under -short)")
	}
	lines := allDocLines(t)
	fix := makeDocFixtures(t)
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range lines {
		t.Run(fmt.Sprintf("%02d", i), func(t *testing.T) {
			if d.skip != "" {
				t.Skipf("%s: %s: not run: %s", d.where, d.text, d.skip)
			}
			cmds, err := commands(d.text)
			if err != nil {
				t.Fatal(err)
			}
			sandbox := t.TempDir()
			for _, n := range []string{"configs", "testdata", "scripts"} {
				if err := os.Symlink(filepath.Join(repo, n), filepath.Join(sandbox, n)); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(filepath.Join(fix.dir, "home"), filepath.Join(sandbox, "home")); err != nil {
				t.Fatal(err)
			}
			var script []string
			for _, words := range cmds {
				env, args, ok := zoomtrainArgs(words)
				dir := sandbox
				if !ok {
					// go build / install: in the repository, writing into the sandbox; go tool
					// pprof: in the sandbox, where the profile is.
					if words[1] == "build" || words[1] == "install" {
						dir = repo
					}
					env = append(env, "GOBIN="+sandbox)
					args = words
					for j, w := range args {
						if j > 0 && args[j-1] == "-o" {
							args[j] = filepath.Join(sandbox, w)
						}
					}
				} else {
					args = append([]string{"zoomtrain"}, shrink(args)...)
					prepareInputs(t, fix, sandbox, args)
				}
				q := make([]string, 0, len(env)+len(args))
				for _, w := range append(env, args...) {
					q = append(q, shellQuote(w))
				}
				script = append(script, "cd "+shellQuote(dir)+" && "+strings.Join(q, " "))
			}
			ctx, cancel := context.WithTimeout(context.Background(), docCommandTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", "-c", "set -e\n"+strings.Join(script, "\n"))
			cmd.Dir = sandbox
			cmd.Env = docEnv(fix, filepath.Join(sandbox, "home"))
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if err != nil || strings.Contains(string(out), "panic:") {
				t.Fatalf("%s: %s\nran: %s\n%v after %s:\n%s", d.where, d.text, strings.Join(script, "; "), err, time.Since(start).Round(time.Millisecond), out)
			}
			t.Logf("%s: ok in %s: %s", d.where, time.Since(start).Round(time.Millisecond), d.text)
		})
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		copyFile(t, p, filepath.Join(dst, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func firstImage(t *testing.T, dir string) string {
	t.Helper()
	var found []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".png") {
			found = append(found, p)
		}
		return nil
	})
	if len(found) == 0 {
		t.Fatalf("no PNG under %s", dir)
	}
	sort.Strings(found)
	return found[0]
}

func writeJPEGCopy(t *testing.T, src, dst string) {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
