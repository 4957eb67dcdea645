package commands

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// completionFiles maps each shell to its committed script.
var completionFiles = map[string]string{
	"bash": "../completions/nxmit.bash",
	"zsh":  "../completions/_nxmit",
	"fish": "../completions/nxmit.fish",
}

// TestCompletionsUpToDate fails when the committed scripts differ from what the command
// line generates. NXMIT_UPDATE_COMPLETIONS=1 rewrites them.
func TestCompletionsUpToDate(t *testing.T) {
	for shell, file := range completionFiles {
		var b bytes.Buffer
		if err := GenerateCompletion(&b, shell); err != nil {
			t.Fatal(err)
		}
		if os.Getenv("NXMIT_UPDATE_COMPLETIONS") == "1" {
			if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		old, err := os.ReadFile(file)
		if err != nil || !bytes.Equal(old, b.Bytes()) {
			t.Errorf("%s is out of date with the command line: run\n\tNXMIT_UPDATE_COMPLETIONS=1 go test ./commands -run TestCompletionsUpToDate\n(or: nxmit completion %s > completions/%s) and commit it",
				file, shell, filepath.Base(file))
		}
	}
}

func TestCompletionSyntax(t *testing.T) {
	for shell, file := range completionFiles {
		t.Run(shell, func(t *testing.T) {
			if _, err := exec.LookPath(shell); err != nil {
				t.Skipf("%s not installed", shell)
			}
			var b bytes.Buffer
			GenerateCompletion(&b, shell)
			tmp := filepath.Join(t.TempDir(), filepath.Base(file))
			os.WriteFile(tmp, b.Bytes(), 0o644)
			if out, err := exec.Command(shell, "-n", tmp).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", shell, err, out)
			}
		})
	}
}

// completionEnv returns a directory holding nxmit and a configuration with two sites,
// and the environment to find them.
func completionEnv(t *testing.T) []string {
	bin := nxmitBinary(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "nxmit.conf")
	os.WriteFile(conf, []byte("site hub { host: hub.example }\nsite leaf {}\n"), 0o644)
	// Another configuration for --config: its sites, not $NXMIT_CONFIG's, complete.
	os.WriteFile(filepath.Join(dir, "other.conf"), []byte("site other {}\nsite hubble {}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "input.batch"), nil, 0o644)
	return append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"), "NXMIT_CONFIG="+conf,
		"OTHERCONF="+filepath.Join(dir, "other.conf"), "FILEDIR="+dir)
}

// expandIn replaces $OTHERCONF and $FILEDIR in s by their values in env.
func expandIn(env []string, s string) string {
	return os.Expand(s, func(k string) string {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, k+"="); ok {
				return v
			}
		}
		return "$" + k
	})
}

func TestBashCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	env := completionEnv(t)
	var script bytes.Buffer
	GenerateCompletion(&script, "bash")
	file := filepath.Join(t.TempDir(), "nxmit.bash")
	os.WriteFile(file, script.Bytes(), 0o644)
	tests := []struct {
		line string // the words so far; the last is being completed
		want []string
	}{
		{"nxmit se", []string{"send"}},
		{"nxmit st", []string{"status"}},
		{"nxmit send --ch", []string{"--check"}},
		{"nxmit send --check a", []string{"adaptive", "always"}},
		{"nxmit run ", []string{"hub", "leaf"}},
		{"nxmit --config $OTHERCONF send h", []string{"hubble"}},
		{"nxmit --config = $OTHERCONF run ", []string{"hubble", "other"}},
		{"nxmit send h", []string{"hub"}},
		{"nxmit send hub ", nil},
		{"nxmit send -c 4 hub ", nil},
		{"nxmit send -c 4 ", []string{"hub", "leaf"}},
		{"nxmit rotate hub ", []string{"hub", "leaf"}},
		{"nxmit merge ", []string{"hub", "leaf"}},
		{"nxmit merge hub $FILEDIR/in", []string{"$FILEDIR/input.batch"}},
		{"nxmit merge --compress hub $FILEDIR/in", []string{"$FILEDIR/input.batch"}},
		{"nxmit completion ", []string{"bash", "fish", "zsh"}},
		{"nxmit rotate --flush ", []string{"ctlinnd", "icc"}},
		{"nxmit innxmit -", []string{"-P", "-T", "-a", "-c", "-d", "-l", "-p", "-r", "-s", "-t", "-v"}},
	}
	for _, tt := range tests {
		tt.line = expandIn(env, tt.line)
		for i := range tt.want {
			tt.want[i] = expandIn(env, tt.want[i])
		}
		words := strings.Split(tt.line, " ")
		var arr strings.Builder
		for _, w := range words {
			arr.WriteString(" " + shellQuote(w))
		}
		prog := "source " + shellQuote(file) + "\nCOMP_WORDS=(" + arr.String() + ")\nCOMP_CWORD=" +
			strconv.Itoa(len(words)-1) + "\n_nxmit\nprintf '%s\\n' \"${COMPREPLY[@]}\" | sort\n"
		cmd := exec.Command("bash", "-c", prog)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%q: %v\n%s", tt.line, err, out)
			continue
		}
		got := strings.Fields(string(out))
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%q: completions %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestFishCompletion(t *testing.T) {
	if _, err := exec.LookPath("fish"); err != nil {
		t.Skip("fish not installed")
	}
	env := completionEnv(t)
	var script bytes.Buffer
	GenerateCompletion(&script, "fish")
	file := filepath.Join(t.TempDir(), "nxmit.fish")
	os.WriteFile(file, script.Bytes(), 0o644)
	tests := []struct {
		line string
		want []string
	}{
		{"nxmit sen", []string{"send"}},
		{"nxmit send --check ", []string{"adaptive", "always", "never"}},
		{"nxmit status ", []string{"hub", "leaf"}},
		{"nxmit completion ", []string{"bash", "fish", "zsh"}},
		{"nxmit --config $OTHERCONF status ", []string{"hubble", "other"}},
		{"nxmit --config=$OTHERCONF status ", []string{"hubble", "other"}},
		{"nxmit send ", []string{"hub", "leaf"}},
		{"nxmit send hub ", nil},
		{"nxmit send -c 4 ", []string{"hub", "leaf"}},
		{"nxmit merge hub $FILEDIR/in", []string{"$FILEDIR/input.batch"}},
	}
	for _, tt := range tests {
		tt.line = expandIn(env, tt.line)
		for i := range tt.want {
			tt.want[i] = expandIn(env, tt.want[i])
		}
		cmd := exec.Command("fish", "--no-config", "-c", "source "+fishQuote(file)+"; complete -C "+fishQuote(tt.line))
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%q: %v\n%s", tt.line, err, out)
			continue
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if w, _, _ := strings.Cut(l, "\t"); w != "" {
				got = append(got, w)
			}
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%q: completions %q, want %q", tt.line, got, tt.want)
		}
	}
}
