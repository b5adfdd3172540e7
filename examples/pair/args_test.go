package main

import (
	"testing"

	"github.com/rocketqa-go/rocketqa/examples/internal/maintest"
)

func TestMain(m *testing.M) { maintest.Main(m, "pair", main) }

// TestUnexpectedArgument: an argument that is not a flag is refused before anything runs (flag parsing stops at
// it, so the flags after it, -out included, were silently ignored and the run went to the default -out).
func TestUnexpectedArgument(t *testing.T) { maintest.UnexpectedArgument(t, "pair", "small") }
