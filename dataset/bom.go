package dataset

import (
	"bufio"
	"bytes"
	"io"
)

// BOM is the UTF-8 byte order mark that some editors (Notepad, Excel's "UTF-8 CSV") put at the start of a
// text file.
const BOM = "\xef\xbb\xbf"

// The one BOM rule of every text, TSV and JSON reader of this module: a UTF-8 BOM at the very start of a file is
// not data and is dropped; a BOM anywhere else is kept (it is part of a field). Readers use SkipBOM on the stream,
// or StripBOM on a file read whole.

// StripBOM returns b without a leading UTF-8 BOM.
func StripBOM(b []byte) []byte { return bytes.TrimPrefix(b, []byte(BOM)) }

// SkipBOM returns a buffered reader over r positioned after a leading UTF-8 BOM, if r starts with one. A
// *bufio.Reader of at least 16 bytes' buffer is used as it is (then the BOM must not have been read yet).
func SkipBOM(r io.Reader) *bufio.Reader {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < 16 {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	if b, err := br.Peek(len(BOM)); err == nil && string(b) == BOM {
		br.Discard(len(BOM))
	}
	return br
}
