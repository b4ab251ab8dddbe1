package nfstream_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/nfstream-go/nfstream"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

// collect runs a streamer over the corpus captures and returns its flows.
func collect(t *testing.T, opts nfstream.Options, names ...string) ([]*nfstream.Flow, *nfstream.Streamer) {
	t.Helper()
	var paths []string
	for _, n := range names {
		paths = append(paths, testcorpus.Pcap(t, n))
	}
	s, err := nfstream.New(paths, opts)
	if err != nil {
		t.Fatal(err)
	}
	var flows []*nfstream.Flow
	for f, err := range s.Flows(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		flows = append(flows, f)
	}
	return flows, s
}

func noDPI() nfstream.Options {
	o := nfstream.DefaultOptions()
	o.NDissections = 0
	return o
}

// TestStatistical is NFStream's test_statistical (behaviour spec, appendix A.1).
func TestStatistical(t *testing.T) {
	o := noDPI()
	o.StatisticalAnalysis = true
	o.AccountingMode = 1
	flows, _ := collect(t, o, "google_ssl.pcap")
	if len(flows) != 1 {
		t.Fatalf("%d flows, want 1", len(flows))
	}
	f := flows[0]
	if f.ID != 0 || f.ExpirationID != 0 || f.SrcIP.String() != "172.31.3.224" || f.SrcPort != 42835 ||
		f.DstIP.String() != "216.58.212.100" || f.DstPort != 443 || f.SrcMAC.String() != "80:c6:ca:00:9e:9f" ||
		f.DstMAC.String() != "00:0e:8e:4d:b4:a8" || f.SrcMAC.OUI() != "80:c6:ca" || f.Protocol != 6 || f.IPVersion != 4 ||
		f.VlanID != 0 || f.TunnelID != 0 {
		t.Errorf("identity: %+v", f)
	}
	u := []uint64{
		f.BidirectionalFirstSeenMs, f.BidirectionalLastSeenMs, f.BidirectionalDurationMs(), f.BidirectionalPackets, f.BidirectionalBytes,
		f.Src2DstFirstSeenMs(), f.Src2DstLastSeenMs, f.Src2DstDurationMs(), f.Src2DstPackets, f.Src2DstBytes,
		f.Dst2SrcFirstSeenMs, f.Dst2SrcLastSeenMs, f.Dst2SrcDurationMs(), f.Dst2SrcPackets, f.Dst2SrcBytes,
	}
	wantU := []uint64{
		1434443394683, 1434443401353, 6670, 28, 8696,
		1434443394683, 1434443401353, 6670, 16, 1288,
		1434443394717, 1434443401308, 6591, 12, 7408,
	}
	if !slices.Equal(u, wantU) {
		t.Errorf("time and volume:\n got %v\nwant %v", u, wantU)
	}
	st := f.Stats
	type dist struct {
		min      uint64
		mean, sd float64
		max      uint64
	}
	for _, c := range []struct {
		name string
		got  dist
		want dist
	}{
		{"bidirectional_ps", dist{st.Bidirectional.PS.Min, st.Bidirectional.PS.Mean(), st.Bidirectional.PS.Stddev(), st.Bidirectional.PS.Max}, dist{40, 310.57142857142856, 500.54617788019937, 1470}},
		{"src2dst_ps", dist{st.Src2Dst.PS.Min, st.Src2Dst.PS.Mean(), st.Src2Dst.PS.Stddev(), st.Src2Dst.PS.Max}, dist{40, 80.49999999999999, 89.55519713189922, 354}},
		{"dst2src_ps", dist{st.Dst2Src.PS.Min, st.Dst2Src.PS.Mean(), st.Dst2Src.PS.Stddev(), st.Dst2Src.PS.Max}, dist{40, 617.3333333333334, 651.4524099458397, 1470}},
		{"bidirectional_piat_ms", dist{st.Bidirectional.PIAT.Min, st.Bidirectional.PIAT.Mean(), st.Bidirectional.PIAT.Stddev(), st.Bidirectional.PIAT.Max}, dist{0, 247.037037037037, 324.04599406227237, 995}},
		{"src2dst_piat_ms", dist{st.Src2Dst.PIAT.Min, st.Src2Dst.PIAT.Mean(), st.Src2Dst.PIAT.Stddev(), st.Src2Dst.PIAT.Max}, dist{76, 444.6666666666667, 397.60329595261277, 1185}},
		{"dst2src_piat_ms", dist{st.Dst2Src.PIAT.Min, st.Dst2Src.PIAT.Mean(), st.Dst2Src.PIAT.Stddev(), st.Dst2Src.PIAT.Max}, dist{66, 599.1818181818182, 384.78456782511904, 1213}},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %+v, want %+v (bit-exact)", c.name, c.got, c.want)
		}
	}
	flags := [][8]uint64{st.Bidirectional.Flags, st.Src2Dst.Flags, st.Dst2Src.Flags}
	wantFlags := [][8]uint64{{2, 0, 0, 0, 27, 8, 0, 2}, {1, 0, 0, 0, 15, 4, 0, 1}, {1, 0, 0, 0, 12, 4, 0, 1}}
	if !slices.Equal(flags, wantFlags) {
		t.Errorf("flags (syn cwr ece urg ack psh rst fin): got %v, want %v", flags, wantFlags)
	}
}

