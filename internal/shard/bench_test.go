package shard_test

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/nfstream-go/nfstream"
)

// BenchmarkBench40 meters the 40-replica benchmark capture (see
// ../shared/bench; $NFSTREAM_BENCH_PCAP overrides /tmp/bench40.pcap) with 1 and
// 2 meters, DPI off and on. The flows are counted, not exported.
func BenchmarkBench40(b *testing.B) {
	path := os.Getenv("NFSTREAM_BENCH_PCAP")
	if path == "" {
		path = "/tmp/bench40.pcap"
	}
	if _, err := os.Stat(path); err != nil {
		b.Skipf("no benchmark capture: %v", err)
	}
	for _, dpi := range []int{0, 20} {
		for _, n := range []int{1, 2} {
			b.Run("dpi"+strconv.Itoa(dpi)+"/meters"+strconv.Itoa(n), func(b *testing.B) {
				o := nfstream.DefaultOptions()
				o.NDissections, o.NMeters = dpi, n
				s, err := nfstream.New([]string{path}, o)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					for _, err := range s.Flows(context.Background()) {
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(s.Counters().Processed)*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
			})
		}
	}
}
