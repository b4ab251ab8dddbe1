//go:build linux

package nfstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfstream-go/nfstream"
	"github.com/nfstream-go/nfstream/dpi/ndpi"
	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/netnstest"
	"github.com/nfstream-go/nfstream/internal/syncbuf"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

// The live tests build a network namespace with a veth pair, replay corpus
// captures into one end with tcpreplay and capture the other end with a
// LiveStreamer. They need root, iproute2 and tcpreplay; they are skipped
// without them, except with CI=true, where they fail.

// liveCapture is one running live iteration.
type liveCapture struct {
	s      *nfstream.LiveStreamer
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	flows   []*nfstream.Flow
	arrived []time.Time
	err     error
}

// startLive starts capturing n.A and returns once the sockets are open.
func startLive(t *testing.T, n *netnstest.Net, opts nfstream.Options, lo nfstream.LiveOptions) *liveCapture {
	t.Helper()
	lo.Namespace = n.Path
	started := make(chan struct{})
	lo.Started = func() { close(started) }
	s, err := nfstream.NewLive(n.A, opts, lo)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	lc := &liveCapture{s: s, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(lc.done)
		for f, err := range s.Flows(ctx) {
			lc.mu.Lock()
			if err != nil {
				lc.err = err
			} else {
				lc.flows = append(lc.flows, f)
				lc.arrived = append(lc.arrived, time.Now())
			}
			lc.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-lc.done
	})
	select {
	case <-started:
	case <-lc.done:
		t.Fatalf("capture ended before starting: %v", lc.err)
	case <-time.After(20 * time.Second):
		t.Fatal("capture not started after 20s")
	}
	return lc
}

// waitRecords waits until the meters have read n records.
func (lc *liveCapture) waitRecords(t *testing.T, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for lc.s.Counters().Records < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d records read after 10s, want %d (kernel: %+v)", lc.s.Counters().Records, n, lc.s.Kernel())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop cancels the capture (every cached flow is flushed) and returns the
// flows.
func (lc *liveCapture) stop(t *testing.T) []*nfstream.Flow {
	t.Helper()
	lc.cancel()
	select {
	case <-lc.done:
	case <-time.After(10 * time.Second):
		t.Fatal("capture still running 10s after cancel")
	}
	if lc.err != nil {
		t.Fatal(lc.err)
	}
	for i, f := range lc.flows {
		if f.ID != uint64(i) {
			t.Fatalf("flow %d has id %d", i, f.ID)
		}
	}
	return lc.flows
}

func (lc *liveCapture) snapshot() ([]*nfstream.Flow, []time.Time) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return slices.Clone(lc.flows), slices.Clone(lc.arrived)
}

// offline runs the same options over the capture file.
func offline(t *testing.T, opts nfstream.Options, name string) ([]*nfstream.Flow, nfstream.Counters) {
	t.Helper()
	opts.NMeters = 1
	flows, s := collect(t, opts, name)
	return flows, s.Counters()
}

// flowSummary is what live and offline flows must agree on: everything
// but times (live packets carry the kernel's capture time).
func flowSummary(f *nfstream.Flow, dpi bool) string {
	s := fmt.Sprintf("%d %s:%d(%s) > %s:%d(%s) vlan %d tunnel %d ipv%d exp %d | %d pkts %d bytes | %d/%d > | %d/%d <",
		f.Protocol, f.SrcIP, f.SrcPort, f.SrcMAC, f.DstIP, f.DstPort, f.DstMAC, f.VlanID, f.TunnelID, f.IPVersion, f.ExpirationID,
		f.BidirectionalPackets, f.BidirectionalBytes, f.Src2DstPackets, f.Src2DstBytes, f.Dst2SrcPackets, f.Dst2SrcBytes)
	if dpi && f.DPI != nil {
		i := f.DPI.Info
		s += fmt.Sprintf(" | %s %s %q", i.ApplicationName, i.ApplicationCategoryName, i.RequestedServerName)
	}
	return s
}

func summaries(flows []*nfstream.Flow, dpi bool) []string {
	var out []string
	for _, f := range flows {
		out = append(out, flowSummary(f, dpi))
	}
	slices.Sort(out)
	return out
}

