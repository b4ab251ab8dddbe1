//go:build linux

package afpacket_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nfstream-go/nfstream/capture"
	"github.com/nfstream-go/nfstream/capture/afpacket"
	"github.com/nfstream-go/nfstream/decode"
	"github.com/nfstream-go/nfstream/filter"
	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/netnstest"
	"github.com/nfstream-go/nfstream/internal/testcorpus"

	"golang.org/x/sys/unix"
)

// frame is one record, copied.
type frame struct {
	data []byte
	wire uint32
}

func (f frame) String() string {
	return fmt.Sprintf("%d/%d bytes % x", len(f.data), f.wire, f.data[:min(len(f.data), 24)])
}

// readFile returns the records of a corpus capture.
func readFile(t testing.TB, name string) []frame {
	t.Helper()
	src, err := capture.OpenFiles([]string{testcorpus.Pcap(t, name)})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out []frame
	var rec capture.Record
	for {
		err := src.Next(&rec)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, frame{bytes.Clone(rec.Data), rec.WireLen})
	}
}

// collect reads from s until n records arrived or nothing came for a
// second.
func collect(t *testing.T, s *afpacket.Socket, n int) []frame {
	t.Helper()
	var out []frame
	var rec capture.Record
	var last uint64
	quiet := time.Now()
	for len(out) < n && time.Since(quiet) < time.Second {
		err := s.NextTimeout(&rec)
		if errors.Is(err, afpacket.ErrTimeout) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.LinkType != s.LinkType() || (last != 0 && rec.Number != last+1) {
			t.Fatalf("record %d: link type %d, number %d after %d", len(out)+1, rec.LinkType, rec.Number, last)
		}
		last = rec.Number
		out = append(out, frame{bytes.Clone(rec.Data), rec.WireLen})
		quiet = time.Now()
	}
	return out
}

func open(t *testing.T, cfg afpacket.Config) *afpacket.Socket {
	t.Helper()
	s, err := afpacket.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sameFrames(t *testing.T, got, want []frame) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d records, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if !bytes.Equal(got[i].data, want[i].data) || got[i].wire != want[i].wire {
			t.Errorf("record %d:\n got %v\nwant %v", i+1, got[i], want[i])
			return
		}
	}
}

// TestReplay checks that a replayed capture comes back record for record,
// byte for byte, VLAN tags included (the kernel takes them out of the frame;
// they must be put back).
func TestReplay(t *testing.T) {
	for _, name := range []string{"google_ssl.pcap", "dhcp.pcap", "ja3_lots_of_cipher_suites.pcap", "4in4tunnel.pcap", "check_mk_new.pcap"} {
		t.Run(name, func(t *testing.T) {
			want := readFile(t, name)
			n := netnstest.New(t)
			s := open(t, afpacket.Config{Interface: n.A, Namespace: n.Path})
			if s.LinkType() != afpacket.LinkTypeEthernet {
				t.Fatalf("link type %d, want 1", s.LinkType())
			}
			n.Replay(t, testcorpus.Pcap(t, name))
			got := collect(t, s, len(want))
			sameFrames(t, got, want)
			st, err := s.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if st != (afpacket.Stats{Packets: uint64(len(want))}) {
				t.Errorf("stats %+v, want %d packets and nothing else", st, len(want))
			}
		})
	}
}

