package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/eval"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Hand-made stand-ins for the two packages: 12 man pages with a Chinese NAME
// and DESCRIPTION, an English-only page, a .so alias, a symlink, and one
// DocBook chapter with 4 sections.
var (
	topics = []string{"压缩文件", "复制文件", "删除目录", "显示日期", "修改权限", "查找文本",
		"比较文件", "排序行", "统计字数", "创建链接", "挂载分区", "查看进程"}
	refTitles = []string{"系统初始化", "软件包管理", "网络配置", "数据备份"}
)

func gz(t *testing.T, path, content string) {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, err := w.Write([]byte(content))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
}

func plain(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func fakePackages(t *testing.T) string {
	root := t.TempDir()
	man := filepath.Join(root, "usr", "share", "man", "zh_CN", "man1")
	for i, topic := range topics {
		gz(t, filepath.Join(man, fmt.Sprintf("cmd%02d.1.gz", i)), fmt.Sprintf(`.TH CMD%02d 1
.SH NAME
cmd%02d \- %s的命令
.SH 描述
.B cmd%02d
用来%s。这个程序读取参数并完成第 %d 项任务，它会在标准输出上报告结果，出错时返回非零的退出状态。
`, i, i, topic, i, topic, i))
	}
	gz(t, filepath.Join(man, "english.1.gz"), ".SH NAME\nenglish \\- an English summary\n.SH 描述\n这一段中文描述足够长，可以作为一个干扰段落放进文档集合里，但它的查询是英文的所以不能成为训练样本。\n")
	gz(t, filepath.Join(man, "alias.1.gz"), ".so man1/cmd00.1\n")
	require.NoError(t, os.Symlink("cmd01.1.gz", filepath.Join(man, "link.1.gz")))

	var html strings.Builder
	html.WriteString(`<?xml version="1.0" encoding="UTF-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>x</title></head><body><div class="chapter">`)
	for i, title := range refTitles {
		fmt.Fprintf(&html, `<div class="section"><div class="titlepage"><div><div><h2 class="title"><a id="s%d"/>1.%d. %s</h2></div></div></div>
<p>本节介绍%s的基本方法和常见问题，第 %d 节。读者应当先阅读前面的章节，再按照这里的步骤逐一操作并检查结果。</p></div>`, i, i+1, title, title, i+1)
	}
	html.WriteString(`</div></body></html>`)
	plain(t, filepath.Join(root, "usr", "share", "debian-reference", "ch01.zh-cn.html"), html.String())

	doc := filepath.Join(root, "usr", "share", "doc")
	plain(t, filepath.Join(doc, "manpages-zh", "copyright"), "Format: x\n\nFiles: *\nCopyright: someone\nLicense: GFDL-1.2+\n")
	gz(t, filepath.Join(doc, "manpages-zh", "changelog.Debian.gz"), "manpages-zh (1.6.4.0-1) unstable; urgency=medium\n")
	plain(t, filepath.Join(doc, "debian-reference-zh-cn", "copyright"), "Format: x\n\nFiles: *\nCopyright: someone\nLicense: GPL-2+\n")
	gz(t, filepath.Join(doc, "debian-reference-zh-cn", "changelog.gz"), "debian-reference (2.100) unstable; urgency=medium\n")
	return root
}

func TestBuildEndToEnd(t *testing.T) {
	src := fakePackages(t)
	out := filepath.Join(t.TempDir(), "corpus")
	cfg := config{Src: src, Out: out, Seed: 1, DevPercent: 20, MaxRunes: 400, Parts: 2}
	st, err := build(cfg)
	require.NoError(t, err)

	assert.Equal(t, 14, st.Files[srcMan], "12 pages, english, alias (the symlink is not read)")
	assert.Equal(t, len(topics), st.Kept[srcMan])
	assert.Equal(t, len(refTitles), st.Kept[srcRef])
	assert.Equal(t, 1, st.Dropped[srcMan]["pages that only include another (.so)"])
	assert.Equal(t, 1, st.Dropped[srcMan]["with a missing, non-Chinese or over-long query"])
	assert.Equal(t, 1, st.Distractor, "the English-summary page's passage")
	n := len(topics) + len(refTitles)
	assert.Equal(t, n, st.Train+st.Dev)
	assert.Greater(t, st.Dev, 0)
	assert.Greater(t, st.Train, 0)
	assert.Equal(t, n+1, st.Collection)

	// The collection and its map read back with the dataset package.
	coll, err := dataset.LoadDuReaderCollection(filepath.Join(out, "passage-collection"))
	require.NoError(t, err)
	assert.Equal(t, n+1, coll.Len())
	parts, err := dataset.CollectionParts(filepath.Join(out, "passage-collection"))
	require.NoError(t, err)
	assert.Len(t, parts, 2)
	p0, ok := coll.Get(md5hex("p\x00" + "cmd00 用来压缩文件。这个程序读取参数并完成第 0 项任务，它会在标准输出上报告结果，出错时返回非零的退出状态。"))
	require.True(t, ok, "passage text is the DESCRIPTION with roff removed")
	assert.Equal(t, 0, p0.Row)

	// Training files: every negative differs from its positive and is in the collection.
	dr, err := dataset.OpenDualTrain(filepath.Join(out, "train", "dual.train.tsv"))
	require.NoError(t, err)
	lines := 0
	for dr.Next() {
		ex := dr.Example()
		lines++
		assert.NotEqual(t, ex.PosPara, ex.NegPara)
		_, ok := coll.Get(md5hex("p\x00" + ex.NegPara))
		assert.True(t, ok)
		assert.Empty(t, ex.PosTitle)
	}
	require.NoError(t, dr.Err())
	dr.Close()
	assert.Equal(t, st.Train, lines)
	cr, err := dataset.OpenCrossTrain(filepath.Join(out, "train", "cross.train.tsv"))
	require.NoError(t, err)
	labels := map[int]int{}
	for cr.Next() {
		labels[cr.Example().Label]++
	}
	require.NoError(t, cr.Err())
	cr.Close()
	assert.Equal(t, map[int]int{0: st.Train, 1: st.Train}, labels)

	// Dev: q2qid and dev.json agree; a run that puts each answer first scores 1.
	q2qid, err := dataset.ReadQ2QID(filepath.Join(out, "dev", "q2qid.dev.json"))
	require.NoError(t, err)
	assert.Len(t, q2qid, st.Dev)
	ref, err := eval.LoadDuReaderReference(filepath.Join(out, "dev", "dev.json"))
	require.NoError(t, err)
	run := eval.Run{}
	for _, q := range q2qid {
		rel, ok := ref[q.QID]
		require.True(t, ok, q.Query)
		for pid := range rel {
			_, ok := coll.Get(pid)
			require.True(t, ok, "dev answer %s is in the collection", pid)
			run[q.QID] = append(run[q.QID], pid)
		}
	}
	m, err := eval.DuReader(run, ref)
	require.NoError(t, err)
	assert.Equal(t, 1.0, m.MRR10)

	readme, err := os.ReadFile(filepath.Join(out, "README"))
	require.NoError(t, err)
	assert.Contains(t, string(readme), "GFDL-1.2+ (Files: *)")
	assert.Contains(t, string(readme), "GPL-2+ (Files: *)")
	assert.Contains(t, string(readme), "manpages-zh 1.6.4.0-1")
	assert.Contains(t, string(readme), fmt.Sprintf("%d kept", len(topics)))
	_, err = os.Stat(filepath.Join(out, ".done"))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(out, "licenses", "manpages-zh.copyright"))
	require.NoError(t, err)

	// Same seed, same bytes; another seed, another split.
	out2 := filepath.Join(t.TempDir(), "corpus")
	cfg.Out = out2
	_, err = build(cfg)
	require.NoError(t, err)
	for _, f := range []string{"train/dual.train.tsv", "train/cross.train.tsv", "dev/dev.json", "dev/q2qid.dev.json",
		"passage-collection/part-00", "passage-collection/passage2id.map.json", "README"} {
		a, err := os.ReadFile(filepath.Join(out, f))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(out2, f))
		require.NoError(t, err)
		assert.Equal(t, a, b, f)
	}
	cfg.Out, cfg.Seed = filepath.Join(t.TempDir(), "corpus"), 7
	_, err = build(cfg)
	require.NoError(t, err)
	a, _ := os.ReadFile(filepath.Join(out, "dev", "q2qid.dev.json"))
	b, _ := os.ReadFile(filepath.Join(cfg.Out, "dev", "q2qid.dev.json"))
	assert.NotEqual(t, a, b)
}

func TestBuildRejectsBadInput(t *testing.T) {
	_, err := build(config{Src: t.TempDir(), Out: t.TempDir(), DevPercent: 20, MaxRunes: 400, Parts: 4})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no man page directories")
	_, err = build(config{Src: t.TempDir(), Out: t.TempDir(), DevPercent: 0, MaxRunes: 400, Parts: 4})
	assert.Error(t, err)
}
