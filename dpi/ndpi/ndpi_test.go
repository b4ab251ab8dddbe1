//go:build cgo && !nondpi

package ndpi

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/nfstream-go/nfstream/dpi"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

func newEngine(tb testing.TB) *Engine {
	tb.Helper()
	e, err := New()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

func newDissector(tb testing.TB, e dpi.Engine, n int, plugin bool) *dpi.Dissector {
	tb.Helper()
	d, err := dpi.NewDissector(e, n, plugin)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// runCapture meters one capture with NFStream's defaults (n_dissections 20)
// and checks that no flow state is left in the engine.
func runCapture(t *testing.T, name string, plugin bool) []*testFlow {
	t.Helper()
	pkts, ok := readPcap(t, testcorpus.Pcap(t, name))
	if !ok {
		t.Fatalf("%s: unsupported capture format", name)
	}
	e := newEngine(t)
	flows := meter(pkts, realDissector{newDissector(t, e, 20, plugin)})
	if n := e.LiveFlows(); n != 0 {
		t.Fatalf("%s: %d flows still live in the engine after all flows finished", name, n)
	}
	return flows
}

func TestCaptures(t *testing.T) {
	tests := []struct {
		pcap string
		want []dpi.Info // by flow id
	}{
		{"facebook.pcap", []dpi.Info{
			{ApplicationName: "TLS.Facebook", ApplicationCategoryName: "SocialNetwork", ApplicationConfidence: 6,
				RequestedServerName: "facebook.com",
				ClientFingerprint:   "bfcc1a3891601edb4f137ab7ab25b840", ServerFingerprint: "2d1eb5817ece335c24904f516ad5da12"},
			{ApplicationName: "TLS.Facebook", ApplicationCategoryName: "SocialNetwork", ApplicationConfidence: 6,
				RequestedServerName: "www.facebook.com",
				ClientFingerprint:   "5c60e71f1b8cd40e4d40ed5b6d666e3f", ServerFingerprint: "96681175a9547081bf3d417f1a572091"},
		}},
		{"ssh.pcap", []dpi.Info{
			{ApplicationName: "SSH", ApplicationCategoryName: "RemoteAccess", ApplicationConfidence: 6,
				ClientFingerprint: "21b457a327ce7a2d4fce5ef2c42400bd", ServerFingerprint: "b1c6c0d56317555b85c7005a3de29325"},
			// same 5-tuple after more than 120 s of silence: guessed by port
			{ApplicationName: "SSH", ApplicationCategoryName: "RemoteAccess", ApplicationIsGuessed: 1, ApplicationConfidence: 1},
		}},
		{"dhcp.pcap", []dpi.Info{
			{ApplicationName: "DHCP", ApplicationCategoryName: "Network", ApplicationConfidence: 6,
				ClientFingerprint: "1,3,6,42"},
			// the server's replies carry no parameter request list
			{ApplicationName: "DHCP", ApplicationCategoryName: "Network", ApplicationConfidence: 6},
		}},
		{"google_ssl.pcap", []dpi.Info{
			// nDPI 4.2 merges the IP owner (Google) and calls it "match by IP",
			// which this package maps to 1; NFStream's newer nDPI says TLS/Web/1/1.
			{ApplicationName: "TLS.Google", ApplicationCategoryName: "Web", ApplicationIsGuessed: 1, ApplicationConfidence: 1},
		}},
	}
	for _, tt := range tests {
		for _, plugin := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/plugin=%v", tt.pcap, plugin), func(t *testing.T) {
				flows := runCapture(t, tt.pcap, plugin)
				if len(flows) != len(tt.want) {
					t.Fatalf("%d flows, want %d", len(flows), len(tt.want))
				}
				for i, f := range flows {
					if f.fs.Info != tt.want[i] {
						t.Errorf("%v:\n got  %+v\n want %+v", f, f.fs.Info, tt.want[i])
					}
				}
			})
		}
	}
}

func TestCaptureHTTPDownload(t *testing.T) {
	flows := runCapture(t, "exe_download.pcap", false)
	var http []*testFlow
	for _, f := range flows {
		if f.fs.Info.ApplicationName == "HTTP" {
			http = append(http, f)
		}
	}
	if len(http) != 1 {
		t.Fatalf("%d HTTP flows, want 1 (flows: %d)", len(http), len(flows))
	}
	want := dpi.Info{
		ApplicationName: "HTTP", ApplicationCategoryName: "Download", ApplicationConfidence: 6,
		RequestedServerName: "144.91.69.195", // the Host header
		UserAgent:           "pwtyyEKzNtGatwnJjmCcBLbOveCVpc", ContentType: "application/octet-stream",
	}
	if got := http[0].fs.Info; got != want {
		t.Errorf("%v:\n got  %+v\n want %+v", http[0], got, want)
	}
}

