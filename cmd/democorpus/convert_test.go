package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const manPageRoff = `.\" Copyright notice, a comment
.de XX
.SH NAME
this macro body must be ignored
..
.ie n \{\
.ds L" ""
.ds R" ""
'br\}
.el\{\
.ds L"
'br\}
.TH LS 1 2022年9月 "GNU coreutils 9.1" 用户命令
.SH 名称
ls \- 列出目录内容
.SH 概述
\fBls\fP [\fI\,选项\/\fP]... [\fI\,文件列表\/\fP]...
.SH 描述
.\" Add any additional description here
.PP
列出指定“文件”（默认为当前目录）的信息。
如果没有指定 \fB\-cftuvSUX\fP 中任何一个，也没有指定
.BR \-\-sort ,
则按字母排序项目。
.TS
tab(:);
l l.
表格:不要
.TE
.IP "\(bu" 2
使用 \*(L"ls \-l\*(R" 查看详细信息 \(em 很有用。 \" trailing comment
.SS 子标题不要
.B 选项
\&.bashrc 文件\c
之后
.SH 作者
不要这一段。
`

func TestParseManPage(t *testing.T) {
	p := parseManPage(manPageRoff)
	assert.Equal(t, "ls", p.Names)
	assert.Equal(t, "列出目录内容", p.Summary)
	assert.Equal(t, `列出指定“文件”（默认为当前目录）的信息。如果没有指定 -cftuvSUX 中任何一个，也没有指定 --sort, 则按字母排序项目。 • 使用“ls -l”查看详细信息 — 很有用。选项 .bashrc 文件之后`, p.Description)
}

const mdocPage = `.Dd August 15, 1999
.Dt FTP 1
.Os BSD 4.2
.Sh NAME
.Nm ftp
.Nd
.Tn Internet
文件传输程序
(file transfer program)
.Sh SYNOPSIS
.Nm ftp
.Op Fl pinegvd
.Sh DESCRIPTION 描述
用户通过
.Nm
这个程序来使用标准文件传输协议。
.Bd -literal -offset indent
literal block must be skipped
.Ed
选项
.Fl v
显示详细信息，参见
.Xr netrc 5 .
`

func TestParseMdocPage(t *testing.T) {
	p := parseManPage(mdocPage)
	assert.Equal(t, "ftp", p.Names)
	assert.Equal(t, "Internet 文件传输程序 (file transfer program)", p.Summary)
	assert.Equal(t, "用户通过 ftp 这个程序来使用标准文件传输协议。选项 -v 显示详细信息，参见 netrc(5).", p.Description)
}

func TestParseManPageHeadings(t *testing.T) {
	// Several commands in NAME: the summary is the first one's. A later
	// "NAME MANGLING" heading and a second NAME are not the NAME section.
	p := parseManPage(`.SH NAME[名字]
hostname \- 显示或设置系统的主机名
domainname \- 显示或设置系统的NIS/YP域名
.SH "描述 DESCRIPTION"
第一段。
.SH "NAME MANGLING 名称修正"
不要。
.SH NAME
也不要。
`)
	assert.Equal(t, "hostname", p.Names)
	assert.Equal(t, "显示或设置系统的主机名", p.Summary)
	assert.Equal(t, "第一段。", p.Description)

	// No DESCRIPTION: the INTRODUCTION section stands in; NAME without "\-".
	p = parseManPage(`.SH NAME
.B named-bootconf
转换名字服务器的配置文件
.SH 概述
不要：概述 alone means SYNOPSIS.
.SH "介绍 INTRODUCTION"
介绍的文字。
`)
	assert.Equal(t, "named-bootconf", p.Names)
	assert.Equal(t, "转换名字服务器的配置文件", p.Summary)
	assert.Equal(t, "介绍的文字。", p.Description)

	assert.Equal(t, secName, classifyHeading(`"NAME(名称)"`))
	assert.Equal(t, secName, classifyHeading("命令名"))
	assert.Equal(t, secDescription, classifyHeading(`（描述）DESCRIPTION`))
	assert.Equal(t, secDescription, classifyHeading(`说明`))
	assert.Equal(t, secOther, classifyHeading(`"段描述 SECTION DESCRIPTIONS"`))
	assert.Equal(t, secOther, classifyHeading(`概述`))
	assert.Equal(t, secIntro, classifyHeading(`"OVERVIEW 概述"`))
}

