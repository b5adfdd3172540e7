package dataset

import (
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func lineErr(t *testing.T, err error) *LineError {
	t.Helper()
	var le *LineError
	require.True(t, errors.As(err, &le), "want a *LineError, got %v", err)
	return le
}

func TestDualTrainRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dual.train.tsv")
	w, err := CreateDualTrain(p)
	require.NoError(t, err)
	in := []DualExample{
		{Query: "国家法定节假日共多少天", PosPara: "一年法定节假日共11天", NegPara: "无关段落"},
		{Query: "q2", PosTitle: "t+", PosPara: "p+", NegTitle: "t-", NegPara: "p-"},
	}
	for _, ex := range in {
		require.NoError(t, w.Write(ex))
	}
	assert.Equal(t, 2, w.Rows())
	require.NoError(t, w.Close())
	require.NoError(t, w.Close(), "Close twice")

	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "国家法定节假日共多少天\t\t一年法定节假日共11天\t\t无关段落\t0\nq2\tt+\tp+\tt-\tp-\t0\n", string(raw))

	r, err := OpenDualTrain(p)
	require.NoError(t, err)
	defer r.Close()
	var got []DualExample
	var lines []int
	for r.Next() {
		got = append(got, r.Example())
		lines = append(lines, r.Line())
	}
	require.NoError(t, r.Err())
	assert.Equal(t, in, got)
	assert.Equal(t, []int{1, 2}, lines)
	require.NoError(t, r.Close())
	require.NoError(t, r.Close(), "Close twice")
}

func TestDualTrainMalformed(t *testing.T) {
	content := "q\t\tp\t\tn\t0\n" +
		"q\t\tp\t\tn\n" + // 5 columns
		"q\t\tp\t\tn\tx\n" + // label not an integer
		"\t\tp\t\tn\t0\n" + // empty query
		"q2\t\tp2\t\tn2\t0\n"
	p := writeFile(t, "dual.tsv", content)

	r, err := OpenDualTrain(p)
	require.NoError(t, err)
	require.True(t, r.Next())
	require.False(t, r.Next())
	le := lineErr(t, r.Err())
	assert.Equal(t, p, le.Path)
	assert.Equal(t, 2, le.Line)
	assert.Contains(t, le.Error(), "want 6 tab-separated columns, got 5")
	assert.True(t, strings.HasPrefix(le.Error(), p+":2: "))
	r.Close()

	r, err = OpenDualTrain(p, Options{SkipBad: true})
	require.NoError(t, err)
	var qs []string
	var lines []int
	for r.Next() {
		qs = append(qs, r.Example().Query)
		lines = append(lines, r.Line())
	}
	require.NoError(t, r.Err())
	assert.Equal(t, []string{"q", "q2"}, qs)
	assert.Equal(t, []int{1, 5}, lines)
	assert.Equal(t, 3, r.Skipped())
	r.Close()
}

func TestLineEndingsBOMAndGzip(t *testing.T) {
	content := "\xef\xbb\xbfq1\tt\tp\t1\r\nq2\t\tp2\t0" // BOM, CRLF, no final newline
	p := writeFile(t, "cross.tsv", content)
	gzPath := filepath.Join(t.TempDir(), "cross.tsv.gz")
	f, err := os.Create(gzPath)
	require.NoError(t, err)
	zw := gzip.NewWriter(f)
	_, err = zw.Write([]byte(content))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())

	for _, path := range []string{p, gzPath} {
		r, err := OpenCrossTrain(path)
		require.NoError(t, err)
		var got []CrossExample
		for r.Next() {
			got = append(got, r.Example())
		}
		require.NoError(t, r.Err(), path)
		assert.Equal(t, []CrossExample{{"q1", "t", "p", 1}, {"q2", "", "p2", 0}}, got, path)
		r.Close()
	}
}