// refDissector is NFStream's algorithm transcribed literally (spec 7.2 and
// 7.3) over the real engine: nDPI's state is kept until the flow ends,
// ndpi_extra_dissection_possible is asked when the next packet arrives, and
// the columns are extracted at finalisation (and after every nDPI call in
// plugin mode).
type refDissector struct {
	e      *Engine
	n      uint64
	plugin bool
	state  map[*testFlow]*refState
}

type refState struct {
	h         dpi.Handle
	det       dpi.Protocol
	completed uint8
	guessed   uint8
	done      bool
}

func (r *refDissector) collect(f *testFlow, s *refState) {
	r.e.Extract(s.h, s.det, &f.fs.Info)
	f.fs.Info.ApplicationIsGuessed = s.guessed
}

func (r *refDissector) giveUp(f *testFlow, s *refState) {
	var g bool
	s.det, g = r.e.GiveUp(s.h)
	s.guessed = 0
	if g {
		s.guessed = 1
	}
	if r.plugin {
		r.collect(f, s)
	}
}

func (r *refDissector) dissect(f *testFlow, s *refState, p testPacket) {
	s.det, _ = r.e.Process(s.h, p.ip, p.timeMs)
	if r.plugin {
		r.collect(f, s)
	}
}

func (r *refDissector) start(f *testFlow, p testPacket) {
	h, err := r.e.NewFlow()
	if err != nil {
		panic(err)
	}
	s := &refState{h: h}
	r.state[f] = s
	r.dissect(f, s, p)
	if s.det.App == 0 && r.n == 1 {
		r.giveUp(f, s)
		s.completed = 1
	}
}

func (r *refDissector) update(f *testFlow, p testPacket) {
	s := r.state[f]
	if s.completed != 0 {
		s.completed = 2
		return
	}
	if s.det.App == 0 || r.e.extraPossible(s.h) {
		r.dissect(f, s, p)
	} else {
		s.completed = 1
	}
	if f.packets == r.n {
		if s.det.App == 0 {
			r.giveUp(f, s)
		}
		s.completed = 1
	}
}

func (r *refDissector) finish(f *testFlow) {
	s := r.state[f]
	if s.done {
		return
	}
	s.done = true
	if s.det.App == 0 && s.completed == 0 {
		r.giveUp(f, s)
	}
	r.collect(f, s)
	r.e.Free(s.h)
}

