//go:build linux

package sysvis

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseProcNet(t *testing.T) {
	tcp := []byte(`  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0000000000000000 20 4 30 10 -1
`)
	got := parseProcNet(nil, tcp, 6)
	want := []sock{{local: netip.MustParseAddrPort("127.0.0.1:8080"), remote: netip.MustParseAddrPort("127.0.0.1:50000"), proto: 6, inode: 222}}
	if len(got) != 1 || got[0] != want[0] {
		t.Fatalf("tcp: got %+v, want %+v", got, want)
	}
	udp6 := []byte(`  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  0: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 333 2 0000000000000000 0
`)
	got = parseProcNet(nil, udp6, 17)
	want = []sock{{local: netip.MustParseAddrPort("[::1]:53"), remote: netip.MustParseAddrPort("[::]:0"), proto: 17, inode: 333}}
	if len(got) != 1 || got[0] != want[0] {
		t.Fatalf("udp6: got %+v, want %+v", got, want)
	}
}

func TestCgroupPath(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"0::/system.slice/docker-abc.scope\n", "/system.slice/docker-abc.scope"},
		{"9:name=systemd:/\n4:memory:/process_api/aa\n0::/\n", "/process_api/aa"},
		{"0::/\n", "/"},
	} {
		if got := cgroupPath([]byte(c.in)); got != c.want {
			t.Errorf("cgroupPath(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// The helper process: SYSVIS_HELPER=dial connects to SYSVIS_ADDR, holds
// the connection SYSVIS_HOLD and exits; =short makes the short-lived
// connections of TestEBPFShortLived (ebpf_linux_test.go).
func TestMain(m *testing.M) {
	switch os.Getenv("SYSVIS_HELPER") {
	case "dial":
		c, err := net.Dial("tcp", os.Getenv("SYSVIS_ADDR"))
		if err != nil {
			os.Exit(2)
		}
		hold, _ := time.ParseDuration(os.Getenv("SYSVIS_HOLD"))
		c.Write([]byte("hello"))
		time.Sleep(hold)
		c.Close()
		time.Sleep(200 * time.Millisecond) // stay alive: pid readable
		os.Exit(0)
	case "short":
		shortConnections()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func requireRoot(t *testing.T) {
	if !canReadFds() {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and sysvis needs root or CAP_SYS_PTRACE")
		}
		t.Skip("sysvis needs root or CAP_SYS_PTRACE")
	}
}

// TestAttribution starts a child that connects to a listener of this
// process and checks both ends are attributed, with every method.
func TestAttribution(t *testing.T) {
	requireRoot(t)
	for _, c := range []struct {
		method string
		hold   time.Duration // how long the connection lives
	}{
		// sock_diag polls every 5 ms: a 20 ms connection is seen.
		{"", 20 * time.Millisecond},
		{MethodSockDiagPoll, 20 * time.Millisecond},
		// /proc/net polling is slower: give it several periods.
		{MethodProcNet, 300 * time.Millisecond},
	} {
		method := c.method
		t.Run("method="+method, func(t *testing.T) {
			tb, err := Start(Config{Method: method, Poll: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer tb.Close()
			t.Logf("method %s", tb.Method())
			// A loaded machine can delay a poll past a short
			// connection's life: up to 3 tries, the connection held
			// twice as long each time.
			var err2 error
			for try := range 3 {
				if err2 = connectOnce(t, tb, c.hold<<try); err2 == nil {
					break
				}
				t.Logf("try %d: %v", try, err2)
			}
			if err2 != nil {
				t.Error(err2)
			}
			t.Logf("stats %+v", tb.Stats())
		})
	}
}

func readComm(t *testing.T, pid int) string {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/comm")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func itoa(i int) string { return strconv.Itoa(i) }

// connectOnce has a child connect to a listener of this process for hold
// and checks that the table attributed both ends.
func connectOnce(t *testing.T, tb *Table, hold time.Duration) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SYSVIS_HELPER=dial", "SYSVIS_ADDR="+ln.Addr().String(), "SYSVIS_HOLD="+hold.String())
	if err := cmd.Start(); err != nil {
		return err
	}
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	client := netip.MustParseAddrPort(c.RemoteAddr().String())
	server := netip.MustParseAddrPort(c.LocalAddr().String())
	buf := make([]byte, 16)
	c.Read(buf)
	c.Read(buf) // EOF when the child closes
	c.Close()
	cmd.Wait()
	time.Sleep(20 * time.Millisecond)
	self := strings.TrimSpace(readComm(t, os.Getpid()))
	// src = client: the child's socket; reversed: ours.
	if p, ok := tb.Lookup(client, server, 6); !ok || p.PID != int64(cmd.Process.Pid) || p.Name != self || p.Cgroup == "" {
		return fmt.Errorf("client→server: got %+v %v, want pid %d name %q and a cgroup", p, ok, cmd.Process.Pid, self)
	}
	if p, ok := tb.Lookup(server, client, 6); !ok || p.PID != int64(os.Getpid()) {
		return fmt.Errorf("server→client: got %+v %v, want pid %d", p, ok, os.Getpid())
	}
	return nil
}

// BenchmarkPoll measures one poll when nothing changed: a sock_diag (or
// /proc/net) listing and no fd table reads beyond new processes'.
func BenchmarkPoll(b *testing.B) {
	if !canReadFds() {
		b.Skip("needs root")
	}
	for _, m := range []string{MethodSockDiagPoll, MethodProcNet} {
		b.Run(m, func(b *testing.B) {
			t := &Table{t: newTable()}
			var l lister = procNet{dir: "/proc"}
			if m == MethodSockDiagPoll {
				d, err := openDiag(0)
				if err != nil {
					b.Skip(err)
				}
				l = d
			}
			p := &poller{t: t, l: l, res: newResolver("/proc", &t.stats), expire: time.Minute}
			defer p.close()
			p.poll(time.Now())
			scans := t.stats.fdScans.Load()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				p.poll(time.Now())
			}
			b.ReportMetric(float64(t.stats.fdScans.Load()-scans)/float64(b.N), "fdscans/op")
			b.ReportMetric(float64(len(p.socks)), "sockets")
		})
	}
}
