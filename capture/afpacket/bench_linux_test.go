//go:build linux

package afpacket_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/nfstream-go/nfstream/capture"
	"github.com/nfstream-go/nfstream/capture/afpacket"
	"github.com/nfstream-go/nfstream/internal/netnstest"

	"golang.org/x/sys/unix"
)

// BenchmarkNext reads packets that another goroutine sends into the veth
// pair as fast as it can (the frames of google_ssl.pcap, over and over).
// The sender shares the CPUs, so this is a lower bound of the reader's
// speed; what it shows exactly is that reading does not allocate.
func BenchmarkNext(b *testing.B) {
	frames := readFile(b, "google_ssl.pcap")
	n := netnstest.New(b)
	s, err := afpacket.Open(afpacket.Config{Interface: n.A, Namespace: n.Path, SnapshotLength: 1536, RingSize: 32 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var fd int
	if err := n.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		ifr, err := unix.NewIfreq(n.B)
		if err != nil {
			return err
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: int(ifr.Uint32())})
	}); err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; !stop.Load(); i++ {
			unix.Write(fd, frames[i%len(frames)].data)
		}
	}()
	var rec capture.Record
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for {
			err := s.NextTimeout(&rec)
			if err == nil {
				break
			}
			if !errors.Is(err, afpacket.ErrTimeout) {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	stop.Store(true)
	<-done
	st, _ := s.Stats()
	b.ReportMetric(float64(st.Drops), "drops")
}