// corpus returns the captures of the shared corpus this test reader handles.
func corpus(t *testing.T) map[string][]testPacket {
	t.Helper()
	dir := filepath.Dir(testcorpus.Pcap(t, "facebook.pcap"))
	names, err := filepath.Glob(filepath.Join(dir, "*.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]testPacket{}
	for _, name := range names {
		if pkts, ok := readPcap(t, name); ok && len(pkts) > 0 {
			out[filepath.Base(name)] = pkts
		}
	}
	if len(out) == 0 {
		t.Fatal("no usable capture in the corpus")
	}
	return out
}

// TestEarlyFreeMatchesNFStream runs the corpus through the Dissector (which
// frees nDPI state as soon as dissection is over) and through the literal
// NFStream algorithm (which keeps it to the end), each with its own engine
// seeing the same packets in the same order, and requires identical columns
// for every flow, for several n_dissections and both modes. It also checks
// that the Dissector leaves no flow allocated.
func TestEarlyFreeMatchesNFStream(t *testing.T) {
	all := corpus(t)
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	configs := []struct {
		n      int
		plugin bool
	}{{20, false}, {20, true}, {1, false}, {1, true}, {3, false}, {255, false}}
	if testing.Short() {
		configs = configs[:2]
	}
	for _, c := range configs {
		t.Run(fmt.Sprintf("n=%d/plugin=%v", c.n, c.plugin), func(t *testing.T) {
			got, ref := newEngine(t), newEngine(t)
			d := realDissector{newDissector(t, got, c.n, c.plugin)}
			r := &refDissector{e: ref, n: uint64(c.n), plugin: c.plugin, state: map[*testFlow]*refState{}}
			flows, diffs := 0, 0
			for _, name := range names {
				gf := meter(all[name], d)
				rf := meter(all[name], r)
				if live := got.LiveFlows(); live != 0 {
					t.Fatalf("%s: %d flows left in the engine", name, live)
				}
				for i := range gf {
					flows++
					if gf[i].fs.Info != rf[i].fs.Info {
						diffs++
						if diffs <= 5 {
							t.Errorf("%s %v:\n got  %+v\n want %+v", name, gf[i], gf[i].fs.Info, rf[i].fs.Info)
						}
					}
				}
			}
			if diffs > 0 {
				t.Errorf("%d of %d flows differ", diffs, flows)
			}
			t.Logf("%d captures, %d flows identical", len(names), flows)
		})
	}
}

// TestEnginesInParallel runs independent engines on several goroutines (New
// and Close included) and requires the same results as one engine alone.
func TestEnginesInParallel(t *testing.T) {
	pkts, ok := readPcap(t, testcorpus.Pcap(t, "facebook.pcap"))
	if !ok {
		t.Fatal("facebook.pcap unreadable")
	}
	run := func() ([]dpi.Info, error) {
		e, err := New()
		if err != nil {
			return nil, err
		}
		defer e.Close()
		d, err := dpi.NewDissector(e, 20, false)
		if err != nil {
			return nil, err
		}
		var out []dpi.Info
		for _, f := range meter(pkts, realDissector{d}) {
			out = append(out, f.fs.Info)
		}
		return out, nil
	}
	want, err := run()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			got, err := run()
			if err == nil && fmt.Sprint(got) != fmt.Sprint(want) {
				err = fmt.Errorf("results differ:\n got  %+v\n want %+v", got, want)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestEngineLifecycle(t *testing.T) {
	if !Available {
		t.Fatal("Available is false in a cgo build")
	}
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	var hs []dpi.Handle
	for range 3 {
		h, err := e.NewFlow()
		if err != nil || h == 0 {
			t.Fatalf("NewFlow = %v, %v", h, err)
		}
		hs = append(hs, h)
	}
	if e.LiveFlows() != 3 {
		t.Fatalf("LiveFlows = %d, want 3", e.LiveFlows())
	}
	e.Free(hs[0])
	e.Free(hs[0]) // ignored
	e.Free(0)     // ignored
	if e.LiveFlows() != 2 {
		t.Fatalf("LiveFlows = %d, want 2", e.LiveFlows())
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Process on a freed handle did not panic")
			}
		}()
		e.Process(hs[0], []byte{0x45}, 0)
	}()
	// A fresh flow with no packet: nothing known.
	var info dpi.Info
	e.Extract(hs[1], dpi.Protocol{}, &info)
	if info != (dpi.Info{ApplicationName: "Unknown", ApplicationCategoryName: "Unspecified"}) {
		t.Errorf("empty flow Info = %+v", info)
	}
	if err := e.Close(); err != nil { // frees the two remaining flows
		t.Fatal(err)
	}
	if e.LiveFlows() != 0 {
		t.Errorf("LiveFlows after Close = %d", e.LiveFlows())
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := e.NewFlow(); !errors.Is(err, ErrClosed) {
		t.Errorf("NewFlow after Close: %v", err)
	}
}

// TestOversizedPacket feeds a 70000-byte IPv4/UDP packet: nDPI's length is
// an unsigned short, so the engine clamps it to 65535 bytes.
func TestOversizedPacket(t *testing.T) {
	e := newEngine(t)
	pkt := make([]byte, 70000)
	copy(pkt, []byte{0x45, 0, 0xff, 0xff, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39, 0x30, 0x3a, 0xff, 0xeb, 0, 0})
	h, err := e.NewFlow()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := e.Process(h, pkt, 1)
	if p.App != 0 {
		t.Errorf("random payload detected as %+v", p)
	}
	e.Free(h)
}

// TestExtractBranches checks the protocol branches of spec 7.4 on a real
// HTTP flow: extraction under another protocol id leaves the HTTP-only slots
// untouched, and extraction under no branch only rewrites names, server name
// and confidence.
func TestExtractBranches(t *testing.T) {
	pkts, ok := readPcap(t, testcorpus.Pcap(t, "exe_download.pcap"))
	if !ok {
		t.Fatal("exe_download.pcap unreadable")
	}
	e := newEngine(t)
	h, err := e.NewFlow()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Free(h)
	key := pkts[0].key
	var det dpi.Protocol
	for _, p := range pkts[:20] {
		if p.key == key {
			det, _ = e.Process(h, p.ip, p.timeMs)
		}
	}
	if det.App != 7 && det.Master != 7 {
		t.Fatalf("first flow of exe_download.pcap is %+v, not HTTP", det)
	}
	prev := dpi.Info{ClientFingerprint: "c", ServerFingerprint: "s", UserAgent: "u", ContentType: "t"}

	info := prev
	e.Extract(h, dpi.Protocol{App: 7, Category: det.Category}, &info) // HTTP branch
	if info.UserAgent != "pwtyyEKzNtGatwnJjmCcBLbOveCVpc" || info.ContentType != "application/octet-stream" ||
		info.ClientFingerprint != "c" || info.ServerFingerprint != "s" || info.ApplicationName != "HTTP" {
		t.Errorf("HTTP branch: %+v", info)
	}

	info = prev
	e.Extract(h, dpi.Protocol{App: 5}, &info) // DNS: no branch
	if info.UserAgent != "u" || info.ContentType != "t" || info.ClientFingerprint != "c" || info.ServerFingerprint != "s" ||
		info.ApplicationName != "DNS" || info.RequestedServerName == "" {
		t.Errorf("no branch: %+v", info)
	}

	info = prev
	e.Extract(h, dpi.Protocol{Master: 7, App: 91}, &info) // HTTP comes before TLS
	if info.UserAgent != "pwtyyEKzNtGatwnJjmCcBLbOveCVpc" || info.ClientFingerprint != "c" || info.ApplicationName != "HTTP.TLS" {
		t.Errorf("HTTP.TLS: %+v", info)
	}

	info = prev
	e.Extract(h, dpi.Protocol{App: 188}, &info) // QUIC: TLS family
	if info.UserAgent != "pwtyyEKzNtGatwnJjmCcBLbOveCVpc" || info.ContentType != "t" || info.ClientFingerprint != "" ||
		info.ServerFingerprint != "" || info.ApplicationName != "QUIC" {
		t.Errorf("QUIC: %+v", info)
	}
}

func TestNoAllocations(t *testing.T) {
	pkts, ok := readPcap(t, testcorpus.Pcap(t, "facebook.pcap"))
	if !ok {
		t.Fatal("facebook.pcap unreadable")
	}
	e := newEngine(t)
	h, err := e.NewFlow()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Free(h)
	var det dpi.Protocol
	for _, p := range pkts[:6] {
		det, _ = e.Process(h, p.ip, p.timeMs)
	}
	var info dpi.Info
	e.Extract(h, det, &info)
	if a := testing.AllocsPerRun(100, func() { e.Process(h, pkts[6].ip, pkts[6].timeMs) }); a != 0 {
		t.Errorf("Process: %v allocations", a)
	}
	if a := testing.AllocsPerRun(100, func() { e.Extract(h, det, &info) }); a != 0 {
		t.Errorf("Extract with unchanged values: %v allocations", a)
	}
}

var benchCaptures = []string{"facebook.pcap", "google_ssl.pcap", "ssh.pcap", "dhcp.pcap", "443-chrome.pcap", "http_ipv6.pcap"}

// recorder is an Engine that records which packets the Dissector hands to
// nDPI, so that BenchmarkProcess replays exactly those.
type recorder struct {
	*Engine
	ids  map[dpi.Handle]int
	jobs []job
}

type job struct {
	flow int
	p    []byte
	t    uint64
}

func (r *recorder) NewFlow() (dpi.Handle, error) {
	h, err := r.Engine.NewFlow()
	r.ids[h] = len(r.ids)
	return h, err
}

func (r *recorder) Process(h dpi.Handle, ip []byte, t uint64) (dpi.Protocol, bool) {
	r.jobs = append(r.jobs, job{r.ids[h], ip, t})
	return r.Engine.Process(h, ip, t)
}

// BenchmarkProcess measures one dissected packet: the packets NFStream's
// rules (n_dissections 20) give to nDPI in six captures, replayed on fresh
// flows at each pass, one engine. ns/op is per Process call: packet copy,
// cgo crossing, ndpi_detection_process_packet and
// ndpi_extra_dissection_possible (flow allocation amortised in).
func BenchmarkProcess(b *testing.B) {
	rec := &recorder{Engine: newEngine(b), ids: map[dpi.Handle]int{}}
	d := realDissector{newDissector(b, rec, 20, false)}
	for _, name := range benchCaptures {
		pkts, ok := readPcap(b, testcorpus.Pcap(b, name))
		if !ok {
			b.Fatalf("%s unreadable", name)
		}
		meter(pkts, d)
	}
	jobs := rec.jobs
	e := newEngine(b)
	handles := make([]dpi.Handle, len(rec.ids))
	reset := func() {
		for i, h := range handles {
			e.Free(h)
			var err error
			if handles[i], err = e.NewFlow(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j := i % len(jobs)
		if j == 0 {
			reset()
		}
		e.Process(handles[jobs[j].flow], jobs[j].p, jobs[j].t)
	}
	b.StopTimer()
	for _, h := range handles {
		e.Free(h)
	}
	b.ReportMetric(float64(len(jobs)), "dissected/pass")
}

// BenchmarkDissector measures the whole per-packet path of the Dissector on
// every captured packet of the same captures (flows keyed by the test meter;
// packets past the dissection limit cost no nDPI call).
func BenchmarkDissector(b *testing.B) {
	var pkts []testPacket
	for _, name := range benchCaptures {
		p, ok := readPcap(b, testcorpus.Pcap(b, name))
		if !ok {
			b.Fatalf("%s unreadable", name)
		}
		pkts = append(pkts, p...)
	}
	e := newEngine(b)
	d := realDissector{newDissector(b, e, 20, false)}
	b.ReportAllocs()
	for b.Loop() {
		meter(pkts, d)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(pkts)), "ns/packet")
}
