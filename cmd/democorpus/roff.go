package main

import (
	"strings"
	"unicode/utf8"
)

// manPage is what the converter takes from one man page.
type manPage struct {
	// Names are the page's names (before "\-" in NAME, or mdoc .Nm).
	Names string
	// Summary is the NAME one-line description (after "\-", or mdoc .Nd).
	Summary string
	// Description is the text of the DESCRIPTION (描述) section, roff removed,
	// whitespace collapsed.
	Description string
}

type section int

const (
	secOther section = iota
	secName
	secDescription
	secIntro // INTRODUCTION / PURPOSE / OVERVIEW: used when a page has no DESCRIPTION
)

// Heading words. A heading belongs to a class when all its words are in the
// class's set (so "NAME MANGLING 名称修正" is not a NAME heading).
var (
	nameWords  = map[string]bool{"NAME": true, "名称": true, "名字": true, "命令名": true}
	descWords  = map[string]bool{"DESCRIPTION": true, "描述": true, "说明": true, "SUMMARY": true}
	introWords = map[string]bool{"INTRODUCTION": true, "介绍": true, "PURPOSE": true, "OVERVIEW": true, "概述": true, "用途": true, "目的": true}
	// introKeys must appear in an intro heading: "概述" alone translates SYNOPSIS.
	introKeys = map[string]bool{"INTRODUCTION": true, "介绍": true, "PURPOSE": true, "OVERVIEW": true}
)

// classifyHeading tells NAME and DESCRIPTION headings apart from the others.
// The zh_CN pages spell them many ways: `NAME`, `名称`, `"NAME(名称)"`,
// `NAME[名字]`, `"描述 (DESCRIPTION)"`, `（描述）DESCRIPTION`, `说明`, ...
func classifyHeading(h string) section {
	h = strings.Map(func(r rune) rune {
		switch r {
		case '"', '(', ')', '（', '）', '[', ']', '【', '】', ':', '：':
			return ' '
		}
		return r
	}, h)
	words := strings.Fields(strings.ToUpper(h))
	if len(words) == 0 {
		return secOther
	}
	all := func(set map[string]bool) bool {
		for _, w := range words {
			if !set[w] {
				return false
			}
		}
		return true
	}
	switch {
	case all(nameWords):
		return secName
	case all(descWords):
		return secDescription
	case all(introWords):
		for _, w := range words {
			if introKeys[w] {
				return secIntro
			}
		}
	}
	return secOther
}

// blockEnd maps requests that open a block to skip whole to the request that
// closes it: tables, verbatim code, Tcl/Tk code excerpts.
var blockEnd = map[string]string{
	"TS": "TE", // tbl tables
	"Vb": "Ve", // pod2man verbatim
	"EX": "EE", // man examples
	"CS": "CE", // Tcl/Tk code
}

// fontMacros print their arguments joined by spaces; alternating ones join
// them without spaces.
var (
	fontMacros        = map[string]bool{"B": true, "I": true, "SM": true, "SB": true, "R": true}
	alternatingMacros = map[string]bool{"BR": true, "RB": true, "BI": true, "IB": true, "IR": true, "RI": true}
	// mdocText are mdoc macros whose arguments are text.
	mdocText = map[string]bool{
		"Ar": true, "Cm": true, "Pa": true, "Ql": true, "Dq": true, "Sq": true, "Pq": true, "Op": true,
		"Em": true, "Sy": true, "Li": true, "Ev": true, "Dv": true, "Va": true, "Fa": true, "Fn": true,
		"Ic": true, "Tn": true, "Sx": true, "Ad": true, "An": true, "Er": true, "Ft": true, "Fd": true,
		"Qq": true, "Aq": true, "Bq": true, "Dl": true, "D1": true, "It": true, "No": true, "Ns": true,
		"Fl": true, "Xr": true, "Nm": true, "Ux": true, "Bx": true, "At": true, "St": true, "Pf": true,
		"Oo": true, "Oc": true, "Po": true, "Pc": true, "Do": true, "Dc": true, "Qo": true, "Qc": true,
		"Xo": true, "Xc": true, "Ta": true, "Fx": true, "Nx": true, "Ox": true, "Bsx": true,
	}
)

