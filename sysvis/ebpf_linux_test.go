//go:build linux

package sysvis

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// shortConnections is the helper of TestEBPFShortLived: to SYSVIS_ADDR
// (TCP) it connects, writes a byte and closes, then connects and closes
// without writing; to SYSVIS_UDP it sends one datagram from a connected
// socket and closes it. It prints each socket's local address and how
// long it lived, then waits for standard input to close (so that its
// /proc entry stays readable).
func shortConnections() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "short:", err)
		os.Exit(2)
	}
	for _, c := range []struct {
		what, network, addr string
		write               bool
	}{
		{"tcp", "tcp4", os.Getenv("SYSVIS_ADDR"), true},
		{"tcp-connect-only", "tcp4", os.Getenv("SYSVIS_ADDR"), false},
		{"udp", "udp4", os.Getenv("SYSVIS_UDP"), true},
	} {
		start := time.Now()
		conn, err := net.Dial(c.network, c.addr)
		if err != nil {
			fail(err)
		}
		if c.write {
			if _, err := conn.Write([]byte{1}); err != nil {
				fail(err)
			}
		}
		conn.Close()
		fmt.Println(c.what, conn.LocalAddr(), time.Since(start))
	}
	io.Copy(io.Discard, os.Stdin)
}

// startEBPFTable starts a table with the eBPF programs and pollers that
// never run after Start's first poll. Without the privilege or the kernel
// support the test is skipped (failed with CI=true); other errors (a
// program the verifier rejects) fail it.
func startEBPFTable(t *testing.T) *Table {
	t.Helper()
	requireRoot(t)
	tb, err := Start(Config{Method: MethodEBPF, Poll: time.Hour, FastPoll: time.Hour})
	if err != nil {
		if os.Getenv("CI") != "true" && (errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, btf.ErrNotSupported) || errors.Is(err, os.ErrPermission)) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.Close() })
	if !strings.HasPrefix(tb.Method(), MethodEBPF+"+") || tb.EBPFError() != nil {
		t.Fatalf("method %q, ebpf error %v", tb.Method(), tb.EBPFError())
	}
	return tb
}

// TestEBPFShortLived: a child makes connections that live well under a
// millisecond while no poll runs (the pollers' period is an hour): only
// the eBPF events can attribute them, with the child's exact pid and name.
func TestEBPFShortLived(t *testing.T) {
	for _, ns := range []bool{false, true} {
		t.Run(fmt.Sprintf("pidns_helper=%v", ns), func(t *testing.T) {
			testUseNS = ns
			defer func() { testUseNS = false }()
			tb := startEBPFTable(t)
			ebpfShortLived(t, tb)
		})
	}
}

func ebpfShortLived(t *testing.T, tb *Table) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct{ local, remote netip.AddrPort }
	acc := make(chan accepted, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Read(make([]byte, 1)) // recvmsg: the server side's event
			acc <- accepted{netip.MustParseAddrPort(c.LocalAddr().String()), netip.MustParseAddrPort(c.RemoteAddr().String())}
			c.Close()
		}
	}()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 16)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	polls := tb.Stats().Polls

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SYSVIS_HELPER=short", "SYSVIS_ADDR="+ln.Addr().String(), "SYSVIS_UDP="+pc.LocalAddr().String())
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	out := bufio.NewScanner(stdout)
	type conn struct {
		what   string
		local  netip.AddrPort
		remote netip.AddrPort
		proto  uint8
	}
	var conns []conn
	for range 3 {
		if !out.Scan() {
			t.Fatalf("helper: %v", out.Err())
		}
		f := strings.Fields(out.Text())
		c := conn{what: f[0], local: netip.MustParseAddrPort(f[1]), remote: netip.MustParseAddrPort(ln.Addr().String()), proto: 6}
		if c.what == "udp" {
			c.remote, c.proto = netip.MustParseAddrPort(pc.LocalAddr().String()), 17
		}
		t.Logf("%s %s > %s lived %s", c.what, c.local, c.remote, f[2])
		conns = append(conns, c)
	}
	pid := int64(cmd.Process.Pid)
	name := strings.TrimSpace(readComm(t, os.Getpid())) // the same binary
	for _, c := range conns {
		var p Process
		var ok bool
		// Until the reader drains the event (every readerPeriod), a UDP
		// lookup may fall back to the server's unconnected socket (our
		// pid): wait for the child's event, fail if it never comes.
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if p, ok = tb.Lookup(c.local, c.remote, c.proto); ok && p.PID == pid {
				break
			}
		}
		if !ok || p.PID != pid || p.Name != name || p.Cgroup == "" {
			t.Errorf("%s %s > %s: got %+v %v, want pid %d name %q and a cgroup", c.what, c.local, c.remote, p, ok, pid, name)
		}
	}
	// The server side: our accepted sockets, attributed at recv time.
	for range 2 {
		select {
		case a := <-acc:
			var p Process
			var ok bool
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				if p, ok = tb.Lookup(a.local, a.remote, 6); ok && p.PID == int64(os.Getpid()) {
					break
				}
			}
			if !ok || p.PID != int64(os.Getpid()) || p.Name != name {
				t.Errorf("server %s > %s: got %+v %v, want pid %d name %q", a.local, a.remote, p, ok, os.Getpid(), name)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("accepted connection not seen")
		}
	}
	st := tb.Stats()
	if st.Polls != polls {
		t.Errorf("%d polls ran, want none: the events alone must attribute", st.Polls-polls)
	}
	t.Logf("stats %+v", st)
}

