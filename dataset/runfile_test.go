package dataset

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleRun(rng *rand.Rand) ([]string, [][]Hit) {
	qids := []string{"q2", "q10", "问题-1", "q-empty"}
	hits := make([][]Hit, len(qids))
	for i := range qids[:3] {
		for r := 0; r < 5+i; r++ {
			hits[i] = append(hits[i], Hit{PID: fmt.Sprintf("p%d", rng.IntN(40)) + "-" + string(rune('a'+r)), Score: float32(rng.NormFloat64() * 100)})
		}
	}
	hits[0][1].Score = float32(math.Pi)
	hits[0][2].Score = 1e-30
	hits[1][0].PID = `quote"back\slash<&>`
	return qids, hits
}

func TestRunTSVRoundTrip(t *testing.T) {
	qids, hits := sampleRun(rand.New(rand.NewPCG(31, 32)))
	path := filepath.Join(t.TempDir(), "res.top50")
	require.NoError(t, WriteRun(path, "", qids, hits))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	require.Len(t, lines, 5+6+7)
	assert.Equal(t, "q2\t"+hits[0][0].PID+"\t1\t", lines[0][:len("q2\t"+hits[0][0].PID+"\t1\t")])
	assert.Equal(t, "q2\t"+hits[0][1].PID+"\t2\t3.1415927", lines[1])
	assert.Equal(t, "q2\t"+hits[0][2].PID+"\t3\t1e-30", lines[2])

	gotQ, gotH, err := ReadRun(path, 0)
	require.NoError(t, err)
	assert.Equal(t, qids[:3], gotQ, "a qid without hits writes no line")
	assert.Equal(t, hits[:3], gotH, "scores read back bit-exactly")
}

func TestReadRunTSVFormats(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run.tsv")
	// Lines out of rank order, interleaved qids, CRLF endings, a blank line, and MS MARCO's 3-column form.
	content := "q1\tp9\t2\t0.5\r\nq2\tp1\t1\nq1\tp8\t1\t1.5\n\nq1\tp7\t3\t-2\n"
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	qids, hits, err := ReadRun(path, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"q1", "q2"}, qids)
	assert.Equal(t, [][]Hit{{{"p8", 1.5}, {"p9", 0.5}, {"p7", -2}}, {{"p1", 0}}}, hits)

	empty := filepath.Join(dir, "empty.tsv")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	qids, hits, err = ReadRun(empty, 0)
	require.NoError(t, err)
	assert.Empty(t, qids)
	assert.Empty(t, hits)
}