// TestAccountingModes checks the other modes of appendix A.1.
func TestAccountingModes(t *testing.T) {
	for _, c := range []struct {
		mode             int
		bytes, s2d, d2s  uint64
		psMin, psMax     uint64
		psMean, psStddev float64
		d2sMean, s2dMean float64
	}{
		{0, 9108, 1512, 7596, 54, 1484, 325.2857142857144, 500.14981882416123, 632.9999999999999, 94.5},
		{2, 8136, 968, 7168, 20, 1450, 290.57142857142856, 500.54617788019937, 597.3333333333334, 60.49999999999999},
		{3, 7568, 644, 6924, 0, 1430, 270.2857142857142, 500.70504788103045, 577.0, 40.25},
	} {
		o := noDPI()
		o.StatisticalAnalysis = true
		o.AccountingMode = c.mode
		flows, _ := collect(t, o, "google_ssl.pcap")
		f := flows[0]
		ps := f.Stats.Bidirectional.PS
		got := []any{f.BidirectionalBytes, f.Src2DstBytes, f.Dst2SrcBytes, ps.Min, ps.Max, ps.Mean(), ps.Stddev(), f.Stats.Dst2Src.PS.Mean(), f.Stats.Src2Dst.PS.Mean()}
		want := []any{c.bytes, c.s2d, c.d2s, c.psMin, c.psMax, c.psMean, c.psStddev, c.d2sMean, c.s2dMean}
		if !slices.Equal(got, want) {
			t.Errorf("accounting_mode %d:\n got %v\nwant %v", c.mode, got, want)
		}
	}
}

// TestSPLT is the native half of NFStream's test_splt.
func TestSPLT(t *testing.T) {
	o := noDPI()
	o.SPLTAnalysis = 5
	flows, _ := collect(t, o, "google_ssl.pcap")
	sp := flows[0].SPLT
	if !slices.Equal(sp.Direction, []int8{0, 1, 0, 0, 1}) || !slices.Equal(sp.PS, []int32{58, 60, 54, 180, 60}) ||
		!slices.Equal(sp.PIATMs, []int64{0, 34, 134, 144, 35}) {
		t.Errorf("splt: %v %v %v", sp.Direction, sp.PS, sp.PIATMs)
	}
	o.SPLTAnalysis = 40 // longer than the flow: padded with -1
	flows, _ = collect(t, o, "google_ssl.pcap")
	sp = flows[0].SPLT
	if len(sp.PS) != 40 || sp.PS[27] == -1 || sp.PS[28] != -1 || sp.Direction[39] != -1 || sp.PIATMs[28] != -1 {
		t.Errorf("splt padding: %v", sp.PS)
	}
}

