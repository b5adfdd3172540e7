// Package pyref lets tests regenerate their PyTorch reference files on the machine under test. Committed fixtures
// were computed on one CPU; the same float32 computation differs in its last bits on another (BLAS kernels, FMA,
// thread counts), so where Debian's python3-torch is installed (CI installs it) tests prefer a reference computed
// here, and fall back to the committed files elsewhere. Set ROCKETQA_FIXTURES=committed to force the committed files.
package pyref

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Python is the interpreter with PyTorch 1.13.1 (Debian's python3-torch); the python3 first on PATH may lack torch.
const Python = "/usr/bin/python3"

var (
	once  sync.Once
	avail bool
	why   string
)

// Available reports whether the reference can be regenerated here, and if not, why (for the test log).
func Available() (bool, string) {
	once.Do(func() {
		if os.Getenv("ROCKETQA_FIXTURES") == "committed" {
			why = "ROCKETQA_FIXTURES=committed"
			return
		}
		out, err := exec.Command(Python, "-c", "import torch; print(torch.__version__)").CombinedOutput()
		if err != nil {
			why = fmt.Sprintf("%s has no torch (%v)", Python, err)
			return
		}
		avail, why = true, "torch "+strings.TrimSpace(string(out))
	})
	return avail, why
}

// Run runs a generator script with args and returns an error holding its output when it fails.
func Run(script string, args ...string) error {
	cmd := exec.Command(Python, append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", Python, script, err, out)
	}
	return nil
}

// generated holds the references Fixture regenerated in this process, by script.
var generated struct {
	sync.Mutex
	dirs  []string
	paths map[string]string
	errs  map[string]error
}

// Fixture returns the reference a test compares with: committed (a file or folder of testdata/) when the reference
// cannot be regenerated here, else the output of script run on this machine. The script gets one argument, the path
// to write: a file or folder named like committed in a new temporary folder. Each script runs once per test process
// (a failure fails every test that asks); RemoveFixtures, called from TestMain, removes what it wrote.
func Fixture(t testing.TB, script, committed string) string {
	t.Helper()
	ok, why := Available()
	if !ok {
		t.Logf("comparing with the committed %s (%s)", committed, why)
		return committed
	}
	g := &generated
	g.Lock()
	defer g.Unlock()
	path, done := g.paths[script]
	if !done {
		dir, err := os.MkdirTemp("", "pyref-")
		if err == nil {
			g.dirs = append(g.dirs, dir)
			path = filepath.Join(dir, filepath.Base(committed))
			err = Run(script, path)
		}
		if g.paths == nil {
			g.paths, g.errs = map[string]string{}, map[string]error{}
		}
		g.paths[script], g.errs[script] = path, err
	}
	if err := g.errs[script]; err != nil {
		t.Fatal(err)
	}
	t.Logf("comparing with a reference regenerated here (%s)", why)
	return path
}

// RemoveFixtures removes the references Fixture regenerated; TestMain calls it after m.Run.
func RemoveFixtures() {
	generated.Lock()
	defer generated.Unlock()
	for _, d := range generated.dirs {
		os.RemoveAll(d)
	}
	generated.dirs, generated.paths, generated.errs = nil, nil, nil
}
