package nfstream_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nfstream-go/nfstream"
	"github.com/nfstream-go/nfstream/dpi/ndpi"
	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

// corpus returns the paths of every capture of the shared corpus.
func corpus(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(testcorpus.Root(t), "testdata", "nfstream", "pcaps", "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no captures in the corpus: %v", err)
	}
	return paths
}

// run is one iteration's output: the CSV bytes, the counters and the
// damage reports.
type run struct {
	csv     []byte
	c       nfstream.Counters
	damage  []string
	err     error
	meters  int
	columns []export.Column
}

func runCSV(t *testing.T, paths []string, o nfstream.Options, forceSharded bool) run {
	t.Helper()
	s, err := nfstream.New(paths, o)
	if err != nil {
		t.Fatal(err)
	}
	if forceSharded {
		nfstream.Sharded(s)
	}
	var buf bytes.Buffer
	w := export.NewCSV(&buf, s.Columns())
	r := run{meters: s.Meters(), columns: s.Columns()}
	for f, err := range s.Flows(context.Background()) {
		if err != nil {
			r.err = err
			break
		}
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r.csv, r.c = buf.Bytes(), s.Counters()
	for _, d := range s.Damage() {
		r.damage = append(r.damage, d.Error())
	}
	return r
}

// cutter is a FlowSlicer-like test plugin: it ends flows at limit packets
// (at creation when limit is 1) and counts each flow's packets in a udps
// value. It implements flow.Cloner.
type cutter struct {
	flow.BasePlugin
	limit uint64
}

func (c *cutter) Clone() flow.Plugin { return &cutter{limit: c.limit} }

func (c *cutter) OnInit(_ *flow.Packet, f *flow.Flow) {
	f.UDPS.Set("seen", flow.Int(1))
	if c.limit == 1 {
		f.ExpirationID = flow.ExpirationCustom
	}
}

func (c *cutter) OnUpdate(_ *flow.Packet, f *flow.Flow) {
	v, _ := f.UDPS.Get("seen")
	f.UDPS.Set("seen", flow.Int(v.Int+1))
	if f.BidirectionalPackets == c.limit {
		f.ExpirationID = flow.ExpirationCustom
	}
}

// noClone is a plugin that cannot be cloned.
type noClone struct{ flow.BasePlugin }

// shardSetups are the option sets the sharded pipeline is checked with:
// every column group, and settings that make scans and expiries frequent.
func shardSetups() []struct {
	name string
	o    nfstream.Options
} {
	base := noDPI()
	base.StatisticalAnalysis = true
	base.SPLTAnalysis = 8
	set := func(f func(*nfstream.Options)) nfstream.Options { o := base; f(&o); return o }
	return []struct {
		name string
		o    nfstream.Options
	}{
		{"defaults", base},
		{"idle1s", set(func(o *nfstream.Options) { o.IdleTimeout = time.Second })},
		{"idle0", set(func(o *nfstream.Options) { o.IdleTimeout = 0 })},
		{"active0", set(func(o *nfstream.Options) { o.ActiveTimeout = 0 })},
		{"idle1s-active2s", set(func(o *nfstream.Options) { o.IdleTimeout, o.ActiveTimeout = time.Second, 2*time.Second })},
		{"max7", set(func(o *nfstream.Options) { o.MaxNFlows = 7; o.IdleTimeout = time.Second })},
		{"cutter3", set(func(o *nfstream.Options) { o.Plugins = []flow.Plugin{&cutter{limit: 3}}; o.IdleTimeout = time.Second })},
		{"cutter1", set(func(o *nfstream.Options) { o.Plugins = []flow.Plugin{&cutter{limit: 1}} })},
		{"bpf", set(func(o *nfstream.Options) { o.BPFFilter = "tcp or icmp"; o.IdleTimeout = time.Second })},
		{"bpf-max3", set(func(o *nfstream.Options) { o.BPFFilter = "udp"; o.MaxNFlows = 3 })},
	}
}

// TestShardedCorpus is the promise of n_meters: for every capture of the
// corpus and several option sets, 2, 3 and 4 meters give byte for byte the
// CSV of one meter (every column, the same order, the same ids), and the
// same counters.
func TestShardedCorpus(t *testing.T) {
	paths := corpus(t)
	meters := []int{2, 3, 4}
	if raceEnabled || testing.Short() {
		meters = []int{3} // the race detector makes the corpus slow: one count
	}
	for _, setup := range shardSetups() {
		t.Run(setup.name, func(t *testing.T) {
			flows := 0
			for _, path := range paths {
				o := setup.o
				o.NMeters = 1
				want := runCSV(t, []string{path}, o, false)
				flows += int(want.c.Flows)
				for _, n := range meters {
					o.NMeters = n
					got := runCSV(t, []string{path}, o, false)
					if got.meters != n {
						t.Fatalf("Meters() = %d, want %d", got.meters, n)
					}
					compareRuns(t, fmt.Sprintf("%s, %d meters", filepath.Base(path), n), got, want)
				}
			}
			t.Logf("%d captures, %d flows, identical with %v meters", len(paths), flows, meters)
		})
	}
}

func compareRuns(t *testing.T, what string, got, want run) {
	t.Helper()
	if !bytes.Equal(got.csv, want.csv) {
		g, w := strings.Split(string(got.csv), "\n"), strings.Split(string(want.csv), "\n")
		for i := range min(len(g), len(w)) {
			if g[i] != w[i] {
				t.Errorf("%s: CSV line %d differs from one meter's:\n got %s\nwant %s", what, i+1, g[i], w[i])
				return
			}
		}
		t.Errorf("%s: %d CSV lines, one meter %d", what, len(g), len(w))
		return
	}
	if got.c != want.c || !slices.Equal(got.damage, want.damage) || fmt.Sprint(got.err) != fmt.Sprint(want.err) {
		t.Errorf("%s: counters %+v damage %q err %v; one meter %+v %q %v", what, got.c, got.damage, got.err, want.c, want.damage, want.err)
	}
}

// TestShardedMultiFiles checks several files as one stream (one clock over
// the files, spec 5.1) with several meters.
func TestShardedMultiFiles(t *testing.T) {
	var paths []string
	for _, n := range []string{"one_flow_1_5.pcap", "one_flow_6_10.pcap", "skype.pcap", "one_flow_11_15.pcap", "google_ssl.pcap", "one_flow_16_19.pcap"} {
		paths = append(paths, testcorpus.Pcap(t, n))
	}
	for _, setup := range shardSetups() {
		o := setup.o
		o.NMeters = 1
		want := runCSV(t, paths, o, false)
		for _, n := range []int{2, 5} {
			o.NMeters = n
			compareRuns(t, fmt.Sprintf("%s, %d meters", setup.name, n), runCSV(t, paths, o, false), want)
		}
	}
}

// dpiColumns are the columns filled by nDPI.
var dpiColumns = map[string]bool{
	"application_name": true, "application_category_name": true, "application_is_guessed": true,
	"application_confidence": true, "requested_server_name": true, "client_fingerprint": true,
	"server_fingerprint": true, "user_agent": true, "content_type": true,
}

// TestShardedDPI runs the corpus with DPI on. Every column outside the
// application columns must match one meter's exactly; the application
// columns may differ only through nDPI's per-engine caches, which several
// meters do not share. The differences are counted and logged: first with
// the sharded pipeline and one meter (only the earlier nDPI finalisation
// of flows that NFStream emits late differs), then with 2 and 4 meters.
func TestShardedDPI(t *testing.T) {
	all := corpus(t)
	// nDPI engines take tens of milliseconds to set up (more under the
	// race detector): every capture with 2 meters, a third of them with
	// the others.
	var some []string
	for i, p := range all {
		if i%3 == 0 {
			some = append(some, p)
		}
	}
	if raceEnabled || testing.Short() {
		all, some = some, some[:len(some)/3]
	}
	type tally struct{ flows, cells, rows int }
	for _, n := range []int{1, 2, 4} {
		var d tally
		perColumn := map[string]int{}
		paths := some
		if n == 2 {
			paths = all
		}
		for _, path := range paths {
			o := nfstream.DefaultOptions()
			o.NMeters = 1
			want := runCSV(t, []string{path}, o, false)
			if !slices.ContainsFunc(want.columns, func(c export.Column) bool { return c.Name == "application_name" }) {
				t.Skip("nDPI is not compiled in")
			}
			o.NMeters = n
			got := runCSV(t, []string{path}, o, n == 1)
			if got.c != want.c {
				t.Errorf("%s, %d meters: counters %+v, one meter %+v", filepath.Base(path), n, got.c, want.c)
			}
			g, w := parseCSV(t, got.csv), parseCSV(t, want.csv)
			if len(g) != len(w) {
				t.Errorf("%s, %d meters: %d rows, one meter %d", filepath.Base(path), n, len(g), len(w))
				continue
			}
			for i := 1; i < len(g); i++ {
				d.flows++
				differs := false
				for j, name := range w[0] {
					if g[i][j] == w[i][j] {
						continue
					}
					if !dpiColumns[name] {
						t.Errorf("%s, %d meters, row %d: %s = %q, one meter %q", filepath.Base(path), n, i, name, g[i][j], w[i][j])
						continue
					}
					d.cells++
					perColumn[name]++
					differs = true
				}
				if differs {
					d.rows++
				}
			}
		}
		what := fmt.Sprintf("%d meters", n)
		if n == 1 {
			what = "sharded pipeline, 1 meter"
		}
		t.Logf("%s: %d captures, %d flows: all non-application columns identical; %d flows (%.3f%%) differ in an application column %v",
			what, len(paths), d.flows, d.rows, 100*float64(d.rows)/float64(max(d.flows, 1)), perColumn)
		if d.rows*100 > d.flows {
			t.Errorf("%s: %d of %d flows have different application columns (more than 1%%)", what, d.rows, d.flows)
		}
	}
}

func parseCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestShardedPlugins checks the n_meters rules for plugins: an explicit
// count above 1 with a plugin that cannot be cloned is refused, naming the
// parameter and the plugin; the automatic count falls back to one meter;
// cloneable plugins run in every meter and every instance is cleaned up.
func TestShardedPlugins(t *testing.T) {
	path := testcorpus.Pcap(t, "skype.pcap")
	o := noDPI()
	o.NMeters = 2
	o.Plugins = []flow.Plugin{&cutter{limit: 2}, &noClone{}}
	_, err := nfstream.New([]string{path}, o)
	var oe *nfstream.OptionError
	if !errors.As(err, &oe) || oe.Name != "n_meters" || !strings.Contains(err.Error(), "plugin 1 (*nfstream_test.noClone)") {
		t.Errorf("n_meters 2 with a plugin without Clone: %v", err)
	}
	o.NMeters = 0
	s, err := nfstream.New([]string{path}, o)
	if err != nil || s.Meters() != 1 {
		t.Errorf("n_meters 0 with a plugin without Clone: %v meters, %v", s.Meters(), err)
	}
	o.Plugins = []flow.Plugin{&cutter{limit: 2}}
	if s, err = nfstream.New([]string{path}, o); err != nil || s.Meters() != min(runtime.GOMAXPROCS(0), 8) {
		t.Errorf("n_meters 0 with plugins: %d meters (GOMAXPROCS %d), %v", s.Meters(), runtime.GOMAXPROCS(0), err)
	}
	o.Plugins = nil
	if s, err = nfstream.New([]string{path}, o); err != nil || s.Meters() != max(1, min(runtime.GOMAXPROCS(0)-1, 8)) {
		t.Errorf("n_meters 0 without DPI or plugins: %d meters (GOMAXPROCS %d), %v", s.Meters(), runtime.GOMAXPROCS(0), err)
	}
	if ndpi.Available {
		// With DPI and no plugin, one meter (nDPI on its own goroutine)
		// up to 2 CPUs, one per CPU beyond.
		want := min(runtime.GOMAXPROCS(0), 8)
		if want <= 2 {
			want = 1
		}
		o = nfstream.DefaultOptions()
		if s, err = nfstream.New([]string{path}, o); err != nil || s.Meters() != want {
			t.Errorf("n_meters 0 with DPI: %d meters (GOMAXPROCS %d), want %d, %v", s.Meters(), runtime.GOMAXPROCS(0), want, err)
		}
	}
}

// TestShardedIterationControl checks early exit and cancellation with
// several meters: breaking out stops every goroutine; cancelling flushes
// every flow read (each packet metered is in a flow) and yields ctx's error.
func TestShardedIterationControl(t *testing.T) {
	path := testcorpus.Pcap(t, "skype.pcap")
	o := noDPI()
	o.NMeters = 3
	before := runtime.NumGoroutine()
	s, err := nfstream.New([]string{path}, o)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range s.Flows(context.Background()) {
		n++
		if n == 3 {
			break
		}
	}
	if n != 3 || s.Counters().Flows != 3 {
		t.Errorf("break: %d flows seen, counters %+v", n, s.Counters())
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("break: %d goroutines before, %d after", before, after)
	}

	// Cancelling must stop the reader, which runs ahead of the flows by a
	// few batches only: a long input.
	o.IdleTimeout = time.Second
	long := slices.Repeat([]string{testcorpus.Pcap(t, "tor.pcap")}, 30)
	if s, err = nfstream.New(long, o); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var packets uint64
	var last error
	for f, err := range s.Flows(ctx) {
		if err != nil {
			last = err
			break
		}
		packets += f.BidirectionalPackets
		cancel()
	}
	if c := s.Counters(); !errors.Is(last, context.Canceled) || packets != c.Processed || c.Flows == 0 || c.Records >= 29*3859 {
		t.Errorf("cancel: err %v, %d packets in flows, counters %+v", last, packets, c)
	}
}
