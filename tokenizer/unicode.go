package tokenizer

// Per-rune properties, as HuggingFace tokenizers 0.23.2 sees them. HF's Rust crates carry their own Unicode
// data of different ages (unicode_categories for Cc/Cf/Co/Mn/P*, unicode-normalization-alignments for NFD and
// combining classes, Rust's std for lowercasing), so neither Go's unicode package (Unicode 15, no NFD) nor any
// single Unicode version reproduces it. The tables in unicode_tables.go are generated from a per-code-point
// probe of HF itself (testdata/gen_unicode.mjs, testdata/gen_tables.go) and re-checked code point by code
// point in TestUnicodeMatchesHF. Keep the bit values in sync with testdata/gen_tables.go.
const (
	propRemove uint16 = 1 << iota // clean_text drops it (NUL, U+FFFD, Cc except \t\n\r, Cf, Co)
	propSpace                     // clean_text turns it into ' ' (\t, \n, \r and Unicode white space)
	propCJK                       // handle_chinese_chars surrounds it with spaces
	propWS                        // BertPreTokenizer splits on it (Rust char::is_whitespace)
	propPunct                     // BertPreTokenizer isolates it (ASCII punctuation or Unicode P*)
	propMn                        // strip_accents drops it (non-spacing mark, no decomposition)
	propCCC                       // non-zero canonical combining class (takes part in canonical ordering)
	propNFD                       // has a canonical decomposition
	propLower                     // lowercasing changes it
)

type propRange struct {
	lo, hi rune
	props  uint16
}

// bmpProps caches the properties of the Basic Multilingual Plane; others are found in propRanges.
var bmpProps [0x10000]uint16

func init() {
	for _, r := range propRanges {
		if r.lo > 0xFFFF {
			break
		}
		hi := r.hi
		if hi > 0xFFFF {
			hi = 0xFFFF
		}
		for c := r.lo; c <= hi; c++ {
			bmpProps[c] = r.props
		}
	}
}

// props returns the prop* flags of r.
func props(r rune) uint16 {
	if uint32(r) < 0x10000 {
		return bmpProps[r]
	}
	lo, hi := 0, len(propRanges)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if propRanges[m].hi < r {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(propRanges) && propRanges[lo].lo <= r {
		return propRanges[lo].props
	}
	return 0
}

// searchRunes returns the index of r in the sorted keys, or -1.
func searchRunes(keys []rune, r rune) int {
	lo, hi := 0, len(keys)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if keys[m] < r {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(keys) && keys[lo] == r {
		return lo
	}
	return -1
}

const (
	hangulBase  = 0xAC00
	hangulLast  = 0xD7A3
	hangulLBase = 0x1100
	hangulVBase = 0x1161
	hangulTBase = 0x11A7
	hangulTN    = 28
	hangulNN    = 21 * 28
)

// decompose returns the canonical decomposition of r (which has propNFD), using buf for Hangul syllables.
func decompose(r rune, buf *[3]rune) []rune {
	if r >= hangulBase && r <= hangulLast {
		s := r - hangulBase
		buf[0] = hangulLBase + s/hangulNN
		buf[1] = hangulVBase + (s%hangulNN)/hangulTN
		if t := s % hangulTN; t != 0 {
			buf[2] = hangulTBase + t
			return buf[:3]
		}
		return buf[:2]
	}
	if i := searchRunes(nfd1Keys[:], r); i >= 0 {
		return nfd1Vals[i : i+1]
	}
	if i := searchRunes(nfdNKeys[:], r); i >= 0 {
		return nfdNVals[nfdNOffs[i]:nfdNOffs[i+1]]
	}
	buf[0] = r
	return buf[:1]
}

// lowerOf returns the lowercase mapping of r (which has propLower).
func lowerOf(r rune, buf *[3]rune) []rune {
	if i := searchRunes(lower1Keys[:], r); i >= 0 {
		return lower1Vals[i : i+1]
	}
	if i := searchRunes(lowerNKeys[:], r); i >= 0 {
		return lowerNVals[lowerNOffs[i]:lowerNOffs[i+1]]
	}
	buf[0] = r
	return buf[:1]
}

// orderRank returns the canonical-ordering rank of a mark that survives accent stripping.
func orderRank(r rune) uint8 {
	if i := searchRunes(orderKeys[:], r); i >= 0 {
		return orderRanks[i]
	}
	return 0
}