func TestUnescape(t *testing.T) {
	cases := map[string]string{
		`\fBbold\fR and \f(CWcode\fP`:   "bold and code",
		`\s-1SMALL\s0 \s+2big\s0`:       "SMALL big",
		`a\-b \e \\ \(lqq\(rq \[em]`:    `a-b \ \ “q” —`,
		`x\h'|2n'y\v'-1'z\w'abc'w`:      "xyzw",
		`\*(L"quote\*(R" \*(XX gone`:    "“quote”  gone",
		`zero\&width\|and\^more\%ok`:    "zerowidthandmoreok",
		`space\ and\~tilde`:             "space and tilde",
		`text \" comment`:               "text ",
		`\n(.lreg \n+[long]reg`:         "reg reg",
		`\C'em' and \C'xx'.`:            "— and .",
		`trailing backslash\`:           "trailing backslash",
		`unknown \qescape`:              "unknown qescape",
		`中文\fI斜体\fP结束`:                  "中文斜体结束",
		`\(bu item \(co \(+- \(<= \(>=`: "• item © ± ≤ ≥",
		"\\*(C`pod\\*(C'":               `"pod"`,
	}
	for in, want := range cases {
		assert.Equal(t, want, unescape(in), in)
	}
}

func TestSplitRequest(t *testing.T) {
	req, args, ok := splitRequest(`.IP "a ""quoted"" arg" 4 \" comment`)
	require.True(t, ok)
	assert.Equal(t, "IP", req)
	assert.Equal(t, []string{`a "quoted" arg`, "4"}, args)
	_, _, ok = splitRequest("plain text")
	assert.False(t, ok)
	req, _, ok = splitRequest(`'\" comment line`)
	assert.True(t, ok)
	assert.Equal(t, `\"`, req)
}

const docbookHTML = `<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
  <head><title>第 3 章 系统初始化</title></head>
  <body>
    <div class="navheader"><table><tr><th>第 3 章 系统初始化</th></tr></table></div>
    <div class="chapter">
      <div class="titlepage"><div><div><h1 class="title"><a id="x"/>第 3 章 系统初始化</h1></div></div></div>
      <div class="toc"><p><strong>目录</strong></p><dl><dt><a href="#a">3.1. 启动过程概述</a></dt></dl></div>
      <p>作为系统管理员，了解 Debian 系统的启动和配置过程是明智的。</p>
      <div class="section">
        <div class="titlepage"><div><div><h2 class="title"><a id="a"/>3.1. 启动过程概述</h2></div></div></div>
        <p>计算机系统在开机后
会经历几个阶段 &amp; <code class="literal">fdisk</code>(8) 命令。</p>
        <pre class="screen">$ code listing must be skipped</pre>
        <div class="table"><p class="title"><strong>表 3.1. 列表</strong></p><table><tr><td>表格不要</td></tr></table></div>
        <div class="note"><table><tr><th align="left">注意</th></tr><tr><td><p>注释的文字。</p></td></tr></table></div>
        <div class="section">
          <div class="titlepage"><div><div><h3 class="title"><a id="b"/>3.1.1. 第一阶段：UEFI</h3></div></div></div>
          <ul><li><p>第一项</p></li><li><p>第二项 &lt;tag&gt;</p></li></ul>
        </div>
      </div>
    </div>
    <div class="navfooter"><p>页脚不要</p></div>
  </body>
</html>
`

func TestParseDocBookHTML(t *testing.T) {
	secs, err := parseDocBookHTML(strings.NewReader(docbookHTML))
	require.NoError(t, err)
	require.Len(t, secs, 3)
	assert.Equal(t, htmlSection{Title: "第 3 章系统初始化", Body: "作为系统管理员，了解 Debian 系统的启动和配置过程是明智的。"}, secs[0])
	assert.Equal(t, htmlSection{Title: "3.1. 启动过程概述", Body: "计算机系统在开机后会经历几个阶段 & fdisk(8) 命令。注释的文字。"}, secs[1])
	assert.Equal(t, htmlSection{Title: "3.1.1. 第一阶段：UEFI", Body: "第一项第二项 <tag>"}, secs[2])

	assert.Equal(t, "系统初始化", cleanTitle(secs[0].Title))
	assert.Equal(t, "启动过程概述", cleanTitle(secs[1].Title))
	assert.Equal(t, "第一阶段：UEFI", cleanTitle(secs[2].Title))
	assert.Equal(t, "Debian 参考手册", cleanTitle("附录 A. Debian 参考手册"))
	assert.Equal(t, "术语", cleanTitle("A.1. 术语"))
}

func TestTextHelpers(t *testing.T) {
	assert.Equal(t, "中文连在一起 and English words 混合 text", collapse("  中文\n连在 一起 and\tEnglish  words 混合 text \n"))
	assert.Equal(t, "第一句。第二句。", cut("第一句。第二句。第三句很长很长", 10))
	assert.Equal(t, "abcdefghij", cut("abcdefghijklmnop", 10), "no sentence end in the second half: hard cut")
	assert.Equal(t, "short", cut("short", 10))
	assert.InDelta(t, 0.5, hanRatio("中文ab"), 1e-12)
	assert.Equal(t, 2, hanCount("a中b文。"))
}

func TestLicenseNames(t *testing.T) {
	c := `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: x

Files: *
Copyright: someone
License: GFDL-1.2+

Files:
 src/man1/kill.1
Copyright: other
License: GPL-2.0

License: GPL-2.0
 full text
`
	assert.Equal(t, []string{"GFDL-1.2+ (Files: *)", "GPL-2.0 (Files: src/man1/kill.1)"}, licenseNames(c))
}
