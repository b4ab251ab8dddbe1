package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfstream-go/nfstream/internal/pcapgen"
	"github.com/nfstream-go/nfstream/internal/syncbuf"
)

// TestPipeFlowsLeaveOnTime reads a capture from a named pipe whose writer
// stays open: the flow that went idle (its successor's packet is 200 s
// later) must reach standard output within a few flush periods, before
// the pipe is closed, not once 256 KiB of lines have piled up or at exit.
func TestPipeFlowsLeaveOnTime(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "capture.pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	old := flushPeriod
	flushPeriod = 50 * time.Millisecond
	defer func() { flushPeriod = old }()

	var stdout, stderr syncbuf.Buffer
	status := make(chan int, 1)
	go func() { status <- run([]string{"--n-dissections", "0", fifo}, &stdout, &stderr) }()

	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	pw := pcapgen.NewWriter(w, 1, false)
	eth := func(ip []byte) []byte { return pcapgen.Ethernet([6]byte{2}, [6]byte{4}, 0x0800, ip) }
	for i, us := range []uint64{1_000_000, 1_100_000, 201_000_000} {
		port := uint16(5000)
		if i == 2 {
			port = 6000 // another flow, 200 s later: the first is idle
		}
		if err := pw.WritePacket(us, eth(pcapgen.IP(a, b, 17, pcapgen.UDP(port, 53, []byte("hello")))), 0); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && strings.Count(stdout.String(), "\n") < 2 {
		time.Sleep(20 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `,"10.0.0.1",`) || !strings.Contains(lines[1], ",5000,") {
		t.Fatalf("before the pipe closed: %q, want the header and the idle flow", lines)
	}
	w.Close()
	select {
	case s := <-status:
		if s != 0 || strings.Count(stdout.String(), "\n") != 3 {
			t.Errorf("status %d, output %q; want 0 and both flows", s, stdout.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command did not end after the pipe closed")
	}
}
