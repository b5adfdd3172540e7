package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The tiny DuReader-layout dataset of the end-to-end tests: 12 passages in two collection parts (two embedding
// shards, two indexes), 4 dev queries with their positives, 8 dual-encoder and 8 cross-encoder training lines.

var fixturePassages = []string{
	"北京今天天气晴朗，气温二十度，适合出门散步。",
	"红烧肉的做法：五花肉切块，加糖和酱油慢火炖一小时。",
	"电脑开不了机时，先检查电源线和显示器是否连接好。",
	"足球比赛每队十一名球员，比赛时间为九十分钟。",
	"钢琴是一种键盘乐器，有八十八个琴键。",
	"去上海旅游可以参观外滩和东方明珠塔。",
	"感冒时要多喝水，多休息，必要时去医院看医生。",
	"唐朝是中国历史上强盛的朝代，首都在长安。",
	"大熊猫主要吃竹子，生活在四川的山林里。",
	"向日葵的花总是朝着太阳的方向转动。",
	"银行存款利率由中央银行调整，定期存款利息更高。",
	"学生每天应该按时完成作业，认真复习功课。",
}

const fixturePart0 = 8 // passages 0..7 in part-00, 8..11 in part-01

func fixturePID(i int) string { return fmt.Sprintf("p%02d", i) }

// dev queries: qid, text, positive passage indexes
var fixtureDev = []struct {
	qid, query string
	pos        []int
}{
	{"d0", "北京天气怎么样", []int{0}},
	{"d1", "红烧肉怎么做", []int{1}},
	{"d2", "大熊猫吃什么", []int{8}},
	{"d3", "感冒了怎么办", []int{6}},
}

// dual-encoder training lines: query, positive, negative
var fixtureTrain = []struct {
	query    string
	pos, neg int
}{
	{"电脑开不了机怎么办", 2, 3},
	{"足球比赛多长时间", 3, 4},
	{"钢琴有多少个键", 4, 5},
	{"上海有什么好玩的", 5, 7},
	{"唐朝的首都在哪里", 7, 9},
	{"向日葵为什么朝着太阳", 9, 10},
	{"定期存款利息高吗", 10, 11},
	{"学生怎样复习功课", 11, 2},
}

// fixture holds the paths of the generated dataset and model description.
type fixture struct {
	dir, data, coll, q2qid, devJSON, dualTrain, crossTrain, config, vocab string
}

// writeFixture writes the dataset under dir: data/ in DuReader layout, config.json (hidden 32, 2 layers, 4 heads,
// intermediate 64, 64 positions; no dropout so that runs are comparable across process counts, and a wide
// initialisation so that the scores of different passages differ: a loss far from ln(candidates) that depends on
// which candidate is the target) and a vocab.txt covering every character used.
func writeFixture(t testing.TB, dir string) *fixture {
	f := &fixture{dir: dir, data: filepath.Join(dir, "data")}
	f.coll = filepath.Join(f.data, "passage-collection")
	f.q2qid = filepath.Join(f.data, "dev", "q2qid.dev.json")
	f.devJSON = filepath.Join(f.data, "dev", "dev.json")
	f.dualTrain = filepath.Join(f.data, "train", "dual.train.tsv")
	f.crossTrain = filepath.Join(f.data, "train", "cross.train.tsv")
	f.config = filepath.Join(dir, "config.json")
	f.vocab = filepath.Join(dir, "vocab.txt")
	for _, d := range []string{f.coll, filepath.Dir(f.q2qid), filepath.Dir(f.dualTrain)} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	write := func(path, s string) { require.NoError(t, os.WriteFile(path, []byte(s), 0o644)) }

	var p0, p1 strings.Builder
	idmap := map[string]string{}
	for i, p := range fixturePassages {
		b := &p0
		if i >= fixturePart0 {
			b = &p1
		}
		fmt.Fprintf(b, "-\t\t%s\t0\n", p)
		idmap[fmt.Sprint(i)] = fixturePID(i)
	}
	write(filepath.Join(f.coll, "part-00"), p0.String())
	write(filepath.Join(f.coll, "part-01"), p1.String())
	js, err := json.Marshal(idmap)
	require.NoError(t, err)
	write(filepath.Join(f.coll, "passage2id.map.json"), string(js))

	var q2 []string
	var dev strings.Builder
	for _, d := range fixtureDev {
		q2 = append(q2, fmt.Sprintf("%q: %q", d.query, d.qid))
		var aps []string
		for _, p := range d.pos {
			aps = append(aps, fmt.Sprintf(`{"paragraph_id": %q, "paragraph_text": %q}`, fixturePID(p), fixturePassages[p]))
		}
		fmt.Fprintf(&dev, `{"question_id": %q, "question": %q, "answer_paragraphs": [%s]}`+"\n", d.qid, d.query, strings.Join(aps, ", "))
	}
	write(f.q2qid, "{"+strings.Join(q2, ", ")+"}\n")
	write(f.devJSON, dev.String())

	var dual, cross strings.Builder
	for _, x := range fixtureTrain {
		fmt.Fprintf(&dual, "%s\t\t%s\t\t%s\t0\n", x.query, fixturePassages[x.pos], fixturePassages[x.neg])
		fmt.Fprintf(&cross, "%s\t\t%s\t1\n%s\t\t%s\t0\n", x.query, fixturePassages[x.pos], x.query, fixturePassages[x.neg])
	}
	write(f.dualTrain, dual.String())
	write(f.crossTrain, cross.String())

	// vocab: the special tokens, then every character in order of first use
	toks := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
	seen := map[rune]bool{}
	all := strings.Join(fixturePassages, "")
	for _, d := range fixtureDev {
		all += d.query
	}
	for _, x := range fixtureTrain {
		all += x.query
	}
	for _, r := range all {
		if !seen[r] {
			seen[r] = true
			toks = append(toks, string(r))
		}
	}
	write(f.vocab, strings.Join(toks, "\n")+"\n")
	cfg := map[string]any{
		"model_type": "ernie", "vocab_size": len(toks), "hidden_size": 32, "num_hidden_layers": 2,
		"num_attention_heads": 4, "intermediate_size": 64, "hidden_act": "relu",
		"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "max_position_embeddings": 64,
		"type_vocab_size": 2, "layer_norm_eps": 1e-12, "initializer_range": 0.3, "pad_token_id": 0,
	}
	js, err = json.MarshalIndent(cfg, "", "  ")
	require.NoError(t, err)
	write(f.config, string(js))
	return f
}

// positives returns the dev positives by qid.
func fixturePositives() map[string][]string {
	out := map[string][]string{}
	for _, d := range fixtureDev {
		for _, p := range d.pos {
			out[d.qid] = append(out[d.qid], fixturePID(p))
		}
	}
	return out
}

// passageText returns the text of a pid of the fixture.
func passageText(pid string) string {
	i := slices.Index(fixturePIDs(), pid)
	if i < 0 {
		return ""
	}
	return fixturePassages[i]
}

func fixturePIDs() []string {
	out := make([]string, len(fixturePassages))
	for i := range out {
		out[i] = fixturePID(i)
	}
	return out
}