// The checks of a cross-encoder line and of a joint-training line, in their order: a joint line may have any
// integer label and an empty passage.
func TestCrossAndJointLineChecks(t *testing.T) {
	cases := []struct{ line, cross, joint string }{
		{"q\t\tp\t1", "", ""},
		{"\t\tp\t1", "empty query (column 1)", "empty query (column 1)"},
		{"q\t\t \t0", "empty passage (column 3)", ""},
		{"\t\tp\t2", "label 2 is not 0 or 1", "empty query (column 1)"},
		{"q\t\tp\t2", "label 2 is not 0 or 1", ""},
		{"q\t\tp\tx", `label "x" is not an integer`, `label "x" is not an integer`},
	}
	for _, c := range cases {
		p := writeFile(t, "f.tsv", c.line+"\n")
		cr, err := OpenCrossTrain(p)
		require.NoError(t, err)
		cr.Next()
		jr, err := OpenJointLists(p, 1)
		require.NoError(t, err)
		jr.Next()
		for _, g := range []struct {
			what string
			err  error
			want string
		}{{"cross", cr.Err(), c.cross}, {"joint", jr.Err(), c.joint}} {
			if g.want == "" {
				assert.NoError(t, g.err, "%s %q", g.what, c.line)
			} else {
				assert.Equal(t, g.want, lineErr(t, g.err).Msg, "%s %q", g.what, c.line)
			}
		}
		cr.Close()
		jr.Close()
	}
}

func TestCrossLabelMustBeBinary(t *testing.T) {
	p := writeFile(t, "cross.tsv", "q\t\tp\t1\nq\t\tp\t2\n")
	r, err := OpenCrossTrain(p)
	require.NoError(t, err)
	defer r.Close()
	for r.Next() {
	}
	le := lineErr(t, r.Err())
	assert.Equal(t, 2, le.Line)
	assert.Contains(t, le.Msg, "label 2 is not 0 or 1")

	w, err := CreateCrossTrain(filepath.Join(t.TempDir(), "c.tsv"))
	require.NoError(t, err)
	assert.Error(t, w.Write(CrossExample{Query: "q", Para: "p", Label: 3}))
	require.NoError(t, w.Abort())
}

func TestLongLines(t *testing.T) {
	big := strings.Repeat("长", 2<<20) // 6 MiB of UTF-8
	content := "q\t\t" + big + "\t1\n" + "q\t\tshort\t0\n"
	p := writeFile(t, "cross.tsv", content)

	r, err := OpenCrossTrain(p)
	require.NoError(t, err)
	require.True(t, r.Next())
	assert.Equal(t, len(big), len(r.Example().Para))
	require.True(t, r.Next())
	assert.Equal(t, "short", r.Example().Para)
	require.False(t, r.Next())
	require.NoError(t, r.Err())
	r.Close()

	// A limit below the long line: error names line 1; SkipBad resumes at line 2.
	r, err = OpenCrossTrain(p, Options{MaxLineBytes: 1 << 20})
	require.NoError(t, err)
	require.False(t, r.Next())
	le := lineErr(t, r.Err())
	assert.Equal(t, 1, le.Line)
	assert.True(t, errors.Is(r.Err(), ErrLineTooLong))
	r.Close()

	r, err = OpenCrossTrain(p, Options{MaxLineBytes: 1 << 20, SkipBad: true})
	require.NoError(t, err)
	require.True(t, r.Next())
	assert.Equal(t, "short", r.Example().Para)
	assert.Equal(t, 2, r.Line())
	assert.Equal(t, 1, r.Skipped())
	r.Close()
}

func TestInvalidUTF8IsMalformed(t *testing.T) {
	p := writeFile(t, "ids.tsv", "1\tok\n2\tbad\xff\n")
	r, err := OpenIDText(p)
	require.NoError(t, err)
	defer r.Close()
	for r.Next() {
	}
	le := lineErr(t, r.Err())
	assert.Equal(t, 2, le.Line)
	assert.Contains(t, le.Msg, "UTF-8")
}

