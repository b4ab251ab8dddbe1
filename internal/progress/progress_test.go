package progress

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfstream-go/nfstream/internal/syncbuf"
)

func TestRender(t *testing.T) {
	for _, c := range []struct {
		name    string
		s       Snapshot
		rate    float64
		elapsed time.Duration
		width   int
		want    string
	}{
		{"all known", Snapshot{BytesRead: 300 << 20, BytesTotal: 800 << 20, Packets: 5, Flows: 152331}, 1.21e6, 6 * time.Second, 120,
			"[###########...................]  300.0 MiB / 800.0 MiB  38%  1.21M pkt/s  152,331 flows  0:06 ETA 0:10"},
		{"narrow: no bar, cut", Snapshot{BytesRead: 300 << 20, BytesTotal: 800 << 20, Packets: 5, Flows: 12}, 999, 65 * time.Second, 40,
			"300.0 MiB / 800.0 MiB  38%  999 pkt/s"},
		{"no total (a pipe)", Snapshot{BytesRead: 2048, BytesTotal: -1, Packets: 10, Flows: 3}, 12500, time.Second, 120,
			"2.0 KiB read  12.5k pkt/s  3 flows  0:01"},
		{"flows only", Snapshot{BytesRead: -1, BytesTotal: 5 << 30, Packets: -1, Flows: 1000}, 0, 3725 * time.Second, 120,
			"reading 5.0 GiB  1,000 flows  1:02:05"},
		{"done", Snapshot{BytesRead: 100, BytesTotal: 100, Packets: 1, Flows: 0}, 1, time.Second, 80,
			"[##############################]  100 B / 100 B 100%  1 pkt/s  0 flows  0:01"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := render(c.s, c.rate, c.elapsed, c.width)
			if got != c.want {
				t.Errorf("render\n got %q\nwant %q", got, c.want)
			}
			if len(got) > c.width-1 {
				t.Errorf("%d columns, wider than %d-1", len(got), c.width)
			}
		})
	}
}

func TestCounter(t *testing.T) {
	var c Counter
	if s := c.Snapshot(); s != (Snapshot{-1, -1, -1, -1}) {
		t.Errorf("zero Counter: %+v, want all unknown", s)
	}
	c.AddFlows(2)
	c.AddFlows(3)
	c.SetPackets(10)
	if s := c.Snapshot(); s != (Snapshot{-1, -1, 10, 5}) {
		t.Errorf("%+v", s)
	}
	c.SetBytesRead(7)
	c.SetBytesTotal(9)
	if s := c.Snapshot(); s != (Snapshot{7, 9, 10, 5}) {
		t.Errorf("%+v", s)
	}
}

func TestTotalSize(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, make([]byte, 10), 0o644)
	os.WriteFile(b, make([]byte, 5), 0o644)
	if got := TotalSize([]string{a, b}); got != 15 {
		t.Errorf("TotalSize = %d, want 15", got)
	}
	if got := TotalSize([]string{a, "-"}); got != -1 {
		t.Errorf("with standard input: %d, want -1", got)
	}
	if got := TotalSize([]string{a, filepath.Join(dir, "missing")}); got != -1 {
		t.Errorf("with a missing file: %d, want -1", got)
	}
	if ok, _ := Terminal(mustOpen(t, a)); ok {
		t.Error("a regular file is not a terminal")
	}
}

func mustOpen(t *testing.T, p string) *os.File {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestBarDrawsAndErases(t *testing.T) {
	var c Counter
	c.SetBytesTotal(1000)
	var out syncbuf.Buffer
	bar := Start(&out, &c, 100, time.Millisecond)
	for i := range 50 { // the reading goroutine updates while the bar draws
		c.SetBytesRead(int64(20 * i))
		c.SetPackets(int64(100 * i))
		c.AddFlows(1)
		time.Sleep(200 * time.Microsecond)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(out.String(), "flows") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	bar.Stop()
	bar.Stop() // harmless
	s := out.String()
	if !strings.HasPrefix(s, "\r") || !strings.Contains(s, " / 1000 B") || !strings.Contains(s, " flows") {
		t.Errorf("drawn: %q", s)
	}
	if !strings.HasSuffix(s, "\r\x1b[K") {
		t.Errorf("the line is not erased at the end: %q", s[max(0, len(s)-20):])
	}
}

func TestBarStopBeforeDrawing(t *testing.T) {
	var out syncbuf.Buffer
	bar := Start(&out, &Counter{}, 80, time.Hour)
	bar.Stop()
	if out.String() != "" {
		t.Errorf("a bar stopped before its first line wrote %q", out.String())
	}
}
