package kafka

import (
	"testing"

	"github.com/nfstream-go/nfstream/internal/flowtest"
	"github.com/twmb/franz-go/pkg/kfake"
)

// BenchmarkWrite measures producing flows (those of steam.pcap, with
// statistics and SPLT) to an in-process kfake broker, Close's flush
// included; b.N flows.
func BenchmarkWrite(b *testing.B) {
	for _, comp := range []string{"none", "lz4"} {
		b.Run(comp, func(b *testing.B) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "flows"))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			flows, cols := flowtest.Capture(b, "steam.pcap")
			w, err := New(Config{Brokers: c.ListenAddrs(), Topic: "flows", Compression: comp}, cols)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := w.Write(flows[i%len(flows)]); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
		})
	}
}
