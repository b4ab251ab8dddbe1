package ja4_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
	"github.com/nfstream-go/nfstream/plugins/internal/plugintest"
	"github.com/nfstream-go/nfstream/plugins/ja4"
)

// stream is one expected JA4 value of the JA4 project's reference output.
type stream struct {
	file                 string
	number               int
	proto                uint8
	src, dst             netip.Addr
	srcPort, dstPort     uint16
	ja4, raw, orig, raw0 string
}

func (s *stream) key() string {
	a := netip.AddrPortFrom(s.src, s.srcPort).String()
	b := netip.AddrPortFrom(s.dst, s.dstPort).String()
	if b < a {
		a, b = b, a
	}
	return fmt.Sprintf("%d %s %s", s.proto, a, b)
}

func flowSrc(f *flow.Flow) string { return netip.AddrPortFrom(f.SrcIP, f.SrcPort).String() }

func flowKey(f *flow.Flow) string {
	a := netip.AddrPortFrom(f.SrcIP, f.SrcPort).String()
	b := netip.AddrPortFrom(f.DstIP, f.DstPort).String()
	if b < a {
		a, b = b, a
	}
	return fmt.Sprintf("%d %s %s", f.Protocol, a, b)
}

// rustStreams reads the ja4 values of a snapshot of the Rust
// implementation (a small YAML subset: "- stream: N" items with
// "  key: value" fields).
func rustStreams(t *testing.T, path string) []stream {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []stream
	var cur *stream
	flush := func() {
		if cur != nil && cur.ja4 != "" {
			out = append(out, *cur)
		}
	}
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "- stream: "); ok {
			flush()
			n, _ := strconv.Atoi(v)
			cur = &stream{file: filepath.Base(path), number: n}
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "  "), ": ")
		if cur == nil || !ok || strings.HasPrefix(line, "   ") {
			continue
		}
		switch k {
		case "transport":
			cur.proto = map[string]uint8{"tcp": 6, "udp": 17}[v]
		case "src":
			cur.src, _ = netip.ParseAddr(v)
		case "dst":
			cur.dst, _ = netip.ParseAddr(v)
		case "src_port":
			p, _ := strconv.Atoi(v)
			cur.srcPort = uint16(p)
		case "dst_port":
			p, _ := strconv.Atoi(v)
			cur.dstPort = uint16(p)
		case "ja4":
			cur.ja4 = v
		}
	}
	flush()
	return out
}

// pythonStreams reads the first JA4 of each TCP stream of the Python
// implementation's output, with its raw and original-order renderings.
func pythonStreams(t *testing.T, path string) []stream {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var items []map[string]any
	if err := json.Unmarshal(data, &items); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []stream
	for _, it := range items {
		s := stream{file: filepath.Base(path), proto: 6}
		str := func(k string) string { v, _ := it[k].(string); return v }
		if s.ja4 = str("JA4.1"); s.ja4 == "" {
			continue
		}
		s.number = int(it["stream"].(float64))
		s.raw, s.orig, s.raw0 = str("JA4_r.1"), str("JA4_o.1"), str("JA4_ro.1")
		s.src, _ = netip.ParseAddr(str("src"))
		s.dst, _ = netip.ParseAddr(str("dst"))
		sp, _ := strconv.Atoi(str("srcport"))
		dp, _ := strconv.Atoi(str("dstport"))
		s.srcPort, s.dstPort = uint16(sp), uint16(dp)
		out = append(out, s)
	}
	return out
}

type result struct{ ja4, raw, orig, raw0 string }

// fingerprints runs a capture with the plugin and returns the flows' values
// by endpoint key, in the order of their first packet.
func fingerprints(t *testing.T, pcap string) map[string][]result {
	flows := plugintest.Run(t, pcap, flow.Config{Plugins: []flow.Plugin{&ja4.JA4{}}})
	sort.SliceStable(flows, func(i, j int) bool {
		return flows[i].BidirectionalFirstSeenMs < flows[j].BidirectionalFirstSeenMs
	})
	out := map[string][]result{}
	for _, f := range flows {
		get := func(n string) string { v, _ := f.UDPS.Get(n); return v.String }
		out[flowKey(f)] = append(out[flowKey(f)], result{get(ja4.Name), get(ja4.Raw), get(ja4.Original), get(ja4.RawOriginal)})
	}
	return out
}

