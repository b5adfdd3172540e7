package rocketqa

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/train"
)

// configPath is the config.json that describes the model s starts from, or "" when none is found (an Init
// directory of this library keeps it in its query tower).
func (s InitSpec) configPath() string {
	if s.Init == "" {
		return s.Config
	}
	for _, p := range []string{filepath.Join(s.Init, "config.json"), filepath.Join(s.Init, encoder.QueryDir, "config.json")} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// MaxPositions returns max_position_embeddings of the model s starts from and the config.json it is read from
// (0 and "" when no config is found), so that a too-long sequence setting fails before training. A config that
// is not a regular file (a FIFO, /dev/stdin) is not read here, as it can be read only once: the training tasks
// check their lengths against it when they read it.
func (s InitSpec) MaxPositions() (int, string, error) {
	p := s.configPath()
	if p == "" {
		return 0, "", nil
	}
	st, err := os.Stat(p)
	if err != nil {
		return 0, "", nil // a missing --config is reported by the caller's file checks
	}
	if !st.Mode().IsRegular() {
		return 0, "", nil
	}
	cfg, err := encoder.ReadConfig(p)
	if err != nil {
		return 0, "", err
	}
	return cfg.MaxPositionEmbeddings, p, nil
}

// RunIdentity is what a checkpoint of a training command belongs to: the command, the training file (path, size,
// hash), where the model came from (the Init directory and its config.json, or the Config and Vocab files, by
// content), the tokenisation and the command's own settings. train.Run adds the hyperparameters and refuses to
// resume a checkpoint of another identity.
func (s InitSpec) RunIdentity(command, trainFile string, forCN, cased bool, extra map[string]string) (map[string]string, error) {
	id := map[string]string{"command": command, "for_cn": strconv.FormatBool(forCN), "cased": strconv.FormatBool(cased)}
	for k, v := range extra {
		id[k] = v
	}
	add := func(key, path string) error {
		if path == "" {
			return nil
		}
		fp, err := train.FileIdentity(path)
		if err != nil {
			return err
		}
		abs, _ := filepath.Abs(path)
		id[key] = abs + " " + fp
		return nil
	}
	if s.Init != "" {
		id["init"], _ = filepath.Abs(s.Init)
		if err := add("init_config", s.configPath()); err != nil {
			return nil, err
		}
	}
	for _, kv := range [][2]string{{"train", trainFile}, {"config", s.Config}, {"vocab", s.Vocab}} {
		if err := add(kv[0], kv[1]); err != nil {
			return nil, fmt.Errorf("rocketqa: run identity: %w", err)
		}
	}
	return id, nil
}
