// Package flowtest runs corpus captures through the streamer for the tests
// of exporters. It lives apart from testcorpus because it imports the root
// package, which packages below it (capture, decode, ...) cannot.
package flowtest

import (
	"context"
	"testing"

	"github.com/nfstream-go/nfstream"
	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

// Capture returns the flows and columns of a corpus capture with every
// column group on: statistics, SPLT of 8 and (when built with nDPI) the
// application columns.
func Capture(tb testing.TB, name string) ([]*flow.Flow, []export.Column) {
	tb.Helper()
	o := nfstream.DefaultOptions()
	o.StatisticalAnalysis = true
	o.SPLTAnalysis = 8
	o.NDissections = 20
	s, err := nfstream.New([]string{testcorpus.Pcap(tb, name)}, o)
	if err != nil {
		tb.Fatal(err)
	}
	var flows []*flow.Flow
	for f, err := range s.Flows(context.Background()) {
		if err != nil {
			tb.Fatal(err)
		}
		flows = append(flows, f)
	}
	return flows, s.Columns()
}