// The JSON readers refuse bytes that are not UTF-8 as the TSV readers do (a GBK-encoded file, "\xb1\xb1" being
// 北), naming the line; before, encoding/json turned each bad byte into U+FFFD and the file loaded as garbage.
func TestJSONReadersRefuseInvalidUTF8(t *testing.T) {
	gbk := "\xb1\xb1\xbe\xa9"
	dev := writeFile(t, "dev.json", `{"question_id": "q1", "question": "a", "answer_paragraphs": []}`+"\n"+
		`{"question_id": "q2", "question": "`+gbk+`", "answer_paragraphs": []}`+"\n")
	r, err := OpenDev(dev)
	require.NoError(t, err)
	_, err = r.All()
	assert.Equal(t, 2, lineErr(t, err).Line)
	assert.ErrorContains(t, err, "UTF-8")

	_, err = ReadQ2QID(writeFile(t, "q2qid.dev.json", "{\"a\": \"q1\",\n\""+gbk+"\": \"q2\"}\n"))
	assert.Equal(t, 2, lineErr(t, err).Line)
	assert.ErrorContains(t, err, "UTF-8")
	_, err = ReadPassageIDMap(writeFile(t, "passage2id.map.json", "{\"0\": \"a\",\n\n\"1\": \"p"+gbk+"\"}"))
	assert.Equal(t, 3, lineErr(t, err).Line)
	assert.ErrorContains(t, err, "UTF-8")

	_, _, err = ReadRunJSON(writeFile(t, "run.json", "{\"q1\": [\"p1\"],\n\"q2\": [\""+gbk+"\"]}"))
	assert.Equal(t, 2, lineErr(t, err).Line)
	assert.ErrorContains(t, err, "UTF-8")

	// a valid rune cut by the reader's chunk boundaries still reads
	pad := strings.Repeat(" ", 256<<10-9)
	qs, err := ReadQ2QID(writeFile(t, "long.json", "{"+pad+"\"北京\": \"q1\", \"天气\": \"q2\"}"))
	require.NoError(t, err)
	assert.Equal(t, []QueryID{{"北京", "q1"}, {"天气", "q2"}}, qs)
}

func TestWriterRefusesBrokenFieldsAndLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "dual.tsv")
	w, err := CreateDualTrain(p)
	require.NoError(t, err)
	require.NoError(t, w.Write(DualExample{Query: "q", PosPara: "p", NegPara: "n"}))
	err = w.Write(DualExample{Query: "q\twith tab", PosPara: "p", NegPara: "n"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "row 2, column 1")
	assert.Error(t, w.Close(), "Close reports the failed write")
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, ents, "neither the target nor a temp file is left")

	// Abort after a good write leaves nothing either, and an existing file is untouched.
	require.NoError(t, os.WriteFile(p, []byte("old\n"), 0o644))
	w, err = CreateDualTrain(p)
	require.NoError(t, err)
	require.NoError(t, w.Write(DualExample{Query: "q", PosPara: "p", NegPara: "n"}))
	require.NoError(t, w.Abort())
	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "old\n", string(raw))
	ents, _ = os.ReadDir(dir)
	assert.Len(t, ents, 1)
}

func TestCollectionRowsAcrossParts(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "part-00"), []byte("-\t\tp0\t0\n-\t\tp1\t0\n-\tbroken\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "part-01"), []byte("-\tt3\tp3\t0\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "other.txt"), []byte("x\n"), 0o644))

	r, err := OpenCollection(dir)
	require.NoError(t, err)
	for r.Next() {
	}
	le := lineErr(t, r.Err())
	assert.Equal(t, filepath.Join(dir, "part-00"), le.Path)
	assert.Equal(t, 3, le.Line)
	r.Close()

	r, err = OpenCollection(dir, Options{SkipBad: true})
	require.NoError(t, err)
	var got []Passage
	for r.Next() {
		got = append(got, r.Passage())
	}
	require.NoError(t, r.Err())
	assert.Equal(t, []Passage{{Row: 0, Text: "p0"}, {Row: 1, Text: "p1"}, {Row: 3, Title: "t3", Text: "p3"}}, got,
		"the skipped line keeps its row, so part-01 starts at row 3")
	assert.Equal(t, 1, r.Skipped())
	assert.Equal(t, 4, r.Rows())
	r.Close()
	r.Close()

	r, err = OpenCollectionPart(filepath.Join(dir, "part-01"), 100)
	require.NoError(t, err)
	require.True(t, r.Next())
	assert.Equal(t, 100, r.Passage().Row)
	r.Close()
}

