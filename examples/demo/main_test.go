package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/examples/internal/maintest"
)

func TestMain(m *testing.M) { maintest.Main(m, "demo", main) }

// TestUnexpectedArgument: an argument that is not a flag is refused before anything runs (flag parsing stops at
// it, so the flags after it were silently ignored: "-data d mlm -out o" trained into out/demo).
func TestUnexpectedArgument(t *testing.T) { maintest.UnexpectedArgument(t, "demo", "mlm") }

// TestRerunOtherSettings: a rerun into the same -out with another -p-len or -init-std is refused naming the setting
// (the trained model of the first run was reused and reported as the new one's); the same settings resume.
func TestRerunOtherSettings(t *testing.T) {
	data := os.Getenv("ROCKETQA_DEMO_DATA")
	if data == "" {
		t.Skip("set ROCKETQA_DEMO_DATA to a demo corpus directory (scripts/test.sh does)")
	}
	out := t.TempDir()
	prec := precision{seed: 1}
	require.NoError(t, run(data, out, 1, 32, 1e-3, 2, true, 64, 2, 0.1, pretraining{}, prec))
	err := run(data, out, 1, 32, 1e-3, 2, true, 32, 2, 0.1, pretraining{}, prec)
	require.ErrorContains(t, err, `p_len "64" there, "32" here`)
	err = run(data, out, 1, 32, 1e-3, 2, true, 64, 2, 0.02, pretraining{}, prec)
	require.ErrorContains(t, err, "belongs to another run (config ")
	require.NoError(t, run(data, out, 1, 32, 1e-3, 2, true, 64, 2, 0.1, pretraining{}, prec), "the same settings resume")
}
