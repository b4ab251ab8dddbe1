package nfstream_test

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/nfstream-go/nfstream"
	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

// csvWith runs o over paths on one meter with nDPI on the meter's goroutine
// (async false) or on one of its own, and returns the CSV and counters.
func csvWith(t *testing.T, paths []string, o nfstream.Options, async bool) ([]byte, nfstream.Counters) {
	t.Helper()
	s, err := nfstream.New(paths, o)
	if err != nil {
		t.Fatal(err)
	}
	if async {
		nfstream.AsyncDPI(s)
	} else {
		nfstream.SyncDPI(s)
	}
	var buf bytes.Buffer
	w := export.NewCSV(&buf, s.Columns())
	for f, err := range s.Flows(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), s.Counters()
}

// TestAsyncDPICorpus checks that running nDPI on a goroutine of its own
// changes nothing: every capture of the corpus gives the same CSV bytes
// (all columns, application labels included) and counters as nDPI called
// on the meter's goroutine, with default options, with statistics and
// SPLT, with short idle timeouts (idle flows' nDPI state reaped at scans),
// and with a small flow cap (evictions).
func TestAsyncDPICorpus(t *testing.T) {
	all := corpus(t)
	if raceEnabled || testing.Short() {
		var some []string
		for i, p := range all {
			if i%4 == 0 {
				some = append(some, p)
			}
		}
		all = some
	}
	type setup struct {
		name string
		opt  func(*nfstream.Options)
	}
	setups := []setup{
		{"defaults", func(*nfstream.Options) {}},
		{"statistics+splt", func(o *nfstream.Options) { o.StatisticalAnalysis, o.SPLTAnalysis = true, 10 }},
		{"idle 1s, active 5s", func(o *nfstream.Options) { o.IdleTimeout, o.ActiveTimeout = time.Second, 5*time.Second }},
		{"max_tracked_flows 5, n_dissections 3", func(o *nfstream.Options) { o.MaxTrackedFlows, o.NDissections = 5, 3 }},
	}
	flows := 0
	for _, st := range setups {
		for i, path := range all {
			if st.name != "defaults" && i%2 == 1 {
				continue
			}
			o := nfstream.DefaultOptions()
			o.NMeters = 1
			st.opt(&o)
			want, wc := csvWith(t, []string{path}, o, false)
			if !bytes.Contains(want[:bytes.IndexByte(want, '\n')], []byte("application_name")) {
				t.Skip("nDPI is not compiled in")
			}
			got, gc := csvWith(t, []string{path}, o, true)
			if gc != wc {
				t.Errorf("%s, %s: counters %+v, synchronous %+v", st.name, filepath.Base(path), gc, wc)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s, %s: CSV differs from the synchronous meter's", st.name, filepath.Base(path))
			}
			flows += int(wc.Flows)
		}
	}
	t.Logf("%d captures, %d flows compared", len(all), flows)
	if flows < 100 {
		t.Errorf("only %d flows compared", flows)
	}
}

// TestAsyncDPIBreak stops reading after a few flows: the nDPI goroutine
// must end with the iteration (no goroutine left behind), and a new
// iteration gives the same first flows.
func TestAsyncDPIBreak(t *testing.T) {
	path := testcorpus.Pcap(t, "google_ssl.pcap")
	o := nfstream.DefaultOptions()
	o.NMeters = 1
	s, err := nfstream.New([]string{path}, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(s.Columns(), func(c export.Column) bool { return c.Name == "application_name" }) {
		t.Skip("nDPI is not compiled in")
	}
	nfstream.AsyncDPI(s)
	before := runtime.NumGoroutine()
	var names []string
	for range 2 {
		names = names[:0]
		for f, err := range s.Flows(context.Background()) {
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, f.DPI.Info.ApplicationName)
			if len(names) == 1 {
				break
			}
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after the iterations, %d before", n, before)
	}
	if len(names) != 1 || names[0] != "TLS.Google" {
		t.Errorf("first flow's application %q, want TLS.Google", names)
	}
}
