package nfstream_test

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/nfstream-go/nfstream"
	"github.com/nfstream-go/nfstream/capture"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

// summary is what a run produced, for comparing runs.
type summary struct {
	flows   [][4]uint64 // id, packets, bytes, first seen
	apps    []string
	packets uint64
	err     error
	c       nfstream.Counters
}

func runFile(t *testing.T, path string, opts nfstream.Options) summary {
	t.Helper()
	s, err := nfstream.New([]string{path}, opts)
	if err != nil {
		t.Fatal(err)
	}
	var sum summary
	for f, err := range s.Flows(context.Background()) {
		if err != nil {
			sum.err = err
			break
		}
		sum.flows = append(sum.flows, [4]uint64{f.ID, f.BidirectionalPackets, f.BidirectionalBytes, f.BidirectionalFirstSeenMs})
		sum.packets += f.BidirectionalPackets
		if f.DPI != nil {
			sum.apps = append(sum.apps, f.DPI.Info.ApplicationName)
		}
	}
	sum.c = s.Counters()
	return sum
}

// recordEnds returns the byte offset where each record of a little-endian
// classic pcap ends.
func recordEnds(data []byte) []int {
	var ends []int
	for off := 24; off+16 <= len(data); {
		n := int(binary.LittleEndian.Uint32(data[off+8:]))
		if off+16+n > len(data) {
			break
		}
		off += 16 + n
		ends = append(ends, off)
	}
	return ends
}

// TestMalformedCorpus runs the corpus's deliberately damaged captures with
// DPI on: no panic, every decodable packet metered into a flow.
func TestMalformedCorpus(t *testing.T) {
	for _, name := range []string{"malformed_dns.pcap", "malformed_icmp.pcap", "ip_fragmented_garbage.pcap",
		"tls-esni-fuzzed.pcap", "reasm_crash_anon.pcapng", "h323-overflow.pcap", "dns_long_domainname.pcap"} {
		sum := runFile(t, testcorpus.Pcap(t, name), nfstream.DefaultOptions())
		if sum.err != nil || sum.c.Records == 0 || sum.packets != sum.c.Processed || sum.c.Processed+sum.c.Ignored != sum.c.Records {
			t.Errorf("%s: err %v, counters %+v, %d packets in flows", name, sum.err, sum.c, sum.packets)
		}
	}
}

// TestTruncatedCaptures cuts captures inside a record: the run must end
// normally with a truncation report naming the record, and give exactly the
// flows of the complete records before the cut.
func TestTruncatedCaptures(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, name := range []string{"google_ssl.pcap", "skype.pcap", "http_ipv6.pcap", "dns_fragmented.pcap", "quic-23.pcap"} {
		data, err := os.ReadFile(testcorpus.Pcap(t, name))
		if err != nil {
			t.Fatal(err)
		}
		ends := recordEnds(data)
		for range 3 {
			k := rng.IntN(len(ends) - 1) // cut inside record k+1 (0-based k+1)
			cutAt := ends[k] + 1 + rng.IntN(ends[k+1]-ends[k]-1)
			cut := filepath.Join(dir, "cut.pcap")
			prefix := filepath.Join(dir, "prefix.pcap")
			os.WriteFile(cut, data[:cutAt], 0o644)
			os.WriteFile(prefix, data[:ends[k]], 0o644)
			got, want := runFile(t, cut, nfstream.DefaultOptions()), runFile(t, prefix, nfstream.DefaultOptions())
			if got.err != nil || got.c.Damaged != 1 || got.c.Records != uint64(k+1) {
				t.Errorf("%s cut at %d: err %v counters %+v", name, cutAt, got.err, got.c)
			}
			if !equalFlows(got, want) {
				t.Errorf("%s cut at %d: flows differ from the %d complete records", name, cutAt, k+1)
			}
		}
	}
	// The damage report names the file, the record and the reason.
	data, _ := os.ReadFile(testcorpus.Pcap(t, "google_ssl.pcap"))
	cut := filepath.Join(dir, "g.pcap")
	os.WriteFile(cut, data[:len(data)-5], 0o644)
	s, _ := nfstream.New([]string{cut}, nfstream.DefaultOptions())
	for range s.Flows(context.Background()) {
	}
	d := s.Damage()
	var fe *capture.FormatError
	if len(d) != 1 || !errors.As(d[0], &fe) || !errors.Is(d[0], capture.ErrTruncated) || fe.Path != cut || fe.Packet != 28 {
		t.Errorf("damage report: %v", d)
	}
}

func equalFlows(a, b summary) bool {
	if len(a.flows) != len(b.flows) || len(a.apps) != len(b.apps) {
		return false
	}
	for i := range a.flows {
		if a.flows[i] != b.flows[i] {
			return false
		}
	}
	for i := range a.apps {
		if a.apps[i] != b.apps[i] {
			return false
		}
	}
	return true
}

// TestCorruptCaptures writes an absurd record length, garbage, and flipped
// bits into captures: never a panic or a hang; records before a corrupt
// record header come out as flows; flipped packet bytes are metered or
// ignored, never lost.
func TestCorruptCaptures(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, name := range []string{"skype.pcap", "facebook.pcap", "gtp-u.pcap", "capwap.pcap", "6in4tunnel.pcap", "tls-esni-fuzzed.pcap"} {
		data, err := os.ReadFile(testcorpus.Pcap(t, name))
		if err != nil {
			t.Fatal(err)
		}
		ends := recordEnds(data)
		// Absurd length in the header of record k+2.
		k := len(ends) / 2
		bad := append([]byte(nil), data...)
		binary.LittleEndian.PutUint32(bad[ends[k]+8:], 0x7fffffff)
		p := filepath.Join(dir, "bad.pcap")
		os.WriteFile(p, bad, 0o644)
		prefix := filepath.Join(dir, "prefix.pcap")
		os.WriteFile(prefix, data[:ends[k]], 0o644)
		got, want := runFile(t, p, nfstream.DefaultOptions()), runFile(t, prefix, nfstream.DefaultOptions())
		if got.c.Damaged != 1 || !equalFlows(got, want) {
			t.Errorf("%s: absurd length: counters %+v; flows equal to the prefix: %v", name, got.c, equalFlows(got, want))
		}
		// Garbage after the file header.
		garbage := append([]byte(nil), data[:24]...)
		for range 4096 {
			garbage = append(garbage, byte(rng.Uint32()))
		}
		os.WriteFile(p, garbage, 0o644)
		if g := runFile(t, p, nfstream.DefaultOptions()); g.c.Damaged == 0 && g.c.Records == 0 {
			t.Errorf("%s: garbage: neither records nor damage reported: %+v", name, g.c)
		}
		// Flipped bits inside packet bytes only: every record still read.
		flipped := append([]byte(nil), data...)
		start := 24
		for _, end := range ends {
			for range 3 {
				i := start + 16 + rng.IntN(end-start-16+1)
				if i < end {
					flipped[i] ^= byte(1 << rng.IntN(8))
				}
			}
			start = end
		}
		os.WriteFile(p, flipped, 0o644)
		f := runFile(t, p, nfstream.DefaultOptions())
		if f.err != nil || f.c.Records != uint64(len(ends)) || f.c.Processed+f.c.Ignored != f.c.Records || f.packets != f.c.Processed {
			t.Errorf("%s: flipped bits: err %v counters %+v packets %d", name, f.err, f.c, f.packets)
		}
	}
}