// TestEBPFFallback: without the programs (a method that excludes them),
// EBPFError says why and the method has no "ebpf+".
func TestEBPFFallback(t *testing.T) {
	requireRoot(t)
	tb, err := Start(Config{Method: MethodSockDiagPoll})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if tb.EBPFError() == nil || strings.HasPrefix(tb.Method(), MethodEBPF) {
		t.Errorf("method %q, EBPFError %v", tb.Method(), tb.EBPFError())
	}
}

// TestMemberOffset checks the BTF walk on the running kernel: offsets
// inside struct sock_common's anonymous unions.
func TestMemberOffset(t *testing.T) {
	o, err := kernelOffsets()
	if err != nil {
		t.Skip(err)
	}
	// struct sock_common starts with skc_daddr, skc_rcv_saddr (the
	// __addrpair union), then the hash union, then skc_dport, skc_num.
	if o.daddr != 0 || o.rcvSaddr != 4 || o.dport != 12 || o.num != 14 || o.family != 16 {
		t.Errorf("offsets %+v", o)
	}
	t.Logf("offsets %+v", o)
}

// BenchmarkShortConnections measures a TCP connection of the loopback
// (connect, write a byte, close; the server accepts and reads) with and
// without the eBPF programs attached, and the events they produce.
func BenchmarkShortConnections(b *testing.B) {
	if !canReadFds() {
		b.Skip("needs root")
	}
	for _, withEBPF := range []bool{false, true} {
		b.Run(fmt.Sprintf("ebpf=%v", withEBPF), func(b *testing.B) {
			tb := &Table{t: newTable()}
			var src *ebpfSource
			if withEBPF {
				var err error
				if src, err = startEBPF(tb, "/proc"); err != nil {
					b.Skip(err)
				}
				defer src.close()
				if c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
					defer c.Close()
				}
			}
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() { c.Read(make([]byte, 1)); c.Close() }()
				}
			}()
			b.ResetTimer()
			for b.Loop() {
				c, err := net.Dial("tcp4", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				c.Write([]byte{1})
				c.Close()
			}
			b.StopTimer()
			time.Sleep(50 * time.Millisecond)
			b.ReportMetric(float64(tb.stats.events.Load())/float64(b.N), "events/op")
			if src != nil {
				var runs uint64
				var run time.Duration
				for _, p := range src.progs {
					if st, err := p.Stats(); err == nil {
						runs += st.RunCount
						run += st.Runtime
					}
				}
				if runs > 0 {
					b.ReportMetric(float64(runs)/float64(b.N), "bpfruns/op")
					b.ReportMetric(float64(run.Nanoseconds())/float64(runs), "ns/bpfrun")
				}
			}
		})
	}
}
