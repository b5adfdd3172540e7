package jointtrain

import (
	"fmt"

	"github.com/rocketqa-go/rocketqa/fielderr"
)

// Presets are the official settings by name: "marco" (MSMARCO) and "nq" (NQ).
var Presets = map[string]Config{"marco": MSMARCO, "nq": NQ}

// Validate checks cfg before Train reads anything, as a *fielderr.Error naming the fields (cmd/rocketqa shows
// them as its flags): the loop's options (under "Train"), the loss variant, the head choice, the sizes and that
// the two model directories and the list file exist. Zero values that take a default pass.
func (cfg Config) Validate() error {
	if err := fielderr.In("Train", cfg.Train.Validate()); err != nil {
		return err
	}
	for _, f := range []struct {
		field string
		v     int
	}{{"ChunkSize", cfg.ChunkSize}, {"QMaxSeqLen", cfg.QMaxSeqLen}, {"PMaxSeqLen", cfg.PMaxSeqLen}, {"CEMaxSeqLen", cfg.CEMaxSeqLen}} {
		if f.v < 0 {
			return fielderr.New("jointtrain", "{%s} %d: must not be negative", f.field, f.v)
		}
	}
	_, verr := ParseVariant(string(cfg.Variant))
	return fielderr.First(fielderr.Check("jointtrain",
		cfg.Variant == "" || verr == nil, fmt.Sprintf("{Variant} %q: want official, seed, paper or static", cfg.Variant),
		cfg.CEHead == "" || cfg.CEHead == KeepV1Head || cfg.CEHead == NewV2Head, fmt.Sprintf("{CEHead} %q: want keep or v2", cfg.CEHead),
		cfg.ListSize >= 2, fmt.Sprintf("{ListSize} %d: want at least 2", cfg.ListSize),
		cfg.DE != "" && cfg.CE != "" && cfg.TrainFile != "", "{DE}, {CE} and {TrainFile} are required"),
		fielderr.IsDir("jointtrain", "DE", cfg.DE), fielderr.IsDir("jointtrain", "CE", cfg.CE),
		fielderr.IsFile("jointtrain", "TrainFile", cfg.TrainFile))
}