// TestSnapshotLength checks that records are cut to the snapshot length and
// keep their wire length, with and without a filter, VLAN tags included.
func TestSnapshotLength(t *testing.T) {
	for _, expr := range []string{"", "tcp"} {
		t.Run(fmt.Sprintf("filter=%q", expr), func(t *testing.T) {
			if expr != "" {
				needFilters(t)
			}
			all := append(readFile(t, "google_ssl.pcap"), readFile(t, "ja3_lots_of_cipher_suites.pcap")...)
			var want []frame
			for _, fr := range all {
				if expr != "" {
					// As in a file: "tcp" does not match VLAN-tagged
					// frames (their ether-type is 0x8100).
					f, err := filter.Compile(expr, 1, 64)
					if err != nil {
						t.Fatal(err)
					}
					if !f.Match(fr.data, fr.wire) {
						continue
					}
				}
				fr.data = fr.data[:min(len(fr.data), 64)]
				want = append(want, fr)
			}
			n := netnstest.New(t)
			s := open(t, afpacket.Config{Interface: n.A, Namespace: n.Path, SnapshotLength: 64, Filter: expr})
			n.Replay(t, testcorpus.Pcap(t, "google_ssl.pcap"))
			n.Replay(t, testcorpus.Pcap(t, "ja3_lots_of_cipher_suites.pcap"))
			sameFrames(t, collect(t, s, len(want)), want)
		})
	}
}

// needFilters skips tests of BPF filters in builds without cgo, where
// libpcap cannot compile them.
func needFilters(t *testing.T) {
	t.Helper()
	if _, err := filter.Compile("tcp", 1, 0); errors.Is(err, filter.ErrNotSupported) {
		t.Skip("BPF filters need cgo")
	}
}