func TestReadRunTSVBadLines(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]struct {
		content string
		want    string
	}{
		"columns":    {"q1\tp1\t1\t0.5\nq1\tp2\n", ":2: want 3 or 4 tab-separated columns"},
		"extra":      {"q1\tp1\t1\t0.5\tx\n", ":1: want 3 or 4"},
		"rank":       {"q1\tp1\t1\nq1\tp2\tsecond\n", ":2: rank \"second\""},
		"rank zero":  {"q1\tp1\t0\n", ":1: rank \"0\""},
		"score":      {"q1\tp1\t1\t0.5\nq1\tp2\t2\tabc\n", ":2: score \"abc\""},
		"empty qid":  {"\tp1\t1\n", ":1: empty qid"},
		"empty pid":  {"q1\t \t1\n", ":1: empty pid"},
		"nan score":  {"q1\tp1\t1\tNaN\n", ":1: score \"NaN\" is not a finite number"},
		"dup rank":   {"q1\tp1\t1\nq2\tp1\t1\nq1\tp2\t1\n", ":3: qid \"q1\" has rank 1 again (first on line 1)"},
		"trec 5":     {"q1 Q0 p1 1 0.5\n", ":1: want 3 or 4"},
		"late error": {"q1\tp1\t1\nq1\tp2\t2\nq1\tp3\t3\nq1\tp4\tx\n", ":4:"},
	}
	for name, c := range cases {
		p := filepath.Join(dir, name+".tsv")
		require.NoError(t, os.WriteFile(p, []byte(c.content), 0o644))
		_, _, err := ReadRun(p, 0)
		require.ErrorContains(t, err, p+c.want, name)
		var le *LineError
		require.True(t, errors.As(err, &le), name)
	}
	_, _, err := ReadRun(filepath.Join(dir, "missing"), 0)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestRunWritersRejectBadInput(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out")
	for name, w := range map[string]func(string, []string, [][]Hit) error{
		"tsv":  func(p string, q []string, h [][]Hit) error { return WriteRun(p, "", q, h) },
		"json": func(p string, q []string, h [][]Hit) error { return WriteRun("", p, q, h) },
	} {
		require.ErrorContains(t, w(p, []string{"q"}, nil), "1 qids but 0 hit lists", name)
		require.ErrorContains(t, w(p, []string{"q\t1"}, [][]Hit{nil}), "qid 0", name)
		require.ErrorContains(t, w(p, []string{"q", "q"}, [][]Hit{nil, nil}), "appears at 0 and 1", name)
		require.ErrorContains(t, w(p, []string{"q"}, [][]Hit{{{"p1", 1}, {"p\n2", 0}}}), "rank 2 pid", name)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "file"), nil, 0o644))
		require.Error(t, w(filepath.Join(dir, "file", "run"), []string{"q"}, [][]Hit{nil}), name, "the parent is a file")
		_, err := os.Stat(p)
		require.ErrorIs(t, err, os.ErrNotExist, name)
	}
}

func TestRunJSONRoundTrip(t *testing.T) {
	qids, hits := sampleRun(rand.New(rand.NewPCG(33, 34)))
	path := filepath.Join(t.TempDir(), "dev_results.json")
	require.NoError(t, WriteRun("", path, qids, hits))
	gotQ, gotH, err := ReadRunJSON(path)
	require.NoError(t, err)
	assert.Equal(t, qids, gotQ, "file order kept, including a qid with no hits")
	require.Len(t, gotH, len(hits))
	for i := range hits {
		require.Len(t, gotH[i], len(hits[i]))
		for r, h := range hits[i] {
			assert.Equal(t, Hit{PID: h.PID}, gotH[i][r])
		}
	}
	// Any JSON reader sees the same object.
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string][]string
	require.NoError(t, json.Unmarshal(b, &m))
	assert.Len(t, m, 4)
	assert.Equal(t, `quote"back\slash<&>`, m["q10"][0])
	assert.Empty(t, m["q-empty"])
	assert.Contains(t, string(b), `"问题-1": [`, "non-ASCII kept as UTF-8")

	if _, err := exec.LookPath("/usr/bin/python3"); err == nil {
		out, err := exec.Command("/usr/bin/python3", "-c",
			"import json,sys; d=json.load(open(sys.argv[1])); print(list(d)); print(d['q10'][0])", path).Output()
		require.NoError(t, err)
		assert.Equal(t, "['q2', 'q10', '问题-1', 'q-empty']\n"+`quote"back\slash<&>`+"\n", string(out))
	}
}