func TestDuReaderCollectionRoundTrip(t *testing.T) {
	p := NewPassages()
	for i := 0; i < 10; i++ {
		require.NoError(t, p.Add(fmt.Sprintf("pid%02d", i), "", fmt.Sprintf("段落 %d <&>", i)))
	}
	require.Error(t, p.Add("pid03", "", "dup"))
	require.Error(t, p.Add("", "", "empty"))
	dir := t.TempDir()
	require.NoError(t, WriteDuReaderCollection(dir, p, 4))

	parts, err := CollectionParts(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"part-00", "part-01", "part-02", "part-03"}, baseNames(parts))
	raw, err := os.ReadFile(filepath.Join(dir, "part-00"))
	require.NoError(t, err)
	assert.Equal(t, "-\t\t段落 0 <&>\t0\n-\t\t段落 1 <&>\t0\n-\t\t段落 2 <&>\t0\n", string(raw), "10/4+1 = 3 rows per part")
	raw, err = os.ReadFile(filepath.Join(dir, "passage2id.map.json"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(raw), "{\n  \"0\": \"pid00\",\n  \"1\": \"pid01\""))

	q, err := LoadDuReaderCollection(dir)
	require.NoError(t, err)
	require.Equal(t, 10, q.Len())
	for i := 0; i < 10; i++ {
		assert.Equal(t, p.At(i), q.At(i))
	}
	got, ok := q.Get("pid07")
	require.True(t, ok)
	assert.Equal(t, Passage{Row: 7, PID: "pid07", Text: "段落 7 <&>"}, got)
	_, ok = q.Get("nope")
	assert.False(t, ok)

	// A map with fewer rows than the parts is an error naming the row.
	require.NoError(t, WritePassageIDMap(filepath.Join(dir, "passage2id.map.json"), p.PIDs()[:9]))
	_, err = LoadDuReaderCollection(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "row 9 has no pid")
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

func TestPassageIDMapErrors(t *testing.T) {
	cases := []struct {
		name, content, want string
		line                int
	}{
		{"missing", "{\"0\": \"a\",\n\"2\": \"c\"}\n", "row 1 is missing", 0},
		{"dup", "{\"0\": \"a\",\n\"1\": \"b\",\n\"1\": \"c\"}\n", "row 1 appears twice", 3},
		{"badkey", "{\"0\": \"a\",\n\"x\": \"b\"}\n", "not a row index", 2},
		{"syntax", "{\"0\": \"a\",\n\n\"1\" \"b\"}\n", "malformed JSON", 3},
		{"notobject", "[1, 2]\n", "want a JSON object", 1},
		{"trailing", "{\"0\": \"a\"}\n{}\n", "data after the JSON object", 2},
		{"nonstring", "{\"0\": \"a\",\n\"1\": [1]}\n", "want a string", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, "map.json", c.content)
			_, err := ReadPassageIDMap(p)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			if c.line > 0 {
				assert.Equal(t, c.line, lineErr(t, err).Line)
			}
		})
	}
	p := writeFile(t, "map.json", "{\"1\": \"b\", \"0\": 7}")
	pids, err := ReadPassageIDMap(p)
	require.NoError(t, err)
	assert.Equal(t, []string{"7", "b"}, pids, "keys in any order, numeric values kept as text")
}