// TestFilter checks that the socket keeps exactly the packets libpcap's
// filter accepts in the file, also for expressions on VLAN tags, which the
// kernel holds outside the frame.
func TestFilter(t *testing.T) {
	needFilters(t)
	files := []string{"facebook.pcap", "ja3_lots_of_cipher_suites.pcap", "google_ssl.pcap"}
	var all []frame
	for _, f := range files {
		all = append(all, readFile(t, f)...)
	}
	for _, expr := range []string{"src port 52066 or dst port 52066", "vlan", "not vlan", "vlan and tcp port 443", "vlan 10", "tcp[tcpflags] & tcp-syn != 0"} {
		t.Run(expr, func(t *testing.T) {
			f, err := filter.Compile(expr, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			var want []frame
			for _, fr := range all {
				if f.Match(fr.data, fr.wire) {
					want = append(want, fr)
				}
			}
			n := netnstest.New(t)
			s := open(t, afpacket.Config{Interface: n.A, Namespace: n.Path, Filter: expr})
			for _, name := range files {
				n.Replay(t, testcorpus.Pcap(t, name))
			}
			got := collect(t, s, len(want)+1) // +1: wait for a quiet second, nothing more may come
			sameFrames(t, got, want)
			st, _ := s.Stats()
			t.Logf("%d of %d records kept; stats %+v", len(want), len(all), st)
		})
	}
	t.Run("invalid", func(t *testing.T) {
		n := netnstest.New(t)
		_, err := afpacket.Open(afpacket.Config{Interface: n.A, Namespace: n.Path, Filter: "port http and"})
		if !errors.Is(err, filter.ErrInvalid) {
			t.Fatalf("got %v, want an error wrapping filter.ErrInvalid", err)
		}
	})
}

// TestFanout checks that a group of sockets splits the traffic by flow:
// every packet is seen once, all packets of a flow (both directions) by the
// same socket, in order.
func TestFanout(t *testing.T) {
	want := readFile(t, "steam.pcap")
	n := netnstest.New(t)
	socks, err := afpacket.OpenGroup(afpacket.Config{Interface: n.A, Namespace: n.Path}, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, s := range socks {
			s.Close()
		}
	}()
	n.Replay(t, testcorpus.Pcap(t, "steam.pcap"))
	got := make([][]frame, len(socks))
	var wg sync.WaitGroup
	for i, s := range socks {
		wg.Go(func() { got[i] = collectQuiet(t, s) })
	}
	wg.Wait()
	owner := map[flow.Key]int{}
	var seen int
	for i, frames := range got {
		if len(frames) == 0 {
			t.Errorf("socket %d got nothing", i)
		}
		// Each socket's records are in file order.
		j := 0
		for _, fr := range frames {
			for j < len(want) && !bytes.Equal(want[j].data, fr.data) {
				j++
			}
			if j == len(want) {
				t.Fatalf("socket %d: record %v is not in the file, or out of order", i, fr)
			}
			j++
			k := key(t, fr)
			if o, ok := owner[k]; ok && o != i {
				t.Errorf("flow %v seen by sockets %d and %d", k, o, i)
			}
			owner[k] = i
		}
		seen += len(frames)
	}
	if seen != len(want) {
		t.Errorf("%d records in all, want %d", seen, len(want))
	}
	t.Logf("%d flows; records per socket: %d, %d", len(owner), len(got[0]), len(got[1]))
}

func key(t *testing.T, fr frame) flow.Key {
	var p decode.Packet
	if !(decode.Decoder{}).Decode(fr.data, fr.wire, 1, &p) {
		t.Fatalf("cannot decode %v", fr)
	}
	return flow.MakeKey(&p.SrcIP, &p.DstIP, p.SrcPort, p.DstPort, p.VlanID, p.Protocol, p.TunnelID)
}

// collectQuiet reads until nothing arrives for a second.
func collectQuiet(t *testing.T, s *afpacket.Socket) []frame {
	return collect(t, s, 1<<30)
}

// TestTimeout checks that NextTimeout gives control back after the poll
// timeout when nothing arrives, and Next does not.
func TestTimeout(t *testing.T) {
	n := netnstest.New(t)
	s := open(t, afpacket.Config{Interface: n.A, Namespace: n.Path, PollTimeout: 50 * time.Millisecond})
	var rec capture.Record
	for range 3 {
		start := time.Now()
		err := s.NextTimeout(&rec)
		d := time.Since(start)
		if !errors.Is(err, afpacket.ErrTimeout) {
			t.Fatalf("got %v, want ErrTimeout", err)
		}
		if d < 45*time.Millisecond || d > 500*time.Millisecond {
			t.Errorf("timed out after %v, want about 50ms", d)
		}
	}
}

// TestClose checks that Close ends a blocked Next with io.EOF, and that the
// socket can no longer be read.
func TestClose(t *testing.T) {
	n := netnstest.New(t)
	s, err := afpacket.Open(afpacket.Config{Interface: n.A, Namespace: n.Path})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		var rec capture.Record
		done <- s.Next(&rec)
	}()
	time.Sleep(150 * time.Millisecond)
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != io.EOF {
			t.Fatalf("Next after Close: %v, want io.EOF", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Next still blocked 2s after Close")
	}
	t.Logf("Close took %v", time.Since(start))
	var rec capture.Record
	if err := s.NextTimeout(&rec); !errors.Is(err, afpacket.ErrClosed) {
		t.Fatalf("NextTimeout after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Stats(); err != nil {
		t.Fatalf("Stats after Close: %v", err)
	}
}

// TestPromiscuous checks that the interface is promiscuous exactly while a
// socket asking for it is open.
func TestPromiscuous(t *testing.T) {
	n := netnstest.New(t)
	if p := n.Promiscuity(t, n.A); p != 0 {
		t.Fatalf("promiscuity %d before", p)
	}
	plain := open(t, afpacket.Config{Interface: n.A, Namespace: n.Path})
	if p := n.Promiscuity(t, n.A); p != 0 {
		t.Fatalf("promiscuity %d with a non-promiscuous socket", p)
	}
	socks, err := afpacket.OpenGroup(afpacket.Config{Interface: n.A, Namespace: n.Path, Promiscuous: true}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if p := n.Promiscuity(t, n.A); p != 2 {
		t.Errorf("promiscuity %d with two promiscuous sockets, want 2", p)
	}
	for _, s := range socks {
		s.Close()
	}
	plain.Close()
	if p := n.Promiscuity(t, n.A); p != 0 {
		t.Errorf("promiscuity %d after Close", p)
	}
}

// TestDrops checks that packets lost because the ring is full are counted.
func TestDrops(t *testing.T) {
	want := readFile(t, "facebook.pcap")
	n := netnstest.New(t)
	// The smallest ring: two blocks of one page.
	s := open(t, afpacket.Config{Interface: n.A, Namespace: n.Path, RingSize: 1, SnapshotLength: 1536})
	n.Replay(t, testcorpus.Pcap(t, "facebook.pcap")) // nobody reads meanwhile
	time.Sleep(50 * time.Millisecond)                // the last block's timeout
	got := collect(t, s, len(want))
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("read %d of %d; stats %+v", len(got), len(want), st)
	if st.Packets != uint64(len(want)) || st.Drops == 0 || st.Drops != uint64(len(want)-len(got)) || st.Freezes == 0 {
		t.Errorf("stats %+v after reading %d of %d packets: want all packets counted, the missing ones as drops, and a freeze", st, len(got), len(want))
	}
	// The counters keep adding up after the kernel's were read (reading
	// them resets them in the kernel).
	n.Replay(t, testcorpus.Pcap(t, "dhcp.pcap"))
	collect(t, s, 4)
	st2, _ := s.Stats()
	if st2.Packets != st.Packets+4 || st2.Drops != st.Drops {
		t.Errorf("stats %+v after 4 more packets, want %+v plus 4 packets", st2, st)
	}
}

// TestNoAllocs checks that reading packets does not allocate.
func TestNoAllocs(t *testing.T) {
	n := netnstest.New(t)
	s := open(t, afpacket.Config{Interface: n.A, Namespace: n.Path, RingSize: 8 << 20})
	n.Replay(t, testcorpus.Pcap(t, "google_ssl.pcap"), "--loop=10") // 280 packets
	time.Sleep(50 * time.Millisecond)
	var rec capture.Record
	var errs int
	allocs := testing.AllocsPerRun(250, func() {
		if s.NextTimeout(&rec) != nil {
			errs++
		}
	})
	if errs != 0 {
		t.Fatalf("%d reads failed", errs)
	}
	if allocs != 0 {
		t.Errorf("%v allocations per packet, want 0", allocs)
	}
}

// TestOpenErrors checks the errors of bad configurations.
func TestOpenErrors(t *testing.T) {
	n := netnstest.New(t)
	_, err := afpacket.Open(afpacket.Config{Interface: "nosuch0", Namespace: n.Path})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("nosuch0")) {
		t.Errorf("unknown interface: %v, want an error naming it", err)
	}
	if _, err := afpacket.Open(afpacket.Config{}); err == nil {
		t.Error("no interface: no error")
	}
	if _, err := afpacket.Open(afpacket.Config{Interface: n.A, Namespace: n.Path, SnapshotLength: -1, RingSize: -1}); err == nil {
		t.Error("negative sizes: no error")
	}
	if _, err := afpacket.OpenGroup(afpacket.Config{Interface: n.A, Namespace: n.Path}, 0); err == nil {
		t.Error("group of 0: no error")
	}
	if _, err := afpacket.Open(afpacket.Config{Interface: n.A, Namespace: "/nonexistent"}); err == nil {
		t.Error("missing namespace: no error")
	}
}

// tun creates a tun device in the namespace, optionally with another
// hardware type (TUNSETLINK), brings it up and returns the file descriptor
// whose writes the device receives.
func tun(t *testing.T, n *netnstest.Net, name string, hwtype int) int {
	t.Helper()
	fd := -1
	err := n.Do(func() error {
		var err error
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			return fmt.Errorf("TUNSETIFF: %w", err)
		}
		if hwtype >= 0 {
			if err := unix.IoctlSetInt(fd, unix.TUNSETLINK, hwtype); err != nil {
				return fmt.Errorf("TUNSETLINK: %w", err)
			}
		}
		return nil
	})
	if fd >= 0 {
		t.Cleanup(func() { unix.Close(fd) })
	}
	if err != nil {
		t.Skipf("no tun device: %v", err)
	}
	if out, err := n.Exec("ip", "link", "set", name, "up"); err != nil {
		t.Fatalf("ip link set %s up: %v: %s", name, err, out)
	}
	return fd
}

// TestLinkTypes checks the link types and record contents of interfaces
// without an Ethernet header: a tun device (raw IP, DLT 12) and a tun device
// posing as a PPP link, a type without a DLT of its own, captured in cooked
// mode (DLT_LINUX_SLL, 113) with libpcap's pseudo-header.
func TestLinkTypes(t *testing.T) {
	frames := readFile(t, "google_ssl.pcap")
	for _, tc := range []struct {
		name   string
		hwtype int
		dlt    uint16
		header []byte
	}{
		{"raw", -1, afpacket.LinkTypeRaw, nil},
		// packet type 0 (to us), ARPHRD_PPP, no address, protocol IPv4
		{"cooked", unix.ARPHRD_PPP, afpacket.LinkTypeLinuxSLL, []byte{0, 0, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := netnstest.New(t)
			fd := tun(t, n, "tun0", tc.hwtype)
			s := open(t, afpacket.Config{Interface: "tun0", Namespace: n.Path, SnapshotLength: 200})
			if s.LinkType() != tc.dlt {
				t.Fatalf("link type %d, want %d", s.LinkType(), tc.dlt)
			}
			var want []frame
			for _, fr := range frames {
				ip := fr.data[14:]
				if _, err := unix.Write(fd, ip); err != nil {
					t.Fatal(err)
				}
				data := append(bytes.Clone(tc.header), ip...)
				want = append(want, frame{data[:min(len(data), 200)], uint32(len(data))})
			}
			sameFrames(t, collect(t, s, len(want)), want)
		})
	}
	t.Run("cooked filter", func(t *testing.T) {
		needFilters(t)
		n := netnstest.New(t)
		fd := tun(t, n, "tun0", unix.ARPHRD_PPP)
		s := open(t, afpacket.Config{Interface: "tun0", Namespace: n.Path, Filter: "tcp[tcpflags] & tcp-syn != 0"})
		var want int
		for _, fr := range frames {
			if fr.data[14+9] == 6 && fr.data[14+20+13]&0x02 != 0 {
				want++
			}
			unix.Write(fd, fr.data[14:])
		}
		got := collect(t, s, want+1)
		if len(got) != want || want == 0 {
			t.Errorf("%d SYN packets captured, want %d", len(got), want)
		}
		if st, _ := s.Stats(); st.Filtered != uint64(len(frames)-want) {
			t.Errorf("stats %+v: want %d filtered in user space", st, len(frames)-want)
		}
	})
	t.Run("loopback", func(t *testing.T) {
		// On lo every packet is seen twice by the kernel, going out and
		// coming in; libpcap (and so NFStream) keeps it once.
		n := netnstest.New(t)
		s := open(t, afpacket.Config{Interface: "lo", Namespace: n.Path})
		if s.LinkType() != afpacket.LinkTypeEthernet {
			t.Fatalf("link type %d, want 1", s.LinkType())
		}
		sendUDP(t, n, "payload")
		got := collect(t, s, 2)
		var udp int
		for _, fr := range got {
			if bytes.HasSuffix(fr.data, []byte("payload")) && fr.data[14+9] == 17 {
				udp++
			}
		}
		if udp != 1 {
			t.Errorf("the UDP datagram was captured %d times, want once (records: %v)", udp, got)
		}
	})
}

// sendUDP sends one datagram to 127.0.0.1:9 from inside the namespace.
func sendUDP(t *testing.T, n *netnstest.Net, payload string) {
	t.Helper()
	err := n.Do(func() error {
		c, err := net.Dial("udp", "127.0.0.1:9")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte(payload))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