// parseManPage reads a man(7) or mdoc(7) page: the first NAME section and the
// DESCRIPTION section (or, if the page has none, its INTRODUCTION / PURPOSE /
// OVERVIEW section).
func parseManPage(src string) manPage {
	var p manPage
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	sec := secOther
	nameDone := false    // the first NAME section is over
	var nameRaw []string // NAME lines, escapes kept (splitNameLine needs "\-")
	var nd textBuf       // mdoc .Nd text
	inNd := false
	var desc, intro textBuf
	pageName := ""
	skipUntil := ""  // request that ends a skipped block
	braceDepth := 0  // inside a multi-line conditional \{ ... \}
	literal := false // inside mdoc .Bd -literal
	body := func() *textBuf {
		switch sec {
		case secDescription:
			return &desc
		case secIntro:
			return &intro
		}
		return nil
	}
	for _, line := range lines {
		if braceDepth > 0 {
			braceDepth += strings.Count(line, `\{`) - strings.Count(line, `\}`)
			continue
		}
		req, args, isReq := splitRequest(line)
		if skipUntil != "" {
			if isReq && req == skipUntil {
				skipUntil = ""
			}
			continue
		}
		if !isReq {
			if literal {
				continue
			}
			switch {
			case sec == secName && inNd:
				nd.add(unescape(line))
			case sec == secName:
				nameRaw = append(nameRaw, stripComment(line))
			case body() != nil:
				body().add(unescape(line))
			}
			continue
		}
		switch req {
		case "", `\"`, `\#`:
			continue // empty request or comment
		case "de", "de1", "am", "ig":
			skipUntil = "."
			if req == "ig" && len(args) > 0 {
				skipUntil = args[0]
			}
			continue
		case "if", "ie", "el", "while":
			braceDepth = max(0, strings.Count(line, `\{`)-strings.Count(line, `\}`))
			continue
		case "SH", "Sh":
			if sec == secName {
				nameDone = true
			}
			sec = classifyHeading(unescape(strings.Join(args, " ")))
			if sec == secName && nameDone {
				sec = secOther
			}
			desc.brk()
			intro.brk()
			continue
		case "Bd":
			literal = len(args) > 0 && args[0] == "-literal"
			continue
		case "Ed":
			literal = false
			continue
		}
		if end, ok := blockEnd[req]; ok {
			skipUntil = end
			continue
		}
		if literal {
			continue
		}
		if sec == secName {
			switch {
			case req == "Nd":
				inNd = true
				nd.add(unescape(strings.Join(args, " ")))
			case inNd && mdocText[req]:
				nd.add(mdocLine(req, args, pageName))
			case req == "Nm":
				if len(args) > 0 {
					if pageName == "" {
						pageName = args[0]
					}
					nameRaw = append(nameRaw, strings.Join(args, " "))
				}
			case fontMacros[req]:
				nameRaw = append(nameRaw, strings.Join(args, " "))
			case alternatingMacros[req]:
				nameRaw = append(nameRaw, strings.Join(args, ""))
			}
			continue
		}
		if req == "Nm" && pageName == "" && len(args) > 0 {
			pageName = args[0]
		}
		b := body()
		if b == nil {
			continue
		}
		switch {
		case fontMacros[req]:
			b.add(unescape(strings.Join(args, " ")))
		case alternatingMacros[req]:
			b.add(unescape(strings.Join(args, "")))
		case req == "IP" && len(args) > 0:
			b.brk()
			b.add(unescape(args[0]))
		case req == "UE" || req == "ME":
			if len(args) > 0 {
				b.glue(unescape(args[0]))
			}
		case mdocText[req]:
			b.add(mdocLine(req, args, pageName))
		default:
			// PP, LP, TP, SS, sp, br, RS, RE and the rest print nothing.
			b.brk()
		}
	}
	if inNd {
		p.Names, p.Summary = collapse(unescape(strings.Join(nameRaw, " "))), nd.String()
	} else {
		p.Names, p.Summary = splitName(nameRaw)
	}
	p.Description = desc.String()
	if p.Description == "" {
		p.Description = intro.String()
	}
	return p
}

// splitRequest recognises a control line (starting with '.' or '\”) and
// returns the request name and its arguments (comments removed, quotes
// honoured: "a b" is one argument, "" inside quotes is a quote).
func splitRequest(line string) (string, []string, bool) {
	if line == "" || (line[0] != '.' && line[0] != '\'') {
		return "", nil, false
	}
	rest := strings.TrimLeft(line[1:], " \t")
	if strings.HasPrefix(rest, `\"`) || strings.HasPrefix(rest, `\#`) {
		return `\"`, nil, true
	}
	rest = stripComment(rest)
	i := strings.IndexAny(rest, " \t")
	if i < 0 {
		return rest, nil, true
	}
	return rest[:i], splitArgs(rest[i:]), true
}

