//go:build cgo && !nondpi

package ndpi_test

import (
	"context"
	"os"
	"os/exec"
	"sort"
	"testing"

	"github.com/nfstream-go/nfstream/internal/ndpicompare"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

// readerCase is what the comparison with ndpiReader (issue 3) measured on
// one capture: flow counts, pairs, pairs identical in every column, and the
// differences, unmatched flows and packet-count differences by kind.
type readerCase struct {
	capture              string
	ours, reader, paired int
	identical            int
	kinds                map[string]int // differing cells by kind
	unmatched            map[string]int // "ours: reason" / "ndpireader: reason"
	packetCounts         map[string]int // paired flows with other packet counts, by reason
}

var readerCases = []readerCase{
	{capture: "facebook.pcap", ours: 2, reader: 2, paired: 2, identical: 2},
	{capture: "ssh.pcap", ours: 1, reader: 1, paired: 1, identical: 0,
		kinds: map[string]int{ndpicompare.KindSSHBanner: 1}},
	{capture: "dhcp.pcap", ours: 2, reader: 2, paired: 2, identical: 2},
	{capture: "exe_download.pcap", ours: 1, reader: 1, paired: 1, identical: 1},
	{capture: "http_ipv6.pcap", ours: 15, reader: 15, paired: 15, identical: 15},
	{capture: "google_ssl.pcap", ours: 1, reader: 1, paired: 1, identical: 1},
	{capture: "youtube_quic.pcap", ours: 3, reader: 3, paired: 3, identical: 3},
	{capture: "smtp-starttls.pcap", ours: 1, reader: 1, paired: 1, identical: 1},
	{capture: "netbios.pcap", ours: 15, reader: 15, paired: 15, identical: 15},
	{capture: "mdns.pcap", ours: 33, reader: 33, paired: 33, identical: 33},
	{capture: "dns_doh.pcap", ours: 1, reader: 1, paired: 1, identical: 1},
	{capture: "teredo.pcap", ours: 5, reader: 5, paired: 5, identical: 5},
	{capture: "pps.pcap", ours: 107, reader: 107, paired: 107, identical: 104,
		kinds: map[string]int{ndpicompare.KindNoURL: 3}},
	{capture: "capwap.pcap", ours: 16, reader: 5, paired: 4, identical: 4,
		unmatched: map[string]int{"ours: " + ndpicompare.KindTunnelOurs: 12, "ndpireader: " + ndpicompare.KindTunnelReader: 1}},
	{capture: "ipv6_in_gtp.pcap", ours: 2, reader: 2, paired: 0, identical: 0,
		unmatched: map[string]int{"ours: " + ndpicompare.KindTunnelOurs: 2, "ndpireader: " + ndpicompare.KindTunnelReader: 2}},
	{capture: "ajp.pcap", ours: 4, reader: 4, paired: 4, identical: 4,
		packetCounts: map[string]int{ndpicompare.KindTruncatedPackets: 1}},
}

// needReader returns the ndpiReader binary, or skips the test when it is not
// installed, except with CI=true, where its absence is a failure.
func needReader(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("ndpiReader")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ndpiReader is required with CI=true (apt-get install libndpi-bin): %v", err)
		}
		t.Skipf("ndpiReader not installed (libndpi-bin): %v", err)
	}
	return bin
}

// TestAgreementWithNDPIReader runs issue 3's comparison on a few captures
// with varied protocols and checks the counts measured with
// scripts/ndpicompare (see its README): every difference and unmatched flow
// has a known cause.
func TestAgreementWithNDPIReader(t *testing.T) {
	bin := needReader(t)
	captures := make([]string, len(readerCases))
	for i, c := range readerCases {
		captures[i] = testcorpus.Pcap(t, c.capture)
	}
	results, err := ndpicompare.Run(context.Background(), ndpicompare.Config{
		Reader:   ndpicompare.ReaderOptions{Bin: bin, TCPLimit: 20, UDPLimit: 20},
		Captures: captures, NDissections: 20, TempDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range readerCases {
		r := results[i]
		t.Run(c.capture, func(t *testing.T) {
			if r.Error != "" {
				t.Fatal(r.Error)
			}
			if r.OurFlows != c.ours || r.ReaderFlows != c.reader || r.Paired != c.paired || r.Identical != c.identical {
				t.Errorf("flows ours %d, ndpiReader %d, paired %d, identical %d; want %d, %d, %d, %d",
					r.OurFlows, r.ReaderFlows, r.Paired, r.Identical, c.ours, c.reader, c.paired, c.identical)
			}
			if r.DuplicateOur != 0 || r.DuplicateRdr != 0 {
				t.Errorf("%d/%d flows skipped for duplicate keys, want none", r.DuplicateOur, r.DuplicateRdr)
			}
			kinds := map[string]int{}
			for _, d := range r.Differences {
				kinds[d.Kind]++
				if d.Kind == ndpicompare.KindUnclassified {
					t.Errorf("unexplained difference: %s %s: ours %q, ndpiReader %q", d.Key, d.Column, d.Ours, d.Theirs)
				}
			}
			checkCounts(t, "differences", kinds, c.kinds)
			unmatched := map[string]int{}
			for _, u := range r.Unmatched {
				unmatched[u.Side+": "+u.Reason]++
			}
			checkCounts(t, "unmatched flows", unmatched, c.unmatched)
			packets := map[string]int{}
			for _, p := range r.PacketCountDiffs {
				packets[p.Reason]++
			}
			checkCounts(t, "packet-count differences", packets, c.packetCounts)
			// Columns compared on every pair, equal except for the differences.
			for col, name := range ndpicompare.ColumnNames {
				diff := 0
				for _, d := range r.Differences {
					if d.Column == name {
						diff++
					}
				}
				if r.Compared[col] != r.Paired || r.Equal[col] != r.Paired-diff {
					t.Errorf("%s: compared %d, equal %d; want %d, %d", name, r.Compared[col], r.Equal[col], r.Paired, r.Paired-diff)
				}
			}
		})
	}
}

func checkCounts(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	var sorted []string
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		if got[k] != want[k] {
			t.Errorf("%s %q: %d, want %d", what, k, got[k], want[k])
		}
	}
}