// TestExpirationManagement is NFStream's test_expiration_management without plugins.
func TestExpirationManagement(t *testing.T) {
	o := noDPI()
	o.IdleTimeout = 0
	flows, _ := collect(t, o, "google_ssl.pcap")
	if len(flows) != 28 || flows[27].ID != 27 {
		t.Errorf("idle_timeout=0: %d flows, want 28", len(flows))
	}
	o = noDPI()
	o.ActiveTimeout = 0
	flows, _ = collect(t, o, "google_ssl.pcap")
	if len(flows) != 28 {
		t.Errorf("active_timeout=0: %d flows, want 28", len(flows))
	}
	for i, f := range flows {
		want := int8(1)
		if i == 27 {
			want = 0 // the last one ends with the input
		}
		if f.ExpirationID != want || f.BidirectionalPackets != 1 {
			t.Errorf("active_timeout=0: flow %d expiration_id %d packets %d", i, f.ExpirationID, f.BidirectionalPackets)
		}
	}
	// idle_timeout=500ms splits the flow at every gap of at least 500 ms
	// between consecutive packets (read from a 28-long SPLT).
	o = noDPI()
	o.SPLTAnalysis = 28
	whole, _ := collect(t, o, "google_ssl.pcap")
	cuts := 0
	for _, gap := range whole[0].SPLT.PIATMs {
		if gap >= 500 {
			cuts++
		}
	}
	o = noDPI()
	o.IdleTimeout = 500 * time.Millisecond
	flows, _ = collect(t, o, "google_ssl.pcap")
	if cuts == 0 || len(flows) != cuts+1 {
		t.Errorf("idle_timeout=500ms: %d flows, want %d", len(flows), cuts+1)
	}
	var total uint64
	for _, f := range flows {
		total += f.BidirectionalPackets
		if f.ExpirationID != 0 {
			t.Errorf("idle expiry with expiration_id %d", f.ExpirationID)
		}
	}
	if total != 28 {
		t.Errorf("idle_timeout=500ms: %d packets in all, want 28", total)
	}
}

// TestMultiFiles is the metering half of NFStream's test_multi_files (appendix A.2).
func TestMultiFiles(t *testing.T) {
	flows, _ := collect(t, noDPI(), "one_flow_1_5.pcap", "one_flow_6_10.pcap", "one_flow_11_15.pcap", "one_flow_16_19.pcap")
	if len(flows) != 1 {
		t.Fatalf("%d flows, want 1", len(flows))
	}
	f := flows[0]
	got := []any{f.SrcIP.String(), f.SrcPort, f.SrcMAC.String(), f.DstIP.String(), f.DstPort, f.DstMAC.String(),
		f.BidirectionalFirstSeenMs, f.BidirectionalLastSeenMs, f.BidirectionalDurationMs(), f.BidirectionalPackets, f.BidirectionalBytes,
		f.Src2DstLastSeenMs, f.Src2DstDurationMs(), f.Src2DstPackets, f.Src2DstBytes,
		f.Dst2SrcFirstSeenMs, f.Dst2SrcLastSeenMs, f.Dst2SrcDurationMs(), f.Dst2SrcPackets, f.Dst2SrcBytes}
	want := []any{"192.168.43.18", uint16(52066), "30:52:cb:6c:9c:1b", "66.220.156.68", uint16(443), "98:0c:82:d3:3c:7c",
		uint64(1472393122365), uint64(1472393123665), uint64(1300), uint64(19), uint64(5745),
		uint64(1472393123408), uint64(1043), uint64(9), uint64(1345),
		uint64(1472393122668), uint64(1472393123665), uint64(997), uint64(10), uint64(4400)}
	if !slices.Equal(got, want) {
		t.Errorf("multi-file flow:\n got %v\nwant %v", got, want)
	}
}