// stripComment removes a \" (or \#) comment, leaving escaped backslashes alone.
func stripComment(s string) string {
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		if s[i+1] == '"' || s[i+1] == '#' {
			return s[:i]
		}
		i++ // skip the escaped character
	}
	return s
}

func splitArgs(s string) []string {
	var args []string
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			return args
		}
		var b strings.Builder
		if s[i] == '"' {
			i++
			for i < len(s) {
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						b.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				if s[i] == '\\' && i+1 < len(s) {
					b.WriteString(s[i : i+2])
					i += 2
					continue
				}
				b.WriteByte(s[i])
				i++
			}
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' {
				if s[i] == '\\' && i+1 < len(s) {
					b.WriteString(s[i : i+2])
					i += 2
					continue
				}
				b.WriteByte(s[i])
				i++
			}
		}
		args = append(args, b.String())
	}
}

// splitName splits the lines of a NAME section, "ls, dir \- 列出目录内容",
// into names and summary. The summary runs from the first "\-" to the end of
// the section or to the next line holding a "\-" (pages that document several
// commands list one per line). Without "\-" it tries " - ", " -- " and "—"; a
// section of several lines and no separator ("named-bootconf" / "转换...")
// takes the first line as the name.
func splitName(lines []string) (string, string) {
	for i, l := range lines {
		j := strings.Index(l, `\-`)
		if j < 0 {
			continue
		}
		names := strings.Join(append(append([]string{}, lines[:i]...), l[:j]), " ")
		summary := []string{l[j+2:]}
		for _, more := range lines[i+1:] {
			if strings.Contains(more, `\-`) {
				break
			}
			summary = append(summary, more)
		}
		return collapse(unescape(names)), collapse(unescape(strings.Join(summary, " ")))
	}
	text := collapse(unescape(strings.Join(lines, " ")))
	for _, sep := range []string{" -- ", " - ", "—", " －", "－"} {
		if i := strings.Index(text, sep); i >= 0 {
			return strings.TrimSpace(text[:i]), strings.TrimSpace(text[i+len(sep):])
		}
	}
	if len(lines) > 1 {
		return collapse(unescape(lines[0])), collapse(unescape(strings.Join(lines[1:], " ")))
	}
	return text, ""
}

// mdocLine renders the text of an mdoc line: macro names dropped, Fl prefixes
// "-", Xr gives name(section), Ns glues, bare Nm is the page's name.
func mdocLine(first string, args []string, pageName string) string {
	toks := append([]string{first}, args...)
	var out []string
	glue := false
	add := func(s string) {
		if s == "" {
			return
		}
		if (glue || isClosingPunct(s)) && len(out) > 0 {
			out[len(out)-1] += s
		} else {
			out = append(out, s)
		}
		glue = false
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if !mdocText[t] {
			add(unescape(t))
			continue
		}
		switch t {
		case "Fl":
			if i+1 < len(toks) && !mdocText[toks[i+1]] && !isClosingPunct(toks[i+1]) {
				add("-" + unescape(toks[i+1]))
				i++
			} else {
				add("-")
			}
		case "Xr":
			if i+2 < len(toks) {
				add(unescape(toks[i+1]) + "(" + toks[i+2] + ")")
				i += 2
			}
		case "Nm":
			if i+1 >= len(toks) || mdocText[toks[i+1]] || isClosingPunct(toks[i+1]) {
				add(pageName)
			}
		case "Ns", "Pf":
			glue = true
		case "Ux":
			add("UNIX")
		case "Bx":
			add("BSD")
		}
	}
	return strings.Join(out, " ")
}

func isClosingPunct(s string) bool {
	switch s {
	case ".", ",", ";", ":", ")", "]", "?", "!", "。", "，", "；", "：", "）":
		return true
	}
	return false
}

// specialChars maps troff special character names (\(xx, \[xx], \C'xx') to text.
var specialChars = map[string]string{
	"bu": "•", "em": "—", "en": "–", "hy": "-", "mi": "-", "aq": "'", "dq": "\"",
	"lq": "“", "rq": "”", "oq": "‘", "cq": "’", "co": "©", "rg": "®", "tm": "™",
	"de": "°", "mu": "×", "di": "÷", "+-": "±", "<=": "≤", ">=": "≥", "!=": "≠",
	"sl": "/", "rs": `\`, "ti": "~", "ha": "^", "ga": "`", "aa": "´", "ul": "_",
	"ru": "_", "bv": "|", "br": "|", "ba": "|", "pd": "∂", "dg": "†", "**": "*",
	"*p": "π", "*b": "β", "*a": "α", "*W": "Ω", "->": "→", "<-": "←", "ua": "↑",
	"da": "↓", "sc": "§", "ps": "¶", "ct": "¢", "Po": "£", "ae": "æ", "ss": "ß",
	"fm": "′", "sd": "″", "lh": "", "rh": "", "S2": "²",
}

