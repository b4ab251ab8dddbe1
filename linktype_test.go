package nfstream_test

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/nfstream-go/nfstream"
	"github.com/nfstream-go/nfstream/internal/pcapgen"
)

// writeCapture writes n UDP packets of distinct flows with the given link
// type (1: Ethernet frames; otherwise the same bytes under that type).
func writeCapture(t *testing.T, path string, linkType uint32, n int) {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgen.NewWriter(&buf, linkType, false)
	mac := [6]byte{2, 0, 0, 0, 0, 1}
	for i := range n {
		ip := pcapgen.IP(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 17, pcapgen.UDP(uint16(1000+i), 53, []byte("x")))
		if err := w.WritePacket(uint64(1_700_000_000_000_000+i*1000), pcapgen.Ethernet(mac, mac, 0x0800, ip), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestUnknownLinkType: records of a link type the decoder does not know
// are counted as ignored (NFStream's behaviour) and reported once per file
// by a LinkTypeError warning naming the file, the first such record and
// the link type; the other files' flows come out. One and two meters.
func TestUnknownLinkType(t *testing.T) {
	dir := t.TempDir()
	user0, good := filepath.Join(dir, "user0.pcap"), filepath.Join(dir, "good.pcap")
	writeCapture(t, user0, 147, 5) // DLT_USER0
	writeCapture(t, good, 1, 3)
	for _, meters := range []int{1, 2} {
		o := nfstream.DefaultOptions()
		o.NDissections = 0
		o.NMeters = meters
		s, err := nfstream.New([]string{user0, good, user0}, o)
		if err != nil {
			t.Fatal(err)
		}
		flows := 0
		for _, err := range s.Flows(context.Background()) {
			if err != nil {
				t.Fatal(err)
			}
			flows++
		}
		c := s.Counters()
		if flows != 3 || c.Ignored != 10 || c.Records != 13 {
			t.Errorf("%d meters: %d flows, %d ignored of %d records; want 3, 10, 13", meters, flows, c.Ignored, c.Records)
		}
		d := s.Damage()
		var le *nfstream.LinkTypeError
		if len(d) != 1 || !errors.Is(d[0], nfstream.ErrLinkType) || !errors.As(d[0], &le) ||
			le.File != user0 || le.Packet != 1 || le.LinkType != 147 {
			t.Fatalf("%d meters: damage %v, want one link type 147 warning for %s packet 1", meters, d, user0)
		}
	}
}