func sameFlows(t *testing.T, live, off []*nfstream.Flow, dpi bool) {
	t.Helper()
	got, want := summaries(live, dpi), summaries(off, dpi)
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("live flows differ from the offline ones (%d vs %d flows)", len(got), len(want))
	for _, g := range got {
		if !slices.Contains(want, g) {
			t.Errorf("live only:    %s", g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("offline only: %s", w)
		}
	}
}

// TestLiveMatchesOffline replays captures and checks that live capture
// gives the flows of the offline run of the same file, with one meter and
// with two meters sharing the traffic through kernel fanout.
func TestLiveMatchesOffline(t *testing.T) {
	type tc struct {
		file       string
		accounting int
		dpi        bool
	}
	cases := []tc{
		{"google_ssl.pcap", 0, true},
		{"facebook.pcap", 0, true},
		{"dhcp.pcap", 0, true},
		{"steam.pcap", 0, true},
		{"ja3_lots_of_cipher_suites.pcap", 0, true}, // VLAN-tagged
		{"steam.pcap", 3, false},
		{"4in4tunnel.pcap", 1, false},
	}
	for _, c := range cases {
		for _, meters := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/mode%d/dpi=%v/meters%d", c.file, c.accounting, c.dpi, meters), func(t *testing.T) {
				opts := nfstream.DefaultOptions()
				opts.AccountingMode = c.accounting
				// tcpreplay squeezes time: no timeout split either way.
				opts.IdleTimeout, opts.ActiveTimeout = 10000*time.Hour, 10000*time.Hour
				if !c.dpi {
					opts.NDissections = 0
				}
				off, oc := offline(t, opts, c.file)
				n := netnstest.New(t)
				opts.NMeters = meters
				lc := startLive(t, n, opts, nfstream.LiveOptions{})
				n.Replay(t, testcorpus.Pcap(t, c.file))
				lc.waitRecords(t, oc.Records)
				live := lc.stop(t)
				sameFlows(t, live, off, c.dpi && ndpi.Available)
				lcnt := lc.s.Counters()
				if lcnt.Processed != oc.Processed || lcnt.Ignored != oc.Ignored || lcnt.Records != oc.Records {
					t.Errorf("counters %+v, offline %+v", lcnt, oc)
				}
				if k := lc.s.Kernel(); k.Drops != 0 || k.Packets != oc.Records {
					t.Errorf("kernel counters %+v, want %d packets and no drop", k, oc.Records)
				}
				if meters == 2 {
					r := lc.s.Report()
					t.Logf("%d flows, packets per meter %v", len(live), r.MetersPacketsProcessingBalance)
				}
			})
		}
	}
}

// TestLiveFilter checks the BPF filter on the sockets against the same
// filter offline (NFStream's test_bpf).
func TestLiveFilter(t *testing.T) {
	opts := noDPI()
	opts.BPFFilter = "src port 52066 or dst port 52066"
	off, oc := offline(t, opts, "facebook.pcap")
	if len(off) != 1 {
		t.Fatalf("offline: %d flows, want 1", len(off))
	}
	for _, meters := range []int{1, 2} {
		t.Run(fmt.Sprint("meters", meters), func(t *testing.T) {
			n := netnstest.New(t)
			opts.NMeters = meters
			lc := startLive(t, n, opts, nfstream.LiveOptions{})
			n.Replay(t, testcorpus.Pcap(t, "facebook.pcap"))
			kept := oc.Records - oc.Filtered
			lc.waitRecords(t, kept)
			time.Sleep(200 * time.Millisecond) // nothing else may come
			live := lc.stop(t)
			sameFlows(t, live, off, false)
			if k := lc.s.Kernel(); k.Packets != kept || lc.s.Counters().Records != kept {
				t.Errorf("the sockets accepted %d packets, the meters read %d, want %d (the filter runs in the kernel)", k.Packets, lc.s.Counters().Records, kept)
			}
		})
	}
}