func TestReadRunJSONFormats(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"b": ["x", 12, "y"], "a": []}`+"\n\n"), 0o644))
	qids, hits, err := ReadRunJSON(path)
	require.NoError(t, err)
	assert.Equal(t, []string{"b", "a"}, qids)
	assert.Equal(t, [][]Hit{{{PID: "x"}, {PID: "12"}, {PID: "y"}}, nil}, hits)
}

func TestReadRunJSONBadInput(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]struct {
		content string
		want    string
	}{
		"syntax":     {"{\n\"q1\": [\"a\",\n\"b\"\n\"q2\": []}", ":4:"},
		"not object": {"[\"a\"]", ":1: want a JSON object"},
		"value":      {"{\n\"q1\": [\"a\"],\n\"q2\": \"b\"\n}", ":3: qid \"q2\": want a list of pids"},
		"nested":     {"{\"q1\": [[\"a\"]]}", ":1: qid \"q1\", candidate 1: pid [ is not a string or number"},
		"bool pid":   {"{\"q1\": [true]}", "is not a string or number"},
		"dup qid":    {"{\"q1\": [],\n\"q1\": []}", ":2: qid \"q1\" appears twice"},
		"tab pid":    {"{\"q1\": [\"a\\tb\"]}", "pid \"a\\tb\""},
		"empty qid":  {"{\"\": []}", "qid \"\""},
		"truncated":  {"{\"q1\": [\"a\"", "unexpected end of file"},
		"trailing":   {"{}\n{}", ":2: trailing data"},
		"empty file": {"", "unexpected end of file"},
	}
	for name, c := range cases {
		p := filepath.Join(dir, "bad.json")
		require.NoError(t, os.WriteFile(p, []byte(c.content), 0o644))
		_, _, err := ReadRunJSON(p)
		require.ErrorContains(t, err, c.want, name)
		require.Contains(t, err.Error(), p, name)
	}
}

func TestReadRunTopKAndTREC(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "run.tsv")
	require.NoError(t, os.WriteFile(p, []byte("\ufeffq1\tpb\t2\t0.5\nq1\tpa\t1\t0.9\nq1\tpc\t3\t0.1\nq2\tpz\t1\n"), 0o644))
	qids, hits, err := ReadRun(p, 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"q1", "q2"}, qids)
	assert.Equal(t, [][]Hit{{{"pa", 0.9}, {"pb", 0.5}}, {{"pz", 0}}}, hits)

	// TREC six columns and space-separated lines read as the same entries
	require.NoError(t, os.WriteFile(p, []byte("7 Q0 d1 1 9.5 tag\n7\tQ0\td3\t3\t8\ttag\n8 d2 1 0.25\n"), 0o644))
	r, err := OpenRun(p)
	require.NoError(t, err)
	defer r.Close()
	var got []RunEntry
	for r.Next() {
		got = append(got, r.Entry())
	}
	require.NoError(t, r.Err())
	assert.Equal(t, []RunEntry{{"7", "d1", 1, 9.5, true}, {"7", "d3", 3, 8, true}, {"8", "d2", 1, 0.25, true}}, got)
}

func TestRunWriterStreamsBothFormats(t *testing.T) {
	dir := t.TempDir()
	tsv, js := filepath.Join(dir, "r.tsv"), filepath.Join(dir, "r.json")
	w, err := CreateRun(tsv, js)
	require.NoError(t, err)
	require.NoError(t, w.Write("q1", []Hit{{"p1", 2}, {"p2", 1}}))
	require.NoError(t, w.Write("q2", []Hit{{"p3", 0.5}}))
	assert.NoFileExists(t, tsv, "nothing before Commit")
	require.NoError(t, w.Commit())
	b, err := os.ReadFile(tsv)
	require.NoError(t, err)
	assert.Equal(t, "q1\tp1\t1\t2\nq1\tp2\t2\t1\nq2\tp3\t1\t0.5\n", string(b))
	b, err = os.ReadFile(js)
	require.NoError(t, err)
	assert.Equal(t, "{\n\"q1\": [\"p1\", \"p2\"],\n\"q2\": [\"p3\"]\n}\n", string(b))

	// a refused write is sticky: no file at all
	out := filepath.Join(dir, "bad.tsv")
	w, err = CreateRun(out, "")
	require.NoError(t, err)
	require.NoError(t, w.Write("q1", nil))
	require.ErrorContains(t, w.Write("q1", nil), "appears at 0 and 1")
	require.Error(t, w.Commit())
	assert.NoFileExists(t, out)
}

func TestReadQueriesPositivesPassages(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
		return p
	}
	for _, p := range []string{
		write("q2qid.dev.json", `{"北京天气": "q1", "红烧肉": "q2"}`),
		write("dev.json", "\ufeff"+`{"question_id": "q1", "question": "北京天气", "answer_paragraphs": []}`+"\n"+
			`{"question_id": "q2", "question": "红烧肉", "answer_paragraphs": [{"paragraph_id": "p1"}]}`+"\n"),
		write("queries.tsv", "q1\t北京天气\nq2\t红烧肉\n"),
	} {
		qids, texts, err := ReadQueries(p)
		require.NoError(t, err, p)
		assert.Equal(t, []string{"q1", "q2"}, qids, p)
		assert.Equal(t, []string{"北京天气", "红烧肉"}, texts, p)
	}
	// a dev.json whose first line is longer than 1 MiB (a long answer paragraph) is still dev.json, not q2qid
	long := strings.Repeat("长", 1<<19)
	qids, texts, err := ReadQueries(write("dev.long.json", `{"question_id": "q1", "question": "北京天气", "answer_paragraphs": [{"paragraph_id": "p1", "paragraph_text": "`+long+`"}]}`+"\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"q1"}, qids)
	assert.Equal(t, []string{"北京天气"}, texts)
	_, _, err = ReadQueries(write("dup.tsv", "q1\ta\nq1\tb\n"))
	assert.ErrorContains(t, err, `dup.tsv: qid "q1" appears twice`)
	_, _, err = ReadQueries(write("blank.tsv", "q1\ta\nq2\t \n"))
	assert.ErrorContains(t, err, `blank.tsv: qid "q2" (query 2) has an empty query text`)

	// positives keep file order and count a repeated pair once
	pos, err := ReadPositives(write("qrels.tsv", "q1\tp2\nq1\tp1\nq1\tp2\nq2\tp9\n"))
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{"q1": {"p2", "p1"}, "q2": {"p9"}}, pos)

	// MS MARCO files: only the needed pids are kept
	para := write("para.txt", "1\tone\n2\ttwo\n3\tthree\n")
	titles := write("para.title.txt", "1\t-\n2\tTwo\n3\tThree\n")
	ps, err := LoadPassages(para, titles, map[string]bool{"1": true, "2": true})
	require.NoError(t, err)
	assert.Equal(t, []string{"1", "2"}, ps.PIDs())
	p2, _ := ps.Get("2")
	p1, _ := ps.Get("1")
	assert.Equal(t, [2]string{"Two", "-"}, [2]string{p2.Title, p1.Title})

	// a DuReader map with more rows than the parts
	coll := filepath.Join(dir, "coll")
	require.NoError(t, os.MkdirAll(coll, 0o755))
	write("coll/part-00", "-\t\tpassage a\t0\n")
	write("coll/passage2id.map.json", `{"0": "a", "1": "b"}`)
	_, err = LoadPassages(coll, "", nil)
	assert.ErrorContains(t, err, "maps 2 rows but the part files of "+coll+" hold 1 passages")
}

func TestAllReadsEveryRecord(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dual.tsv")
	require.NoError(t, os.WriteFile(p, []byte("q1\t\tpos\t\tneg\t0\nq2\tt\tpos2\t\tneg2\t0\n"), 0o644))
	r, err := OpenDualTrain(p)
	require.NoError(t, err)
	exs, err := r.All()
	require.NoError(t, err)
	assert.Equal(t, []DualExample{{Query: "q1", PosPara: "pos", NegPara: "neg"}, {Query: "q2", PosTitle: "t", PosPara: "pos2", NegPara: "neg2"}}, exs)
	require.NoError(t, os.WriteFile(p, []byte("q1\t\tpos\t\tneg\t0\nbad line\n"), 0o644))
	r, err = OpenDualTrain(p)
	require.NoError(t, err)
	_, err = r.All()
	assert.ErrorContains(t, err, p+":2:")
}