// TestMaxNFlows is NFStream's test_max_nflows.
func TestMaxNFlows(t *testing.T) {
	for _, c := range []struct{ max, want int }{{0, 294}, {100, 100}, {0, 294}} {
		o := noDPI()
		o.MaxNFlows = c.max
		flows, _ := collect(t, o, "skype.pcap")
		if len(flows) != c.want || flows[len(flows)-1].ID != uint64(c.want-1) {
			t.Errorf("max_nflows=%d: %d flows, want %d", c.max, len(flows), c.want)
		}
	}
}

// TestBPF is NFStream's test_bpf.
func TestBPF(t *testing.T) {
	o := noDPI()
	o.BPFFilter = "src port 52066 or dst port 52066"
	flows, s := collect(t, o, "facebook.pcap")
	if len(flows) != 1 || flows[0].SrcPort != 52066 || flows[0].BidirectionalPackets != 19 {
		t.Fatalf("bpf: %d flows", len(flows))
	}
	if c := s.Counters(); c.Records != 60 || c.Filtered != 41 || c.Processed != 19 {
		t.Errorf("bpf counters: %+v", c)
	}
	o.BPFFilter = "my filter"
	_, err := nfstream.New([]string{testcorpus.Pcap(t, "facebook.pcap")}, o)
	var oe *nfstream.OptionError
	if !errors.As(err, &oe) || oe.Name != "bpf_filter" {
		t.Errorf("invalid filter: got %v, want an OptionError naming bpf_filter", err)
	}
}

// TestTunnelDecoding is NFStream's test_tunnel_decoding.
func TestTunnelDecoding(t *testing.T) {
	o := noDPI()
	o.StatisticalAnalysis = true
	flows, s := collect(t, o, "gtp-u.pcap")
	if len(flows) != 1 || flows[0].TunnelID != 1 || flows[0].BidirectionalPackets != 102 || flows[0].Protocol != 1 {
		t.Errorf("decode_tunnels: %d flows", len(flows))
	}
	if slices.Contains(nfstreamColumnNames(s), "tunnel_id") != true {
		t.Error("tunnel_id column missing with decode_tunnels")
	}
	o.DecodeTunnels = false
	flows, s = collect(t, o, "gtp-u.pcap")
	if len(flows) != 1 || flows[0].Protocol != 17 {
		t.Errorf("no decode_tunnels: %d flows", len(flows))
	}
	if slices.Contains(nfstreamColumnNames(s), "tunnel_id") {
		t.Error("tunnel_id column present without decode_tunnels")
	}
}

func nfstreamColumnNames(s *nfstream.Streamer) []string {
	var names []string
	for _, c := range s.Columns() {
		names = append(names, c.Name)
	}
	return names
}

