package nfstream_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nfstream-go/nfstream"
	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
	"github.com/nfstream-go/nfstream/sysvis"
)

// TestSysvisHelper is not a test: TestLiveSystemVisibility runs the test
// binary again with NFSTREAM_SYSVIS_HELPER set to be a known process.
//
//	tcp-server, udp-server: listen on 127.0.0.1, print the address, echo
//	  until standard input closes.
//	tcp-client ADDR HOLD, udp-client ADDR HOLD: send 64 bytes, read the
//	  echo, keep the socket HOLD more, close it, print "done" and wait
//	  for standard input to close (so that the pid stays alive).
func TestSysvisHelper(t *testing.T) {
	role := os.Getenv("NFSTREAM_SYSVIS_HELPER")
	if role == "" {
		t.Skip("helper process only")
	}
	args := strings.Fields(os.Getenv("NFSTREAM_SYSVIS_ARGS"))
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, role, err)
		os.Exit(2)
	}
	waitStdin := func() { io.Copy(io.Discard, os.Stdin) }
	switch role {
	case "tcp-server":
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			fail(err)
		}
		fmt.Println(ln.Addr())
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { io.Copy(c, c); c.Close() }()
			}
		}()
		waitStdin()
	case "udp-server":
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			fail(err)
		}
		fmt.Println(pc.LocalAddr())
		go func() {
			buf := make([]byte, 2048)
			for {
				n, addr, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo(buf[:n], addr)
			}
		}()
		waitStdin()
	case "tcp-client", "udp-client":
		hold, _ := time.ParseDuration(args[1])
		c, err := net.Dial(strings.TrimSuffix(role, "-client")+"4", args[0])
		if err != nil {
			fail(err)
		}
		buf := make([]byte, 64)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(buf); err != nil {
			fail(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			fail(err)
		}
		time.Sleep(hold)
		c.Close()
		fmt.Println("done", c.LocalAddr())
		waitStdin()
	}
	os.Exit(0)
}

// helper is a running helper process.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startHelper(t *testing.T, role string, args ...string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSysvisHelper$")
	cmd.Env = append(os.Environ(), "NFSTREAM_SYSVIS_HELPER="+role, "NFSTREAM_SYSVIS_ARGS="+strings.Join(args, " "))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(h.stop)
	return h
}

// line reads the helper's next line of output.
func (h *helper) line(t *testing.T) string {
	t.Helper()
	l, err := h.out.ReadString('\n')
	if err != nil {
		t.Fatalf("helper %s: %v", h.cmd.Args, err)
	}
	return strings.TrimSpace(l)
}

func (h *helper) stop() {
	h.stdin.Close()
	h.cmd.Wait()
}

