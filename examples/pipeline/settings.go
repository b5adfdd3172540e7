package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/rocketqa-go/rocketqa/dataset"
)

// settingsFile, in a work directory (-out, a seed's directory, a pre-training cache), records the settings its
// outputs were made with. Every stage is skipped when its files exist, so a rerun with other settings into the
// same directory would otherwise mix models of two configurations in one table without a word.
const settingsFile = "pipeline-settings.json"

// variantFields are the preset fields whose outputs get names of their own (suffixes), so that one work directory
// holds several of them side by side.
var variantFields = []string{"laterFromMD0", "sampleNegatives", "mixRandom"}

// settings are what the outputs of r.out depend on: the preset (but its variants), the inputs, the seed and
// whether the run starts without the pre-training.
func (r *runner) settings() map[string]string {
	s := map[string]string{"data": abs(r.data), "init": abs(r.init), "unlabelled": abs(r.unlabelledFile),
		"seed": strconv.FormatUint(r.seed, 10), "no_pretrain": strconv.FormatBool(r.noPretrain)}
	v := reflect.ValueOf(r.p)
	for i := 0; i < v.NumField(); i++ {
		if name := v.Type().Field(i).Name; !slices.Contains(variantFields, name) {
			s[name] = fmt.Sprint(v.Field(i))
		}
	}
	return s
}

// pretrainSettings are what a pre-training cache depends on (r.pretrain): the objective, the corpus, the encoder's
// shape and init, and the training settings of both objectives.
func (r *runner) pretrainSettings() map[string]string {
	p := r.p
	return map[string]string{"data": abs(r.data), "pretrain": p.pretrain, "layers": strconv.Itoa(p.layers),
		"initStd": fmt.Sprint(p.initStd), "qLen": strconv.Itoa(p.qLen), "pLen": strconv.Itoa(p.pLen),
		"deBatch": strconv.Itoa(p.deBatch), "forCN": strconv.FormatBool(p.forCN),
		"pretrainSteps": strconv.Itoa(p.pretrainSteps), "pretrainBatch": strconv.Itoa(p.pretrainBatch),
		"pretrainLen": strconv.Itoa(p.pretrainLen), "pretrainLR": fmt.Sprint(p.pretrainLR)}
}

func abs(p string) string {
	if p == "" {
		return ""
	}
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// checkSettings refuses dir when its settings file records other settings than want, listing the differences,
// and records want in a directory without one (a new one, or one of a version before the file).
func checkSettings(dir, flagName string, want map[string]string) error {
	path := filepath.Join(dir, settingsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return dataset.WriteJSONAtomic(path, want)
	}
	if err != nil {
		return err
	}
	var got map[string]string
	if err := json.Unmarshal(dataset.StripBOM(b), &got); err != nil {
		return fmt.Errorf("pipeline: %s: %w", path, err)
	}
	var diffs []string
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			diffs = append(diffs, fmt.Sprintf("%s %q there, %q here", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s %q there, none here", k, g))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	slices.Sort(diffs)
	return fmt.Errorf("pipeline: %s holds outputs made with other settings (%s): give another %s, or remove it to start over",
		dir, strings.Join(diffs, "; "), flagName)
}
