package jointtrain

import (
	"errors"
	"fmt"

	"github.com/rocketqa-go/rocketqa/dataset"
)

// ReadLists reads a joint-training list file (query \t title \t para \t label; consecutive blocks of m lines, the
// first line of each the positive). Errors name file:line: a block that is not m lines (a truncated last block, a
// query that changes inside a block), whose first line is not labelled 1 or whose other lines are not labelled 0
// (two lists of one query read as one); these usually mean that m is not the file's list size, and the message
// says so.
func ReadLists(path string, m int, opts ...dataset.Options) ([]dataset.JointList, error) {
	r, err := dataset.OpenJointLists(path, m, opts...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []dataset.JointList
	for r.Next() {
		l := r.List()
		if l.Items[0].Label != 1 {
			return nil, fmt.Errorf("%s:%d: the first line of a list must be its positive (label 1), got label %d (is %d the file's list size?)",
				path, r.Line(), l.Items[0].Label, m)
		}
		for k, it := range l.Items[1:] {
			if it.Label != 0 {
				return nil, fmt.Errorf("%s:%d: line %d of the list starting here is labelled %d, want 0: only the first line of a list is its positive (is %d the file's list size?)",
					path, r.Line(), k+2, it.Label, m)
			}
		}
		out = append(out, l)
	}
	if err := r.Err(); err != nil {
		var le *dataset.LineError
		if errors.As(err, &le) {
			return nil, fmt.Errorf("%w (lists of %d lines: is %d the file's list size?)", err, m, m)
		}
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no list of %d lines", path, m)
	}
	return out, nil
}