// TestLiveSystemVisibility captures the loopback interface with
// system_visibility_mode 1 while helper processes talk over it: a TCP
// server and a client, a UDP exchange, and short-lived TCP and UDP
// connections (40 ms, 5 ms, 0.5 ms and none: under 50 ms). Each flow must
// carry its client's pid and name (the flow's src is the client, whose
// socket is preferred). When the eBPF programs run (method "ebpf+...")
// every short-lived one must be attributed; with the sock_diag poller
// alone, at least one.
func TestLiveSystemVisibility(t *testing.T) {
	opts := nfstream.DefaultOptions()
	opts.SystemVisibilityMode = 1
	opts.NDissections = 0
	opts.NMeters = 1
	if runtime.GOOS != "linux" {
		if _, err := nfstream.NewLive("lo", opts, nfstream.LiveOptions{}); err == nil || !strings.Contains(err.Error(), "system_visibility_mode") {
			t.Fatalf("NewLive off Linux: %v, want an error naming system_visibility_mode", err)
		}
		return
	}
	if err := sysvis.Check(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and %v", err)
		}
		t.Skip(err)
	}
	started := make(chan struct{})
	s, err := nfstream.NewLive("lo", opts, nfstream.LiveOptions{Started: func() { close(started) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var flows []*nfstream.Flow
	done := make(chan error, 1)
	go func() {
		var ferr error
		for f, err := range s.Flows(ctx) {
			if err != nil {
				ferr = err
				continue
			}
			flows = append(flows, f)
		}
		done <- ferr
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("capture ended before starting: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("capture not started after 20s")
	}
	method := s.SystemVisibilityMethod()
	withEBPF := strings.HasPrefix(method, sysvis.MethodEBPF+"+")
	t.Logf("system visibility method: %s", method)
	if rep := s.Report(); rep.SystemVisibilityMethod != method {
		t.Errorf("report method %q, want %q", rep.SystemVisibilityMethod, method)
	}

	type want struct {
		what       string
		client     netip.AddrPort
		server     netip.AddrPort
		proto      uint8
		pid        int
		shortLived bool
	}
	var wants []want
	client := func(what, role string, proto uint8, server netip.AddrPort, hold time.Duration) {
		h := startHelper(t, role, server.String(), hold.String())
		addr := strings.TrimPrefix(h.line(t), "done ")
		wants = append(wants, want{what, netip.MustParseAddrPort(addr), server, proto, h.cmd.Process.Pid, hold < 50*time.Millisecond})
	}
	tcpSrv := startHelper(t, "tcp-server")
	tcpAddr := netip.MustParseAddrPort(tcpSrv.line(t))
	udpSrv := startHelper(t, "udp-server")
	udpAddr := netip.MustParseAddrPort(udpSrv.line(t))
	client("tcp", "tcp-client", 6, tcpAddr, 300*time.Millisecond)
	client("udp", "udp-client", 17, udpAddr, 300*time.Millisecond)
	// Short-lived connections (under 50 ms, the last ones well under a
	// millisecond plus the echo's round trip): all must be attributed
	// when the eBPF programs run.
	for _, hold := range []time.Duration{40 * time.Millisecond, 5 * time.Millisecond, 500 * time.Microsecond, 0} {
		client("short tcp "+hold.String(), "tcp-client", 6, tcpAddr, hold)
	}
	for _, hold := range []time.Duration{500 * time.Microsecond, 0} {
		client("short udp "+hold.String(), "udp-client", 17, udpAddr, hold)
	}
	time.Sleep(200 * time.Millisecond) // the last packets reach the meter
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("capture still running 10s after cancel")
	}
	st := s.Columns()
	if n := len(st); st[n-3].Name != "system_process_pid" || st[n-2].Name != "system_process_name" || st[n-1].Name != "system_process_cgroup" {
		t.Errorf("last columns %v", export.Names(st[n-3:]))
	}

	exe, _ := os.Executable()
	name := readComm(t, os.Getpid())
	if len(name) >= 15 {
		name = exe[strings.LastIndexByte(exe, '/')+1:]
	}
	shortMissed, shorts := 0, 0
	for _, w := range wants {
		if w.shortLived {
			shorts++
		}
	}
	defer func() {
		if strings.HasSuffix(method, sysvis.MethodSockDiag) && shorts > 0 && shortMissed == shorts {
			t.Errorf("none of the %d short-lived connections was attributed by %s", shorts, method)
		}
	}()
	for _, w := range wants {
		var f *nfstream.Flow
		for _, g := range flows {
			if g.Protocol == w.proto && netip.AddrPortFrom(g.SrcIP, g.SrcPort) == w.client && netip.AddrPortFrom(g.DstIP, g.DstPort) == w.server {
				f = g
			}
		}
		if f == nil {
			t.Errorf("%s: no flow %s > %s", w.what, w.client, w.server)
			continue
		}
		if f.System == nil {
			if w.shortLived && !withEBPF {
				// A poll can come late on a loaded machine (the race
				// detector, parallel test packages): at least one of the
				// short connections must be attributed, checked below.
				shortMissed++
				t.Logf("%s: not attributed by %s (shorter than one poll period)", w.what, method)
				continue
			}
			t.Errorf("%s: flow %s > %s not attributed, want pid %d (method %s)", w.what, w.client, w.server, w.pid, method)
			continue
		}
		if f.System.PID != int64(w.pid) || f.System.Name != name || f.System.Cgroup == "" {
			t.Errorf("%s: got %+v, want pid %d name %q and a cgroup path", w.what, *f.System, w.pid, name)
		}
		t.Logf("%s: %s > %s pid %d name %q cgroup %q", w.what, w.client, w.server, f.System.PID, f.System.Name, f.System.Cgroup)
	}
}

func readComm(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestSystemVisibilityRefused: the option is refused, naming
// system_visibility_mode, when the capture drops privileges.
func TestSystemVisibilityRefused(t *testing.T) {
	opts := nfstream.DefaultOptions()
	opts.SystemVisibilityMode = 1
	_, err := nfstream.NewLive("lo", opts, nfstream.LiveOptions{User: "nobody"})
	var oe *nfstream.OptionError
	if !errors.As(err, &oe) || oe.Name != "system_visibility_mode" {
		t.Fatalf("got %v, want an OptionError naming system_visibility_mode", err)
	}
}

// TestSystemVisibilityOffline: spec 2.2. One file: the mode is switched
// off (with NFStream's printed warning) and the columns are absent.
// Several files: the columns are kept, with their defaults.
func TestSystemVisibilityOffline(t *testing.T) {
	opts := nfstream.DefaultOptions()
	opts.SystemVisibilityMode = 1
	opts.NDissections = 0
	pcap := testcorpus.Pcap(t, "google_ssl.pcap")
	one, err := nfstream.New([]string{pcap}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if one.Schema().SystemVisibility {
		t.Error("single file: system visibility columns present")
	}
	if w := one.Warnings(); len(w) != 1 || w[0] != "WARNING: system_visibility_mode switched to 0 in offline capture (available only for live capture)" {
		t.Errorf("single file: warnings %q, want NFStream's", w)
	}
	two, err := nfstream.New([]string{pcap, pcap}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if w := two.Warnings(); len(w) != 0 {
		t.Errorf("multiple files: warnings %q, want none", w)
	}
	cols := two.Columns()
	n := len(cols)
	if got := export.Names(cols[n-3:]); strings.Join(got, ",") != "system_process_pid,system_process_name,system_process_cgroup" {
		t.Fatalf("multiple files: last columns %v", got)
	}
	count := 0
	for f, err := range two.Flows(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		count++
		if pid := cols[n-3].Int(f); pid != -1 {
			t.Errorf("flow %d: system_process_pid %d, want -1", f.ID, pid)
		}
		if name := cols[n-2].String(nil, f); len(name) != 0 {
			t.Errorf("flow %d: system_process_name %q, want empty", f.ID, name)
		}
	}
	if count == 0 {
		t.Error("no flows")
	}
}
