package nfstream_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nfstream-go/nfstream"
	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/pcapgen"
)

// TestMaxTrackedFlows runs a generated SYN flood (200,000 one-packet flows
// plus one busy legitimate connection) with max_tracked_flows 5000, DPI on
// (when built with nDPI), with one and two meters: every flood flow but
// the last 4999 is evicted early with expiration_id 2 and counted, no
// packet is lost, and the busy connection, seen every 1000 packets, is
// never evicted (least recently seen goes first).
func TestMaxTrackedFlows(t *testing.T) {
	const n, limit = 200_000, 5000
	path := filepath.Join(t.TempDir(), "flood.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	packets, err := pcapgen.Flood(pcapgen.NewWriter(bw, 1, false), n, 10)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil || f.Close() != nil {
		t.Fatal(err)
	}
	for _, meters := range []int{1, 2} {
		o := nfstream.DefaultOptions()
		o.MaxTrackedFlows = limit
		o.NMeters = meters
		s, err := nfstream.New([]string{path}, o)
		if err != nil {
			t.Fatal(err)
		}
		var flows, evicted, pkts, keeper uint64
		for fl, err := range s.Flows(context.Background()) {
			if err != nil {
				t.Fatal(err)
			}
			flows++
			pkts += fl.BidirectionalPackets
			if fl.ExpirationID == flow.ExpirationEvicted {
				evicted++
			}
			if fl.SrcPort == 5000 {
				keeper++
				if fl.BidirectionalPackets != n/pcapgen.KeeperEvery || fl.ExpirationID != flow.ExpirationIdle {
					t.Errorf("%d meters: busy connection has %d packets, expiration_id %d; want %d, 0",
						meters, fl.BidirectionalPackets, fl.ExpirationID, n/pcapgen.KeeperEvery)
				}
			}
		}
		c := s.Counters()
		if flows != n+1 || keeper != 1 || pkts != uint64(packets) {
			t.Errorf("%d meters: %d flows (%d of the busy connection), %d packets; want %d, 1, %d", meters, flows, keeper, pkts, n+1, packets)
		}
		if want := uint64(n + 1 - limit); evicted != want || c.Evicted != want {
			t.Errorf("%d meters: %d flows with expiration_id 2, Counters.Evicted %d; want %d", meters, evicted, c.Evicted, want)
		}
	}
}

// TestMaxTrackedFlowsRefused: a negative cap is refused with its name.
func TestMaxTrackedFlowsRefused(t *testing.T) {
	o := nfstream.DefaultOptions()
	o.MaxTrackedFlows = -1
	_, err := nfstream.New([]string{"x.pcap"}, o)
	var oe *nfstream.OptionError
	if !errors.As(err, &oe) || oe.Name != "max_tracked_flows" {
		t.Fatalf("got %v, want an OptionError naming max_tracked_flows", err)
	}
}
