// Package pyref lets tests regenerate their PyTorch reference files on the machine under test. Committed fixtures
// were computed on one CPU; the same float32 computation differs in its last bits on another (BLAS kernels, FMA,
// thread counts), so where Debian's python3-torch is installed (CI installs it) tests prefer a reference computed
// here, and fall back to the committed files elsewhere. Set ROCKETQA_FIXTURES=committed to force the committed files.
package pyref

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
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