// TestLiveIdleExpiry checks that a quiet interface still expires idle
// flows, on the wall clock, within idle_timeout plus a second (NFStream
// waits for the next packet: quirk 24).
func TestLiveIdleExpiry(t *testing.T) {
	for _, meters := range []int{1, 2} {
		t.Run(fmt.Sprint("meters", meters), func(t *testing.T) {
			opts := noDPI()
			opts.IdleTimeout = time.Second
			opts.NMeters = meters
			off, oc := offline(t, opts, "dhcp.pcap")
			n := netnstest.New(t)
			lc := startLive(t, n, opts, nfstream.LiveOptions{})
			n.Replay(t, testcorpus.Pcap(t, "dhcp.pcap"))
			sent := time.Now()
			lc.waitRecords(t, oc.Records)
			deadline := sent.Add(opts.IdleTimeout + time.Second)
			for {
				flows, _ := lc.snapshot()
				if len(flows) == len(off) || time.Now().After(deadline.Add(time.Second)) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			flows, arrived := lc.snapshot()
			if len(flows) != len(off) {
				t.Fatalf("%d of %d flows expired without traffic %v after the last packet", len(flows), len(off), time.Since(sent))
			}
			for i, f := range flows {
				after := arrived[i].Sub(sent)
				t.Logf("flow %d expired %v after the last packet was sent", i, after)
				if arrived[i].After(deadline) {
					t.Errorf("flow %d expired %v after the last packet, want at most %v", i, after, opts.IdleTimeout+time.Second)
				}
				if after < opts.IdleTimeout-100*time.Millisecond {
					t.Errorf("flow %d expired after %v, before the idle timeout", i, after)
				}
				if f.ExpirationID != 0 {
					t.Errorf("flow %d: expiration_id %d, want 0 (idle)", i, f.ExpirationID)
				}
			}
			sameFlows(t, lc.stop(t), off, false)
		})
	}
}

// countingPlugin counts its hooks; it can run in several meters.
type countingPlugin struct {
	flow.BasePlugin
	expired, cleanups *atomic.Int64
	delay             time.Duration
}

func (p *countingPlugin) OnInit(*flow.Packet, *flow.Flow) { time.Sleep(p.delay) }

func (p *countingPlugin) OnUpdate(*flow.Packet, *flow.Flow) { time.Sleep(p.delay) }

func (p *countingPlugin) OnExpire(*flow.Flow) { p.expired.Add(1) }

func (p *countingPlugin) Cleanup() { p.cleanups.Add(1) }

func (p *countingPlugin) Clone() flow.Plugin { c := *p; return &c }

// TestLiveCancelFlushes checks that cancelling the capture (what SIGINT
// does in the command) finalises every cached flow through the plugins and
// yields it: nothing is lost.
func TestLiveCancelFlushes(t *testing.T) {
	for _, meters := range []int{1, 2} {
		t.Run(fmt.Sprint("meters", meters), func(t *testing.T) {
			opts := noDPI()
			opts.NMeters = meters
			off, oc := offline(t, opts, "steam.pcap")
			var expired, cleanups atomic.Int64
			opts.Plugins = []flow.Plugin{&countingPlugin{expired: &expired, cleanups: &cleanups}}
			n := netnstest.New(t)
			lc := startLive(t, n, opts, nfstream.LiveOptions{})
			n.Replay(t, testcorpus.Pcap(t, "steam.pcap"))
			lc.waitRecords(t, oc.Records)
			if flows, _ := lc.snapshot(); len(flows) != 0 {
				t.Fatalf("%d flows before cancel, want none (idle timeout 120s)", len(flows))
			}
			live := lc.stop(t)
			sameFlows(t, live, off, false)
			if expired.Load() != int64(len(off)) || cleanups.Load() != int64(meters) {
				t.Errorf("plugins: %d OnExpire and %d Cleanup, want %d and %d", expired.Load(), cleanups.Load(), len(off), meters)
			}
		})
	}
}

// TestLiveMaxNFlows checks that max_nflows stops after that many flows.
func TestLiveMaxNFlows(t *testing.T) {
	opts := noDPI()
	opts.MaxNFlows = 5
	opts.NMeters = 2
	n := netnstest.New(t)
	lc := startLive(t, n, opts, nfstream.LiveOptions{})
	n.Replay(t, testcorpus.Pcap(t, "steam.pcap"))
	lc.waitRecords(t, 104)
	if got := lc.stop(t); len(got) != 5 {
		t.Errorf("%d flows, want 5", len(got))
	}
}

// TestLiveDropsReported makes a meter too slow for its ring (a plugin
// sleeps on every packet, the ring is the smallest possible) and checks
// that the kernel drops are counted and reported.
func TestLiveDropsReported(t *testing.T) {
	opts := noDPI()
	opts.NMeters = 1
	opts.SocketBufferSize = 1 // two blocks of one page
	opts.PerformanceReport = 1
	var expired, cleanups atomic.Int64
	opts.Plugins = []flow.Plugin{&countingPlugin{expired: &expired, cleanups: &cleanups, delay: 2 * time.Millisecond}}
	var out syncbuf.Buffer
	n := netnstest.New(t)
	lc := startLive(t, n, opts, nfstream.LiveOptions{ReportWriter: &out})
	n.Replay(t, testcorpus.Pcap(t, "steam.pcap"), "--loop=5") // 520 packets
	time.Sleep(2500 * time.Millisecond)                       // two reports at least
	live := lc.stop(t)

	k := lc.s.Kernel()
	c := lc.s.Counters()
	t.Logf("kernel %+v, counters %+v, %d flows", k, c, len(live))
	if k.Drops == 0 || k.Packets != 520 || c.Records+k.Drops != 520 {
		t.Errorf("kernel %+v, records %d: want drops counted, and read + dropped = 520", k, c.Records)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("%d report lines, want at least 2:\n%s", len(lines), out.String())
	}
	last := lines[len(lines)-1]
	t.Log(last)
	var r struct {
		FlowsExpired uint64   `json:"flows_expired"`
		Processed    uint64   `json:"packets_processed"`
		Ignored      uint64   `json:"packets_ignored"`
		Dropped      uint64   `json:"packets_dropped_filtered_by_kernel"`
		Balance      []uint64 `json:"meters_packets_processing_balance"`
	}
	if err := json.Unmarshal([]byte(last), &r); err != nil {
		t.Fatalf("report %q: %v", last, err)
	}
	if r.Dropped == 0 || len(r.Balance) != 1 || r.Balance[0] != r.Processed || r.Processed == 0 {
		t.Errorf("report %q: want drops, and the processed packets of the only meter", last)
	}
	keys := []string{`{"flows_expired": `, `, "packets_processed": `, `, "packets_ignored": `, `, "packets_dropped_filtered_by_kernel": `, `, "meters_packets_processing_balance": [`}
	at := 0
	for _, k := range keys {
		i := strings.Index(last[at:], k)
		if i < 0 {
			t.Fatalf("report %q: key %q missing or out of NFStream's order", last, k)
		}
		at += i + len(k)
	}
}

// TestLiveReportCallback checks that the report can go to a callback.
func TestLiveReportCallback(t *testing.T) {
	opts := noDPI()
	opts.NMeters = 2
	opts.PerformanceReport = 1
	got := make(chan nfstream.PerformanceReport, 10)
	n := netnstest.New(t)
	lc := startLive(t, n, opts, nfstream.LiveOptions{Report: func(r nfstream.PerformanceReport) { got <- r }})
	n.Replay(t, testcorpus.Pcap(t, "steam.pcap"))
	lc.waitRecords(t, 104)
	var r nfstream.PerformanceReport
	select {
	case r = <-got:
	case <-time.After(3 * time.Second):
		t.Fatal("no report after 3s")
	}
	for r.PacketsProcessed < 104 {
		select {
		case r = <-got:
		case <-time.After(3 * time.Second):
			t.Fatalf("last report %+v, want 104 packets processed", r)
		}
	}
	lc.stop(t)
	if len(r.MetersPacketsProcessingBalance) != 2 || r.MetersPacketsProcessingBalance[0]+r.MetersPacketsProcessingBalance[1] != 104 || r.KernelPackets != 104 {
		t.Errorf("report %+v", r)
	}
}

// TestPerformanceReportJSON checks the report line byte for byte against
// NFStream's (Python's json.dumps).
func TestPerformanceReportJSON(t *testing.T) {
	r := nfstream.PerformanceReport{FlowsExpired: 12, PacketsProcessed: 3456, PacketsIgnored: 7, PacketsDroppedFilteredByKernel: 89,
		MetersPacketsProcessingBalance: []uint64{1000, 2456}}
	want := `{"flows_expired": 12, "packets_processed": 3456, "packets_ignored": 7, "packets_dropped_filtered_by_kernel": 89, "meters_packets_processing_balance": [1000, 2456]}`
	if got := string(r.AppendJSON(nil)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := string((&nfstream.PerformanceReport{}).AppendJSON(nil)); !strings.HasSuffix(got, `"meters_packets_processing_balance": []}`) {
		t.Errorf("no meters: %s", got)
	}
}

// TestNewLiveErrors checks the options NewLive refuses.
func TestNewLiveErrors(t *testing.T) {
	opts := noDPI()
	_, err := nfstream.NewLive("nosuch0", opts, nfstream.LiveOptions{})
	var oe *nfstream.OptionError
	if !errors.As(err, &oe) || oe.Name != "source" {
		t.Errorf("unknown interface: %v, want an OptionError for source", err)
	}
	bad := opts
	bad.BPFFilter = "port http and"
	if _, err := nfstream.NewLive("lo", bad, nfstream.LiveOptions{}); !errors.As(err, &oe) || oe.Name != "bpf_filter" {
		t.Errorf("bad filter: %v", err)
	}
	bad = opts
	bad.NMeters = 2
	bad.Plugins = []flow.Plugin{flow.BasePlugin{}}
	if _, err := nfstream.NewLive("lo", bad, nfstream.LiveOptions{}); err == nil {
		t.Error("a plugin that cannot be cloned, with 2 meters: no error")
	}
	if _, err := nfstream.NewLive("lo", opts, nfstream.LiveOptions{PollTimeout: time.Microsecond}); err == nil {
		t.Error("poll timeout of 1µs: no error")
	}
}

// TestLiveInterfaceDown checks that an interface going down ends the
// capture with an error, after every cached flow was flushed.
func TestLiveInterfaceDown(t *testing.T) {
	opts := noDPI()
	opts.NMeters = 2
	off, oc := offline(t, opts, "steam.pcap")
	n := netnstest.New(t)
	lc := startLive(t, n, opts, nfstream.LiveOptions{})
	n.Replay(t, testcorpus.Pcap(t, "steam.pcap"))
	lc.waitRecords(t, oc.Records)
	if out, err := n.Exec("ip", "link", "set", n.A, "down"); err != nil {
		t.Fatalf("ip link set down: %v: %s", err, out)
	}
	select {
	case <-lc.done:
	case <-time.After(5 * time.Second):
		t.Fatal("capture still running 5s after the interface went down")
	}
	if lc.err == nil || !strings.Contains(lc.err.Error(), n.A) {
		t.Errorf("error %v, want one naming the interface", lc.err)
	}
	t.Log(lc.err)
	sameFlows(t, lc.flows, off, false)
}

// TestLiveRates measures packet loss at increasing replay rates, for one
// and two meters with DPI on, next to ndpiReader capturing the same
// interface. It is a measurement, not a check: run it by hand, e.g.
//
//	NFSTREAM_LIVE_RATES=20000,50000,100000 NFSTREAM_LIVE_CAPTURE=/tmp/bench40.pcap \
//	    go test -run TestLiveRates -v -timeout 30m .
//
// (NFSTREAM_LIVE_PACKETS sets how many packets of the capture are sent,
// default 200000.)
func TestLiveRates(t *testing.T) {
	rates := os.Getenv("NFSTREAM_LIVE_RATES")
	path := os.Getenv("NFSTREAM_LIVE_CAPTURE")
	if rates == "" || path == "" {
		t.Skip("set NFSTREAM_LIVE_RATES and NFSTREAM_LIVE_CAPTURE to measure")
	}
	limit := 200000
	if v := os.Getenv("NFSTREAM_LIVE_PACKETS"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	for _, rate := range strings.Split(rates, ",") {
		replay := []string{fmt.Sprintf("--limit=%d", limit)} // "max": top speed
		if rate != "max" {
			replay = append(replay, "--pps="+rate)
		}
		for _, meters := range []int{1, 2} {
			n := netnstest.New(t)
			opts := nfstream.DefaultOptions()
			opts.NMeters = meters
			lc := startLive(t, n, opts, nfstream.LiveOptions{})
			start := time.Now()
			n.Replay(t, path, replay...)
			sent := time.Since(start)
			// Wait until the meters have caught up: nothing new for a
			// second. (Fewer than limit packets may arrive: the kernel
			// reassembles IPv4 fragments for the fanout group.)
			var seen uint64
			for quiet := time.Now(); time.Since(quiet) < time.Second; time.Sleep(20 * time.Millisecond) {
				if now := lc.s.Counters().Records + lc.s.Kernel().Drops; now != seen {
					seen, quiet = now, time.Now()
				}
			}
			k, c := lc.s.Kernel(), lc.s.Counters()
			flows := len(lc.stop(t))
			t.Logf("rate %s pps, %d meter(s): sent %d in %v; accepted %d, read %d, dropped %d (%.2f%%), %d flows",
				rate, meters, limit, sent.Round(time.Millisecond), k.Packets, c.Records, k.Drops, 100*float64(k.Drops)/float64(k.Packets), flows)
		}
		if _, err := exec.LookPath("ndpiReader"); err != nil {
			continue
		}
		n := netnstest.New(t)
		cmd := exec.Command("ip", "netns", "exec", n.Name, "ndpiReader", "-i", n.A, "-s", "1000")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // nDPI's start-up
		n.Replay(t, path, replay...)
		time.Sleep(3 * time.Second)
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		var ip, total int
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.Contains(line, "IP packets:") {
				fmt.Sscanf(strings.Fields(line)[2]+" "+strings.Fields(line)[4], "%d %d", &ip, &total)
			}
		}
		t.Logf("rate %s pps, ndpiReader: read %d of %d, lost %d (%.2f%%)", rate, total, limit, limit-total, 100*float64(limit-total)/float64(limit))
	}
}
