package ipfix

import (
	"net"
	"testing"

	"github.com/nfstream-go/nfstream/internal/flowtest"
)

// BenchmarkWrite measures encoding and sending flows (those of facebook.pcap
// and steam.pcap, with statistics and SPLT) over loopback UDP to a socket
// that discards them; b.N flows.
func BenchmarkWrite(b *testing.B) {
	f1, cols := flowtest.Capture(b, "facebook.pcap")
	f2, _ := flowtest.Capture(b, "steam.pcap")
	flows := append(f1, f2...)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	pc.(*net.UDPConn).SetReadBuffer(8 << 20)
	go func() {
		buf := make([]byte, 65535)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	w, err := New(Config{Addr: pc.LocalAddr().String()}, cols)
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
}
