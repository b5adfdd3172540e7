package main

import (
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strings"
)

// htmlSection is one titled section of a DocBook HTML page: its title and the
// text of its own body (nested sections excluded).
type htmlSection struct {
	Title string
	Body  string
}

// skippedClasses are div classes whose content is not body text: tables of
// contents, navigation, data tables, figures and footnote lists.
var skippedClasses = map[string]bool{
	"toc": true, "navheader": true, "navfooter": true, "table": true, "informaltable": true,
	"figure": true, "footnotes": true, "list-of-tables": true, "list-of-figures": true,
}

// skippedElements hold no body text (code listings included).
var skippedElements = map[string]bool{
	"head": true, "script": true, "style": true, "pre": true, "th": true, "img": true,
}

// blockElements end a run of text.
var blockElements = map[string]bool{
	"p": true, "div": true, "li": true, "dt": true, "dd": true, "br": true, "tr": true, "td": true,
	"ul": true, "ol": true, "dl": true, "table": true, "blockquote": true, "h1": true, "h2": true,
	"h3": true, "h4": true, "h5": true, "h6": true,
}

// parseDocBookHTML splits a DocBook-generated (X)HTML page into sections. A
// section starts at a heading (h1-h6) inside a div of class "titlepage" (how
// DocBook marks chapter and section titles; admonition and table titles are
// not section titles) and runs to the next such heading.
func parseDocBookHTML(r io.Reader) ([]htmlSection, error) {
	dec := xml.NewDecoder(r)
	dec.Strict = false
	dec.AutoClose = xml.HTMLAutoClose
	dec.Entity = xml.HTMLEntity

	type frame struct {
		name      string
		titlepage bool
	}
	var stack []frame
	skip := 0 // depth inside a skipped element
	inTitle := 0
	var title strings.Builder
	var out []htmlSection
	var cur *htmlSection
	var body textBuf
	flush := func() {
		if cur != nil {
			cur.Body = body.String()
			out = append(out, *cur)
		}
		body = textBuf{}
	}
	inTitlepage := func() bool {
		for _, f := range stack {
			if f.titlepage {
				return true
			}
		}
		return false
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := strings.ToLower(t.Name.Local)
			class := ""
			for _, a := range t.Attr {
				if strings.EqualFold(a.Name.Local, "class") {
					class = a.Value
				}
			}
			stack = append(stack, frame{name: name, titlepage: name == "div" && hasClass(class, "titlepage")})
			if skip > 0 {
				skip++
				continue
			}
			if skippedElements[name] || (name == "div" && anyClass(class, skippedClasses)) {
				skip = 1
				continue
			}
			if isHeading(name) && inTitlepage() {
				inTitle++
				if inTitle == 1 {
					title.Reset()
				}
				continue
			}
			if blockElements[name] {
				body.brk()
			}
		case xml.EndElement:
			name := strings.ToLower(t.Name.Local)
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			if skip > 0 {
				skip--
				continue
			}
			if isHeading(name) && inTitle > 0 {
				inTitle--
				if inTitle == 0 {
					flush()
					cur = &htmlSection{Title: collapse(title.String())}
				}
				continue
			}
			if blockElements[name] {
				body.brk()
			}
		case xml.CharData:
			if skip > 0 {
				continue
			}
			if inTitle > 0 {
				title.Write(t)
				continue
			}
			if cur != nil {
				body.b.Write(t)
			}
		}
	}
	flush()
	return out, nil
}

func isHeading(name string) bool {
	return len(name) == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6'
}

func hasClass(classes, want string) bool {
	for _, c := range strings.Fields(classes) {
		if c == want {
			return true
		}
	}
	return false
}

func anyClass(classes string, set map[string]bool) bool {
	for _, c := range strings.Fields(classes) {
		if set[c] {
			return true
		}
	}
	return false
}

// titleNumber matches the numbering DocBook puts before titles:
// "第 3 章 ", "附录 A. ", "3.1.2. ", "A.1. ".
var titleNumber = regexp.MustCompile(`^(第\s*[0-9]+\s*章\s*|附录\s*[A-Z]\.?\s*|[0-9A-Z]+(\.[0-9]+)*\.\s*)`)

// cleanTitle removes the section number from a title.
func cleanTitle(t string) string {
	return strings.TrimSpace(titleNumber.ReplaceAllString(collapse(t), ""))
}
