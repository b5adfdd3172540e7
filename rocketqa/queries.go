package rocketqa

import "github.com/rocketqa-go/rocketqa/dataset"

// WriteFiles writes the queries as a "qid \t query" file and their positives as a "qid \t pid" qrels file (what
// search, mine --queries and mine --qrels read), both atomically; it returns the number of positives.
func (lq *LabelledQueries) WriteFiles(queriesPath, qrelsPath string) (positives int, err error) {
	qw, err := dataset.CreateIDText(queriesPath)
	if err != nil {
		return 0, err
	}
	rw, err := dataset.CreateQrels(qrelsPath)
	if err != nil {
		qw.Abort()
		return 0, err
	}
	for _, q := range lq.QIDs {
		err = qw.Write(dataset.IDText{ID: q, Text: lq.Text[q]})
		for _, p := range lq.Positives[q] {
			if err == nil {
				err = rw.Write(dataset.Qrel{QID: q, PID: p, Rel: 1})
				positives++
			}
		}
		if err != nil {
			qw.Abort()
			rw.Abort()
			return 0, err
		}
	}
	if err := qw.Close(); err != nil {
		rw.Abort()
		return 0, err
	}
	return positives, rw.Close()
}