// TestDerivedFacts checks appendix A.3: records, ignored records, flows,
// packets, tunnel and VLAN ids per capture.
func TestDerivedFacts(t *testing.T) {
	for _, c := range []struct {
		name                    string
		records, ignored, flows uint64
		packets                 uint64
		tunnels, vlans          []int
	}{
		{"google_ssl.pcap", 28, 0, 1, 28, []int{0}, []int{0}},
		{"skype.pcap", 3284, 215, 294, 3069, []int{0}, []int{0}},
		{"steam.pcap", 104, 0, 55, 104, []int{0}, []int{0}},
		{"gtp-u.pcap", 102, 0, 1, 102, []int{1}, []int{0}},
		{"ipv6_in_gtp.pcap", 2, 0, 2, 2, []int{1}, []int{2, 5}},
		{"capwap.pcap", 422, 180, 17, 242, []int{0, 2}, []int{0}},
		{"4in4tunnel.pcap", 5, 0, 5, 5, []int{0}, []int{505}},
		{"4in6tunnel.pcap", 4, 0, 1, 4, []int{0}, []int{0}},
		{"6in4tunnel.pcap", 127, 0, 10, 127, []int{0}, []int{0}},
		{"6in6tunnel.pcap", 2, 0, 1, 2, []int{0}, []int{0}},
		{"dns_fragmented.pcap", 66, 7, 21, 59, []int{0}, []int{0}},
		{"ip_fragmented_garbage.pcap", 9077, 9048, 1, 29, []int{0}, []int{0}},
		{"dos_win98_smb_netbeui.pcap", 220, 158, 4, 62, []int{0}, []int{0}},
		{"anydesk-2.pcap", 2521, 438, 4, 2083, []int{0}, []int{0}},
		{"mongodb.pcap", 27, 0, 8, 27, []int{0}, []int{50, 100, 300}},
		{"dhcp.pcap", 4, 0, 2, 4, []int{0}, []int{0}},
		{"mdns.pcap", 292, 0, 33, 292, []int{0}, []int{0}},
		{"raw.pcap", 1, 0, 1, 1, []int{0}, []int{0}},
		{"nats.pcap", 27, 0, 2, 27, []int{0}, []int{0}},
		{"dlt_ppp.pcap", 1, 0, 1, 1, []int{0}, []int{0}},
		{"BGP_Cisco_hdlc_slarp.pcap", 14, 0, 1, 14, []int{0}, []int{0}},
		{"http_ipv6.pcap", 193, 0, 15, 193, []int{0}, []int{0}},
		{"teredo.pcap", 24, 0, 5, 24, []int{0}, []int{0}},
	} {
		flows, s := collect(t, noDPI(), c.name)
		var packets uint64
		var tunnels, vlans []int
		for _, f := range flows {
			packets += f.BidirectionalPackets
			if !slices.Contains(tunnels, int(f.TunnelID)) {
				tunnels = append(tunnels, int(f.TunnelID))
			}
			if !slices.Contains(vlans, int(f.VlanID)) {
				vlans = append(vlans, int(f.VlanID))
			}
		}
		slices.Sort(tunnels)
		slices.Sort(vlans)
		cn := s.Counters()
		if cn.Records != c.records || cn.Ignored != c.ignored || uint64(len(flows)) != c.flows || packets != c.packets ||
			!slices.Equal(tunnels, c.tunnels) || !slices.Equal(vlans, c.vlans) {
			t.Errorf("%s: records %d ignored %d flows %d packets %d tunnels %v vlans %v; want %d %d %d %d %v %v",
				c.name, cn.Records, cn.Ignored, len(flows), packets, tunnels, vlans,
				c.records, c.ignored, c.flows, c.packets, c.tunnels, c.vlans)
		}
	}
}

// TestIterationControl checks early exit and cancellation: breaking out of
// the loop stops at once; cancelling the context flushes every cached flow
// (nothing read is lost) and then yields the context's error.
func TestIterationControl(t *testing.T) {
	path := testcorpus.Pcap(t, "skype.pcap")
	s, err := nfstream.New([]string{path}, noDPI())
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

	// With a short idle timeout flows end while the file is being read.
	// One meter: several read ahead of the flows by a few batches, more
	// than this file (see TestShardedIterationControl).
	o := noDPI()
	o.IdleTimeout = time.Second
	o.NMeters = 1
	if s, err = nfstream.New([]string{path}, o); err != nil {
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
		cancel() // at the first flow: the rest of the cache is flushed
	}
	c := s.Counters()
	if !errors.Is(last, context.Canceled) || packets != c.Processed || c.Records == 3284 {
		t.Errorf("cancel: err %v, %d packets in flows, counters %+v", last, packets, c)
	}
}

// TestProgress checks the progress the reader publishes: at the end of a
// run, every record and every byte of the files.
func TestProgress(t *testing.T) {
	paths := []string{testcorpus.Pcap(t, "skype.pcap"), testcorpus.Pcap(t, "google_ssl.pcap")}
	var size int64
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		size += st.Size()
	}
	for _, meters := range []int{1, 2} {
		o := noDPI()
		o.NMeters = meters
		s, err := nfstream.New(paths, o)
		if err != nil {
			t.Fatal(err)
		}
		for range s.Flows(context.Background()) {
		}
		if r, b := s.Progress(); r != 3284+28 || b != size {
			t.Errorf("n_meters=%d: progress %d records, %d bytes; want %d and %d", meters, r, b, 3284+28, size)
		}
	}
}
