package sim

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// needTool skips when a tool is missing, or fails when AIO2_REQUIRE_TOOLS=1
// says the environment must have it (CI installs spin and gcc).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("AIO2_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is required (AIO2_REQUIRE_TOOLS=1): %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// runSpin generates, compiles and runs the verifier for promela/ring.pml
// with the given preprocessor definitions and returns pan's report.
func runSpin(t *testing.T, defs ...string) string {
	t.Helper()
	spin, gcc := needTool(t, "spin"), needTool(t, "gcc")
	src, err := os.ReadFile(filepath.Join("promela", "ring.pml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ring.pml"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run(spin, append(append([]string{}, defs...), "-a", "ring.pml")...)
	run(gcc, "-O2", "-DSAFETY", "-DCOLLAPSE", "-o", "pan", "pan.c")
	return run("./pan", "-m200000")
}

var spinErrors = regexp.MustCompile(`errors: (\d+)`)

// TestSpinModel checks the independent Promela model of spec sections 4
// and 5 with spin: the whole state space, no assertion violated.
func TestSpinModel(t *testing.T) {
	out := runSpin(t)
	m := spinErrors.FindStringSubmatch(out)
	if m == nil || m[1] != "0" || !strings.Contains(out, "Full statespace search") || strings.Contains(out, "max search depth too small") {
		t.Fatalf("spin did not verify the model:\n%s", out)
	}
	// The torn-read branch (a reaper reading a header in the middle of a
	// reused record) must be reached, or the model proves little.
	src, _ := os.ReadFile(filepath.Join("promela", "ring.pml"))
	line := 0
	for i, l := range strings.Split(string(src), "\n") {
		if strings.Contains(l, "select(ln") {
			line = i + 1
		}
	}
	sec := out
	if i := strings.Index(sec, "unreached in proctype reaper"); i >= 0 {
		sec = sec[i:]
		if j := strings.Index(sec[1:], "unreached in"); j >= 0 {
			sec = sec[:j+1]
		}
	} else {
		sec = ""
	}
	if line == 0 || strings.Contains(sec, fmt.Sprintf("ring.pml:%d,", line)) {
		t.Errorf("the torn-read branch (line %d) was never reached:\n%s", line, sec)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "states, stored") || strings.Contains(l, "errors:") {
			t.Log(strings.TrimSpace(l))
		}
	}
}

// TestSpinModelBroken: the same model with a reaper that stores head
// instead of CAS, or skips the length check, must fail.
func TestSpinModelBroken(t *testing.T) {
	for _, def := range []string{"-DSTORE_HEAD", "-DNO_LEN_CHECK"} {
		out := runSpin(t, def)
		m := spinErrors.FindStringSubmatch(out)
		if m == nil || m[1] == "0" || !strings.Contains(out, "assertion violated") {
			t.Fatalf("%s: spin found no error:\n%s", def, out)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "assertion violated") {
				t.Logf("%s: %s", def, strings.TrimSpace(l))
			}
		}
	}
}