// stringDefs maps the predefined strings (\*(xx) that the pages use to text;
// other strings expand to nothing.
var stringDefs = map[string]string{
	"C`": "\"", "C'": "\"", "L\"": "“", "R\"": "”", "lq": "“", "rq": "”", "Lq": "“", "Rq": "”",
	"--": "—", "PI": "π", "Tm": "™", "Aq": "'", "q": "\"", "Ba": "|", "Ne": "≠", "Le": "≤",
	"Ge": "≥", "Lt": "<", "Gt": ">", "Pm": "±", "If": "∞", "Na": "NaN", "ua": "↑", "ga": "`",
	"aa": "´", "<=": "≤", ">=": "≥", "R": "®", "Tr": "", "TX": "TeX",
}

// unescape removes troff escapes from text: font and size changes, comments,
// zero-width and motion escapes; special characters become their Unicode text.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(s) {
			break // trailing backslash: line continuation
		}
		e := s[i+1]
		i += 2
		switch e {
		case '"', '#':
			return b.String() // comment to end of line
		case 'f', 'F', 'g', 'k', 'm', 'M', 'V', 'Y', 'n', '$':
			if e == 'n' && i < len(s) && (s[i] == '+' || s[i] == '-') {
				i++
			}
			_, i = escapeName(s, i)
		case 's':
			if i < len(s) && (s[i] == '+' || s[i] == '-') {
				i++
			}
			if i < len(s) && (s[i] == '(' || s[i] == '[' || s[i] == '\'') {
				_, i = escapeName(s, i)
			} else if i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
				if s[i-1] >= '1' && s[i-1] <= '3' && i < len(s) && s[i] >= '0' && s[i] <= '9' {
					i++
				}
			}
		case '*':
			var name string
			name, i = escapeName(s, i)
			b.WriteString(stringDefs[name])
		case '(':
			if i+2 <= len(s) {
				b.WriteString(specialChars[s[i:i+2]])
				i += 2
			} else {
				i = len(s)
			}
		case '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				i = len(s)
				break
			}
			b.WriteString(specialChars[s[i:i+j]])
			i += j + 1
		case 'C':
			var name string
			name, i = delimited(s, i)
			b.WriteString(specialChars[name])
		case 'h', 'v', 'w', 'l', 'L', 'o', 'b', 'D', 'X', 'Z', 'R', 'x', 'N', 'H', 'S', 'A', 'B':
			_, i = delimited(s, i)
		case 'e', 'E', '\\':
			b.WriteByte('\\')
		case '-':
			b.WriteByte('-')
		case ' ', '~', '0', 't':
			b.WriteByte(' ')
		case '.':
			b.WriteByte('.')
		case '\'':
			b.WriteString("'")
		case '`':
			b.WriteByte('`')
		case '&', ')', '%', '|', '^', 'c', ':', ',', '/', '{', '}', 'a', 'p', 'r', 'u', 'd', 'z', 'j', 'O', 'T':
			// zero-width or motion: nothing to print
		default:
			// An unknown escape prints the character itself (as groff does).
			r, n := utf8.DecodeRuneInString(s[i-1:])
			b.WriteRune(r)
			i += n - 1
		}
	}
	return b.String()
}

// escapeName reads an escape's name argument at s[i:]: "(xy", "[name]" or one
// character. It returns the name and the index after it.
func escapeName(s string, i int) (string, int) {
	if i >= len(s) {
		return "", i
	}
	switch s[i] {
	case '(':
		if i+3 <= len(s) {
			return s[i+1 : i+3], i + 3
		}
		return "", len(s)
	case '[':
		j := strings.IndexByte(s[i:], ']')
		if j < 0 {
			return "", len(s)
		}
		return s[i+1 : i+j], i + j + 1
	case '\'':
		return delimited(s, i)
	}
	_, n := utf8.DecodeRuneInString(s[i:])
	return s[i : i+n], i + n
}

// delimited reads an argument enclosed by the character at s[i] (usually ').
func delimited(s string, i int) (string, int) {
	if i >= len(s) {
		return "", i
	}
	d := s[i]
	j := strings.IndexByte(s[i+1:], d)
	if j < 0 {
		return "", len(s)
	}
	return s[i+1 : i+1+j], i + 1 + j + 1
}