func TestQ2QIDOrderAndDuplicates(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "q2qid.dev.json")
	in := []QueryID{{"第二个 \"问题\"", "b"}, {"a<b>&c", "a"}, {"z", "c"}}
	require.NoError(t, WriteQ2QID(p, in))
	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"a<b>&c": "a"`, "no HTML escaping")
	got, err := ReadQ2QID(p)
	require.NoError(t, err)
	assert.Equal(t, in, got)

	assert.Error(t, WriteQ2QID(p, []QueryID{{"x", "1"}, {"x", "2"}}))
	p2 := writeFile(t, "q.json", "{\n\"x\": \"1\",\n\"x\": \"2\"\n}")
	_, err = ReadQ2QID(p2)
	require.Error(t, err)
	assert.Equal(t, 3, lineErr(t, err).Line)
}

func TestDevJSON(t *testing.T) {
	content := `{"question_id": "q1", "question": "问题一", "answer_paragraphs": [{"paragraph_id": "p1", "paragraph_text": "段落"}, {"paragraph_id": "p2"}]}
{"question_id": 42, "question": "数字", "answer_paragraphs": []}
{"question_id": "q3", "question": "x"}

`
	p := writeFile(t, "dev.json", content)
	r, err := OpenDev(p)
	require.NoError(t, err)
	var got []DevExample
	for r.Next() {
		got = append(got, r.Example())
	}
	le := lineErr(t, r.Err())
	assert.Equal(t, 3, le.Line)
	assert.Contains(t, le.Msg, "missing answer_paragraphs")
	r.Close()
	require.Len(t, got, 2)
	assert.Equal(t, DevExample{QuestionID: "q1", Question: "问题一", AnswerParagraphs: []AnswerParagraph{{"p1", "段落"}, {"p2", ""}}}, got[0])
	assert.Equal(t, "42", got[1].QuestionID)

	r, err = OpenDev(p, Options{SkipBad: true})
	require.NoError(t, err)
	n := 0
	for r.Next() {
		n++
	}
	require.NoError(t, r.Err())
	assert.Equal(t, 2, n)
	assert.Equal(t, 2, r.Skipped(), "line 3 and the blank line 4")
	r.Close()

	// Writer round trip.
	out := filepath.Join(t.TempDir(), "dev.json")
	w, err := CreateDev(out)
	require.NoError(t, err)
	require.NoError(t, w.Write(got[0]))
	require.NoError(t, w.Write(DevExample{QuestionID: "q9", Question: "无答案"}))
	require.NoError(t, w.Close())
	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, `{"question_id":"q1","question":"问题一","answer_paragraphs":[{"paragraph_id":"p1","paragraph_text":"段落"},{"paragraph_id":"p2"}]}`+"\n"+
		`{"question_id":"q9","question":"无答案","answer_paragraphs":[]}`+"\n", string(raw))

	// An empty question_id is refused; the error is sticky and Close leaves no file.
	bad := filepath.Join(t.TempDir(), "bad.json")
	w, err = CreateDev(bad)
	require.NoError(t, err)
	require.NoError(t, w.Write(got[0]))
	err = w.Write(DevExample{Question: "无编号"})
	require.EqualError(t, err, bad+": row 2: empty question_id")
	require.Equal(t, err, w.Write(got[0]))
	require.Equal(t, err, w.Close())
	require.NoFileExists(t, bad)
}

func TestQrelsFormats(t *testing.T) {
	p := writeFile(t, "qrels.tsv", "1\t10\n2 0 20 1\n2\t0\t21\t0\n3 0 30\n")
	r, err := OpenQrels(p)
	require.NoError(t, err)
	var got []Qrel
	for r.Next() {
		got = append(got, r.Qrel())
	}
	le := lineErr(t, r.Err())
	assert.Equal(t, 4, le.Line)
	assert.Contains(t, le.Msg, "got 3")
	r.Close()
	assert.Equal(t, []Qrel{{"1", "10", 1}, {"2", "20", 1}, {"2", "21", 0}}, got)

	out := filepath.Join(t.TempDir(), "q.tsv")
	w, err := CreateQrels(out)
	require.NoError(t, err)
	require.NoError(t, w.Write(Qrel{QID: "1", PID: "2"}))
	require.NoError(t, w.Close())
	raw, _ := os.ReadFile(out)
	assert.Equal(t, "1\t2\n", string(raw))
}

func TestIDTextAndMarcoCorpus(t *testing.T) {
	dir := t.TempDir()
	para := filepath.Join(dir, "para.txt")
	title := filepath.Join(dir, "para.title.txt")
	require.NoError(t, os.WriteFile(para, []byte("0\tfirst passage\n1\tsecond passage\n"), 0o644))
	require.NoError(t, os.WriteFile(title, []byte("1\tTitle One\n0\t-\n"), 0o644))
	p, err := LoadMarcoCorpus(para, title)
	require.NoError(t, err)
	assert.Equal(t, Passage{Row: 0, PID: "0", Title: "-", Text: "first passage"}, p.At(0))
	assert.Equal(t, Passage{Row: 1, PID: "1", Title: "Title One", Text: "second passage"}, p.At(1))

	require.NoError(t, os.WriteFile(title, []byte("0\tT\n5\tX\n"), 0o644))
	_, err = LoadMarcoCorpus(para, title)
	require.Error(t, err)
	assert.Equal(t, 2, lineErr(t, err).Line)

	// a pid titled twice is an error, as a pid given twice in para.txt is (not: the last title wins)
	require.NoError(t, os.WriteFile(title, []byte("0\tT\n1\tU\n0\tV\n"), 0o644))
	_, err = LoadMarcoCorpus(para, title)
	require.Error(t, err)
	assert.Equal(t, 3, lineErr(t, err).Line)
	assert.ErrorContains(t, err, `pid "0" has a title on line 1 already`)

	qs := filepath.Join(dir, "queries.dev.tsv")
	w, err := CreateIDText(qs)
	require.NoError(t, err)
	require.NoError(t, w.Write(IDText{"7", "what is x"}))
	require.NoError(t, w.Write(IDText{"8", ""}))
	require.NoError(t, w.Close())
	got, err := ReadIDText(qs)
	require.NoError(t, err)
	assert.Equal(t, []IDText{{"7", "what is x"}, {"8", ""}}, got)

	bad := writeFile(t, "q.tsv", "7\tok\n\tno id\n")
	_, err = ReadIDText(bad)
	require.Error(t, err)
	assert.Equal(t, 2, lineErr(t, err).Line)
}

func TestQueryFormat(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dev.q.format")
	w, err := CreateQueryFormat(p)
	require.NoError(t, err)
	require.NoError(t, w.Write("问题一"))
	require.NoError(t, w.Write("问题二"))
	require.Error(t, w.Write(" "))
	require.Error(t, w.Close(), "the failed write aborts the file")
	_, err = os.Stat(p)
	require.True(t, os.IsNotExist(err))
	require.NoError(t, os.WriteFile(p, []byte("问题一\t-\t-\t0\n问题二\t-\t-\t0\nbad\n"), 0o644))
	r, err := OpenQueryFormat(p)
	require.NoError(t, err)
	defer r.Close()
	var got []string
	for r.Next() {
		got = append(got, r.Query())
	}
	assert.Equal(t, []string{"问题一", "问题二"}, got)
	assert.Equal(t, 3, lineErr(t, r.Err()).Line)
}

func TestJointLists(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "joint.tsv")
	w, err := CreateJointLists(p, 3)
	require.NoError(t, err)
	l1 := JointList{Query: "q1", Items: []CrossExample{{Title: "t", Para: "pos", Label: 1}, {Para: "n1"}, {Para: "n2"}}}
	l2 := JointList{Query: "q2", Items: []CrossExample{{Para: "pos2", Label: 1}, {Para: "m1"}, {Para: "m2"}}}
	require.NoError(t, w.Write(l1))
	assert.Error(t, w.Write(JointList{Query: "q3", Items: l1.Items[:2]}))
	assert.Error(t, w.Close(), "a refused list discards the file")
	_, err = os.Stat(p)
	require.True(t, os.IsNotExist(err))
	w, err = CreateJointLists(p, 3)
	require.NoError(t, err)
	require.NoError(t, w.Write(l1))
	require.NoError(t, w.Write(l2))
	require.NoError(t, w.Close())

	r, err := OpenJointLists(p, 3)
	require.NoError(t, err)
	var got []JointList
	var lines []int
	for r.Next() {
		got = append(got, r.List())
		lines = append(lines, r.Line())
	}
	require.NoError(t, r.Err())
	r.Close()
	require.Len(t, got, 2)
	assert.Equal(t, []int{1, 4}, lines)
	assert.Equal(t, "q2", got[1].Query)
	assert.Equal(t, CrossExample{Query: "q2", Para: "pos2", Label: 1}, got[1].Items[0])
	assert.Equal(t, "m2", got[1].Items[2].Para)

	// Misaligned file: list 2 has a line of another query; then a good list; then a partial one.
	content := "a\t\tp\t1\na\t\tn\t0\na\t\tn\t0\n" +
		"b\t\tp\t1\nX\t\tn\t0\nb\t\tn\t0\n" +
		"c\t\tp\t1\nc\t\tn\t0\nc\t\tn\t0\n" +
		"d\t\tp\t1\n"
	p2 := writeFile(t, "j.tsv", content)
	r, err = OpenJointLists(p2, 3)
	require.NoError(t, err)
	require.True(t, r.Next())
	require.False(t, r.Next())
	le := lineErr(t, r.Err())
	assert.Equal(t, 5, le.Line)
	assert.Contains(t, le.Msg, "line 4")
	r.Close()

	r, err = OpenJointLists(p2, 3, Options{SkipBad: true})
	require.NoError(t, err)
	var qs []string
	for r.Next() {
		qs = append(qs, r.List().Query)
	}
	require.NoError(t, r.Err())
	assert.Equal(t, []string{"a", "c"}, qs, "the bad block and the partial block are skipped; c stays aligned")
	assert.Equal(t, 2, r.Skipped())
	r.Close()

	r, err = OpenJointLists(writeFile(t, "k.tsv", content[:strings.Index(content, "b\t")]+"d\t\tp\t1\n"), 3)
	require.NoError(t, err)
	require.True(t, r.Next())
	require.False(t, r.Next())
	assert.Contains(t, r.Err().Error(), "file ends inside a list: 1 of 3 lines")
	r.Close()

	_, err = OpenJointLists(p, 0)
	assert.Error(t, err)
}

// TestStreamingMemory reads a ~200k-line, ~60 MB collection and checks that
// the live heap stays a small fraction of the file: the reader does not hold
// the file.
func TestStreamingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 60 MB file")
	}
	dir := t.TempDir()
	const lines = 200_000
	para := strings.Repeat("段落文本", 25) // 300 bytes
	f, err := os.Create(filepath.Join(dir, "part-00"))
	require.NoError(t, err)
	buf := make([]byte, 0, 1<<20)
	for i := 0; i < lines; i++ {
		buf = append(buf, "-\t\t"...)
		buf = append(buf, para...)
		buf = fmt.Appendf(buf, " %d\t0\n", i)
		if len(buf) > 1<<20-512 {
			_, err = f.Write(buf)
			require.NoError(t, err)
			buf = buf[:0]
		}
	}
	_, err = f.Write(buf)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	st, err := os.Stat(filepath.Join(dir, "part-00"))
	require.NoError(t, err)
	require.Greater(t, st.Size(), int64(60e6))

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc

	r, err := OpenCollection(dir)
	require.NoError(t, err)
	defer r.Close()
	n, maxLive := 0, uint64(0)
	for r.Next() {
		if r.Passage().Row != n {
			t.Fatalf("row %d at passage %d", r.Passage().Row, n)
		}
		n++
		if n%40_000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > base {
				maxLive = max(maxLive, ms.HeapAlloc-base)
			}
		}
	}
	require.NoError(t, r.Err())
	assert.Equal(t, lines, n)
	t.Logf("file %.1f MB, live heap growth at most %.2f MB", float64(st.Size())/1e6, float64(maxLive)/1e6)
	assert.Less(t, maxLive, uint64(2<<20), "live heap while streaming must stay under 2 MiB")
}
