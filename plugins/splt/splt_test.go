package splt_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/nfstream-go/nfstream/decode"
	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
	"github.com/nfstream-go/nfstream/plugins/internal/plugintest"
	"github.com/nfstream-go/nfstream/plugins/splt"
)

func lists(t *testing.T, f *flow.Flow) (dir, ps, piat []int64) {
	t.Helper()
	get := func(name string) []int64 {
		v, ok := f.UDPS.Get(name)
		if !ok || v.Kind != flow.KindList {
			t.Fatalf("udps.%s = %+v, %v; want a list", name, v, ok)
		}
		return v.List
	}
	if got, want := f.UDPS.Names(), []string{splt.Direction, splt.PS, splt.PIATMs}; !slices.Equal(got, want) {
		t.Fatalf("udps names %q, want %q", got, want)
	}
	return get(splt.Direction), get(splt.PS), get(splt.PIATMs)
}

func native(f *flow.Flow) (dir, ps, piat []int64) {
	for i := range f.SPLT.PS {
		dir = append(dir, int64(f.SPLT.Direction[i]))
		ps = append(ps, int64(f.SPLT.PS[i]))
	}
	return dir, ps, append([]int64(nil), f.SPLT.PIATMs...)
}

// TestGoogleSSL is NFStream's test_splt: plugin and native sequences agree.
func TestGoogleSSL(t *testing.T) {
	flows := plugintest.Run(t, testcorpus.Pcap(t, "google_ssl.pcap"), flow.Config{
		SPLTAnalysis: 5,
		Plugins:      []flow.Plugin{&splt.SPLT{SequenceLength: 5, AccountingMode: 0}},
	})
	if len(flows) != 1 {
		t.Fatalf("%d flows, want 1", len(flows))
	}
	dir, ps, piat := lists(t, flows[0])
	for _, c := range []struct {
		name      string
		got, want []int64
	}{
		{"splt_direction", dir, []int64{0, 1, 0, 0, 1}},
		{"splt_ps", ps, []int64{58, 60, 54, 180, 60}},
		{"splt_piat_ms", piat, []int64{0, 34, 134, 144, 35}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("udps.%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	nd, np, npiat := native(flows[0])
	if !slices.Equal(dir, nd) || !slices.Equal(ps, np) || !slices.Equal(piat, npiat) {
		t.Errorf("plugin %v %v %v differs from native %v %v %v", dir, ps, piat, nd, np, npiat)
	}
}

// TestMatchesNative compares plugin and native sequences on every flow of
// several captures, in every accounting mode, with sequences longer than
// most flows (so the -1 padding is checked too).
func TestMatchesNative(t *testing.T) {
	for _, name := range []string{"google_ssl.pcap", "dhcp.pcap", "mdns.pcap", "facebook.pcap", "skype.pcap"} {
		for mode := range 4 {
			flows := plugintest.Run(t, testcorpus.Pcap(t, name), flow.Config{
				SPLTAnalysis:   12,
				AccountingMode: mode,
				Plugins:        []flow.Plugin{&splt.SPLT{SequenceLength: 12, AccountingMode: mode}},
			})
			if len(flows) == 0 {
				t.Fatalf("%s: no flows", name)
			}
			for _, f := range flows {
				dir, ps, piat := lists(t, f)
				nd, np, npiat := native(f)
				if !slices.Equal(dir, nd) || !slices.Equal(ps, np) || !slices.Equal(piat, npiat) {
					t.Fatalf("%s mode %d flow %d: plugin %v %v %v, native %v %v %v", name, mode, f.ID, dir, ps, piat, nd, np, npiat)
				}
			}
		}
	}
}

func TestShortFlowPadding(t *testing.T) {
	p := &flow.Packet{Packet: &decode.Packet{RawSize: 60, IPSize: 46, TransportSize: 26, PayloadSize: 18}}
	for mode, want := range []int64{60, 46, 26, 18, 18} {
		f := &flow.Flow{BidirectionalPackets: 1, UDPS: &flow.UDPS{}}
		s := &splt.SPLT{SequenceLength: 3, AccountingMode: mode}
		s.OnInit(p, f)
		dir, ps, piat := lists(t, f)
		if !slices.Equal(dir, []int64{0, -1, -1}) || !slices.Equal(ps, []int64{want, -1, -1}) || !slices.Equal(piat, []int64{0, -1, -1}) {
			t.Errorf("mode %d: %v %v %v", mode, dir, ps, piat)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		s    splt.SPLT
		errs bool
	}{
		{splt.SPLT{SequenceLength: 5}, false},
		{splt.SPLT{SequenceLength: 65535, AccountingMode: 3}, false},
		{splt.SPLT{SequenceLength: 0}, true},
		{splt.SPLT{SequenceLength: 5, AccountingMode: 4}, true},
		{splt.SPLT{SequenceLength: -1, AccountingMode: -1}, true},
	} {
		err := c.s.Validate()
		if (err != nil) != c.errs || (err != nil && !errors.Is(err, splt.ErrInvalid)) {
			t.Errorf("%+v: Validate() = %v", c.s, err)
		}
	}
	// A zero length must not crash (NFStream's does): empty sequences.
	f := &flow.Flow{BidirectionalPackets: 1, UDPS: &flow.UDPS{}}
	s := &splt.SPLT{}
	s.OnInit(&flow.Packet{Packet: &decode.Packet{}}, f)
	f.BidirectionalPackets = 2
	s.OnUpdate(&flow.Packet{Packet: &decode.Packet{}}, f)
	if dir, _, _ := lists(t, f); len(dir) != 0 {
		t.Errorf("zero length: %v", dir)
	}
}

func TestOnUpdateAllocs(t *testing.T) {
	s := &splt.SPLT{SequenceLength: 10, AccountingMode: 1}
	p := &flow.Packet{Packet: &decode.Packet{IPSize: 100}, Direction: 1, DeltaTimeMs: 3}
	f := &flow.Flow{BidirectionalPackets: 1, UDPS: &flow.UDPS{}}
	s.OnInit(p, f)
	n := testing.AllocsPerRun(1000, func() {
		f.BidirectionalPackets = f.BidirectionalPackets%12 + 1
		s.OnUpdate(p, f)
	})
	if n != 0 {
		t.Errorf("OnUpdate allocates %v times per packet", n)
	}
}

func BenchmarkOnUpdate(b *testing.B) {
	s := &splt.SPLT{SequenceLength: 10, AccountingMode: 1}
	p := &flow.Packet{Packet: &decode.Packet{IPSize: 100}, Direction: 1, DeltaTimeMs: 3}
	f := &flow.Flow{BidirectionalPackets: 1, UDPS: &flow.UDPS{}}
	s.OnInit(p, f)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.BidirectionalPackets = uint64(i%10) + 2
		s.OnUpdate(p, f)
	}
}