// match returns the fingerprint of the first flow (by first packet) of
// the endpoints of a stream that has one. (No two streams of a reference
// file share their endpoints.)
func match(rs []result) result {
	for _, r := range rs {
		if r.ja4 != "" {
			return r
		}
	}
	return result{}
}

// specALPN lists the streams where the JA4 project's reference output
// predates the specification's rule for ALPN values that do not start and
// end with an ASCII letter or digit (JA4.md, "ALPN Extension Value", since
// FoxIO-LLC/ja4 pull request 156): both reference implementations write
// "99" for the protocol 0xba 0xad, the specification (and this plugin)
// "bd", the first and last hex digits.
var specALPN = map[string]string{"tls-non-ascii-alpn.pcapng/0": "bd"}

// spec rewrites a reference value where the specification differs.
func spec(s stream, v string) (string, bool) {
	code, ok := specALPN[fmt.Sprintf("%s/%d", strings.TrimSuffix(strings.TrimSuffix(s.file, ".yaml"), ".json"), s.number)]
	if !ok || len(v) < 10 {
		return v, false
	}
	return v[:8] + code + v[10:], true
}

// TestReference compares the plugin with the JA4 project's reference output
// for every stream of every capture in testdata/ja4.
func TestReference(t *testing.T) {
	dir := filepath.Join(testcorpus.Root(t), "testdata", "ja4")
	snaps, _ := filepath.Glob(filepath.Join(dir, "expected-rust", "*.yaml"))
	var compared, matched, quic, quicMatched, skipped, bySpec int
	var pyCompared, pyMatched int
	for _, snap := range snaps {
		name := strings.TrimSuffix(filepath.Base(snap), ".yaml")
		want := rustStreams(t, snap)
		pcap := filepath.Join(dir, "pcap", name)
		if _, err := os.Stat(pcap); err != nil {
			skipped += len(want)
			continue
		}
		got := fingerprints(t, pcap)
		for _, s := range want {
			compared++
			if s.proto == 17 {
				quic++
			}
			want, differs := spec(s, s.ja4)
			r := match(got[s.key()])
			if differs && r.ja4 == want {
				bySpec++
			} else if r.ja4 == want {
				matched++
				if s.proto == 17 {
					quicMatched++
				}
			} else {
				t.Errorf("%s stream %d (%s): ja4 %q, want %q", name, s.number, s.key(), r.ja4, want)
			}
		}
		for _, s := range pythonStreams(t, filepath.Join(dir, "expected", name+".json")) {
			pyCompared++
			var want result
			var differs bool
			want.ja4, differs = spec(s, s.ja4)
			want.raw, _ = spec(s, s.raw)
			want.orig, _ = spec(s, s.orig)
			want.raw0, _ = spec(s, s.raw0)
			r := match(got[s.key()])
			switch {
			case r == want && differs:
			case r == want:
				pyMatched++
			default:
				t.Errorf("%s stream %d (%s):\n got  %+v\n want %+v", name, s.number, s.key(), r, want)
			}
		}
	}
	t.Logf("JA4 (Rust reference): %d/%d streams identical (QUIC %d/%d), %d differ as the specification says; %d skipped (no capture)",
		matched, compared, quicMatched, quic, bySpec, skipped)
	t.Logf("JA4, ja4_r, ja4_o, ja4_ro (Python reference, TCP): %d/%d streams identical, %d differ as the specification says", pyMatched, pyCompared, bySpec)
	if compared != 202 || matched != 201 || quic != 51 || pyCompared != 150 || pyMatched != 149 {
		t.Errorf("compared %d (want 202), matched %d (want 201), QUIC %d (want 51), Python %d/%d (want 149/150)", compared, matched, quic, pyMatched, pyCompared)
	}
}
