package ipfix

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/flowtest"
)

// TestNfcapd sends the flows of conformance captures to nfcapd (nfdump's
// collector, which nobody here wrote) and checks that nfdump reads back
// the same flows: addresses, ports, protocol, packets, bytes and times.
func TestNfcapd(t *testing.T) {
	nfcapd, err1 := exec.LookPath("nfcapd")
	nfdump, err2 := exec.LookPath("nfdump")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nfcapd and nfdump are needed (apt-get install nfdump)")
		}
		t.Skip("nfcapd/nfdump not installed (apt-get install nfdump)")
	}
	for _, name := range []string{"steam.pcap", "facebook.pcap", "http_ipv6.pcap"} {
		t.Run(name, func(t *testing.T) {
			flows, cols := flowtest.Capture(t, name)
			port := freeUDPPort(t)
			dir := t.TempDir()
			cmd := exec.Command(nfcapd, "-b", "127.0.0.1", "-p", fmt.Sprint(port), "-w", dir, "-t", "3600")
			var log strings.Builder
			cmd.Stdout, cmd.Stderr = &log, &log
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond) // until it listens
			w, err := New(Config{Addr: fmt.Sprintf("127.0.0.1:%d", port)}, cols)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range flows {
				if err := w.Write(f); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			cmd.Process.Signal(syscall.SIGTERM) // nfcapd writes its file and exits
			if err := cmd.Wait(); err != nil {
				t.Logf("nfcapd: %v\n%s", err, log.String())
			}
			files, _ := filepath.Glob(filepath.Join(dir, "nfcapd.*"))
			if len(files) != 1 {
				t.Fatalf("nfcapd files %v\n%s", files, log.String())
			}
			dump := exec.Command(nfdump, "-q", "-N", "-6", "-r", files[0], "-o",
				"fmt:%sa|%da|%sp|%dp|%pr|%ipkt|%ibyt|%opkt|%obyt|%ts|%te")
			dump.Env = append(os.Environ(), "TZ=UTC")
			out, err := dump.CombinedOutput()
			if err != nil {
				t.Fatalf("nfdump: %v\n%s", err, out)
			}
			got := strings.Split(strings.TrimSpace(string(out)), "\n")
			var want []string
			for _, f := range flows {
				want = append(want, nfdumpLine(f))
			}
			norm := func(lines []string) []string {
				var out []string
				for _, l := range lines {
					var fs []string
					for _, x := range strings.Split(l, "|") {
						fs = append(fs, strings.TrimSpace(x))
					}
					out = append(out, strings.Join(fs, "|"))
				}
				sort.Strings(out)
				return out
			}
			g, wl := norm(got), norm(want)
			if len(g) != len(wl) {
				t.Fatalf("nfdump shows %d flows, want %d:\n%s", len(g), len(wl), out)
			}
			for i := range g {
				if g[i] != wl[i] {
					t.Errorf("nfdump:\n  %s\nwant\n  %s", g[i], wl[i])
				}
			}
			t.Logf("%d flows read back by nfdump, e.g. %s", len(g), g[0])
		})
	}
}

// nfdumpLine renders a flow as the nfdump format of TestNfcapd prints it.
func nfdumpLine(f *flow.Flow) string {
	ms := func(v uint64) string {
		return time.UnixMilli(int64(v)).UTC().Format("2006-01-02 15:04:05.000")
	}
	return fmt.Sprintf("%v|%v|%d|%d|%d|%d|%d|%d|%d|%s|%s", f.SrcIP.Unmap(), f.DstIP.Unmap(), f.SrcPort, f.DstPort,
		f.Protocol, f.Src2DstPackets, f.Src2DstBytes, f.Dst2SrcPackets, f.Dst2SrcBytes,
		ms(f.BidirectionalFirstSeenMs), ms(f.BidirectionalLastSeenMs))
}

func freeUDPPort(t *testing.T) int {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}
