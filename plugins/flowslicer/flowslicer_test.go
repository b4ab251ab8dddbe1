package flowslicer_test

import (
	"errors"
	"testing"

	"github.com/nfstream-go/nfstream/decode"
	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
	"github.com/nfstream-go/nfstream/plugins/flowslicer"
	"github.com/nfstream-go/nfstream/plugins/internal/plugintest"
)

// TestExpiration is the FlowSlicer half of NFStream's
// test_expiration_management: google_ssl.pcap is one 28-packet flow.
func TestExpiration(t *testing.T) {
	for _, c := range []struct {
		limit, flows int
		sizes        []uint64
	}{
		{1, 28, nil},
		{4, 7, []uint64{4, 4, 4, 4, 4, 4, 4}},
		{5, 6, []uint64{5, 5, 5, 5, 5, 3}},
		{28, 1, []uint64{28}},
		{100, 1, []uint64{28}},
	} {
		flows := plugintest.Run(t, testcorpus.Pcap(t, "google_ssl.pcap"), flow.Config{
			Plugins: []flow.Plugin{&flowslicer.FlowSlicer{Limit: c.limit}},
		})
		if len(flows) != c.flows || flows[len(flows)-1].ID != uint64(c.flows-1) {
			t.Errorf("limit %d: %d flows, want %d (last id %d)", c.limit, len(flows), c.flows, c.flows-1)
			continue
		}
		var total uint64
		for i, f := range flows {
			total += f.BidirectionalPackets
			if c.sizes != nil && f.BidirectionalPackets != c.sizes[i] {
				t.Errorf("limit %d: flow %d has %d packets, want %d", c.limit, i, f.BidirectionalPackets, c.sizes[i])
			}
			wantExp := flow.ExpirationCustom
			if f.BidirectionalPackets < uint64(c.limit) {
				wantExp = flow.ExpirationIdle // the last piece ends with the input
			}
			if f.ExpirationID != wantExp {
				t.Errorf("limit %d: flow %d expiration_id %d, want %d", c.limit, i, f.ExpirationID, wantExp)
			}
			if f.UDPS == nil || f.UDPS.Len() != 0 {
				t.Errorf("limit %d: flow %d udps %v, want none", c.limit, i, f.UDPS)
			}
		}
		if total != 28 {
			t.Errorf("limit %d: %d packets in all, want 28", c.limit, total)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := (&flowslicer.FlowSlicer{Limit: 1}).Validate(); err != nil {
		t.Error(err)
	}
	if err := (&flowslicer.FlowSlicer{}).Validate(); !errors.Is(err, flowslicer.ErrInvalid) {
		t.Errorf("limit 0: %v", err)
	}
}

func TestAllocs(t *testing.T) {
	s := &flowslicer.FlowSlicer{Limit: 4}
	p := &flow.Packet{Packet: &decode.Packet{}}
	f := &flow.Flow{}
	n := testing.AllocsPerRun(1000, func() {
		f.BidirectionalPackets = f.BidirectionalPackets%6 + 1
		f.ExpirationID = 0
		s.OnInit(p, f)
		s.OnUpdate(p, f)
	})
	if n != 0 {
		t.Errorf("hooks allocate %v times per packet", n)
	}
}

func BenchmarkOnUpdate(b *testing.B) {
	s := &flowslicer.FlowSlicer{Limit: 4}
	p := &flow.Packet{Packet: &decode.Packet{}}
	f := &flow.Flow{}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.BidirectionalPackets = uint64(i % 3)
		s.OnUpdate(p, f)
	}
}
