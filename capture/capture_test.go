package capture

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

// rec is the part of a Record the tests compare.
type rec struct {
	Sec    uint64
	Nsec   uint32
	Caplen int
	Wire   uint32
	Link   uint16
}

func (r rec) String() string {
	return fmt.Sprintf("%d.%09d cap=%d wire=%d link=%d", r.Sec, r.Nsec, r.Caplen, r.Wire, r.Link)
}

func recOf(r *Record) rec {
	return rec{r.Sec, r.Nsec, len(r.Data), r.WireLen, r.LinkType}
}

// item is one result of Next: a record (with a copy of its bytes) or an error.
type item struct {
	rec    rec
	data   []byte
	file   int
	number uint64
	err    error
}

// drain calls Next until io.EOF (at most limit times) and returns what came out.
func drain(t testing.TB, s Source, limit int) []item {
	t.Helper()
	var out []item
	var r Record
	for range limit {
		err := s.Next(&r)
		if err == io.EOF {
			return out
		}
		if err != nil {
			out = append(out, item{err: err})
			continue
		}
		out = append(out, item{rec: recOf(&r), data: bytes.Clone(r.Data), file: r.File, number: r.Number})
	}
	t.Fatalf("no io.EOF after %d calls to Next", limit)
	return nil
}

func records(items []item) []rec {
	var out []rec
	for _, it := range items {
		if it.err == nil {
			out = append(out, it.rec)
		}
	}
	return out
}

func errorsOf(items []item) []error {
	var out []error
	for _, it := range items {
		if it.err != nil {
			out = append(out, it.err)
		}
	}
	return out
}

func openCorpus(t testing.TB, name string) Source {
	t.Helper()
	s, err := Open(testcorpus.Pcap(t, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestCorpusFiles checks the number of records, the link type and the first
// and last records of corpus captures. The values were cross-checked with
// tshark 4.0 (frame.time_epoch, frame.cap_len, frame.len) and with libpcap
// 1.10.3 (pcap_open_offline_with_tstamp_precision NANO, pcap_datalink).
func TestCorpusFiles(t *testing.T) {
	tests := []struct {
		file        string
		records     int
		first, last rec
	}{
		// classic pcap, little-endian, microseconds
		{"google_ssl.pcap", 28, rec{1434443394, 683939000, 58, 58, 1}, rec{1434443401, 353810000, 54, 54, 1}},
		{"facebook.pcap", 60, rec{1472393122, 365661000, 74, 74, 1}, rec{1472393124, 229315000, 1454, 1454, 1}},
		{"skype.pcap", 3284, rec{1431969639, 825574000, 60, 60, 1}, rec{1431969808, 951480000, 66, 66, 1}},
		{"ip_fragmented_garbage.pcap", 9077, rec{1534244024, 697756000, 54, 54, 1}, rec{1534244033, 215628000, 42, 42, 1}},
		{"mdns.pcap", 292, rec{1318311341, 309390000, 412, 412, 113}, rec{1318311472, 885769000, 305, 305, 113}},
		{"raw.pcap", 1, rec{1433421189, 142785000, 165, 165, 12}, rec{1433421189, 142785000, 165, 165, 12}}, // LINKTYPE_RAW 101 → DLT_RAW 12
		{"nats.pcap", 27, rec{1586288040, 558498000, 68, 68, 0}, rec{1586288042, 776134000, 56, 56, 0}},
		{"rdp.pcap", 2010, rec{1559207465, 138576000, 68, 68, 0}, rec{1559207472, 692980000, 44, 44, 0}},
		{"dlt_ppp.pcap", 1, rec{1, 31048000, 1230, 1230, 9}, rec{1, 31048000, 1230, 1230, 9}},
		{"BGP_Cisco_hdlc_slarp.pcap", 14, rec{1445156939, 131847000, 48, 48, 9}, rec{1445156989, 230918000, 44, 44, 9}},
		// classic pcap, big-endian
		{"ps_vue.pcap", 1740, rec{1568831054, 386409000, 1372, 1372, 1}, rec{1568831070, 533460000, 1372, 1372, 1}},
		// pcapng
		{"dhcp.pcapng", 4, rec{1102274184, 317453000, 314, 314, 1}, rec{1102274184, 387798000, 342, 342, 1}},
		{"dhcp_big_endian.pcapng", 4, rec{4734231571822, 539464000, 314, 314, 1}, rec{4734231571892, 884464000, 342, 342, 1}},
		{"dhcp_little_endian.pcapng", 4, rec{4734231571822, 539464000, 314, 314, 1}, rec{4734231571892, 884464000, 342, 342, 1}},
		{"reasm_crash_anon.pcapng", 209, rec{1410865705, 717955000, 81, 81, 113}, rec{1410867180, 785359000, 68, 68, 113}},
		{"quic_interop_V.pcapng", 246, rec{1603816434, 507204968, 1294, 1294, 1}, rec{1603816444, 721572231, 1294, 1294, 1}}, // nanosecond if_tsresol
		{"z3950.pcapng", 31, rec{1623680697, 296098000, 66, 66, 1}, rec{1625070200, 217383569, 54, 54, 1}},                   // two interfaces, µs and ns
		// pcapng named .pcap
		{"1kxun.pcap", 1439, rec{1470104373, 25824000, 68, 68, 1}, rec{1470104433, 789634000, 1078, 1078, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			items := drain(t, openCorpus(t, tt.file), 1<<20)
			if errs := errorsOf(items); len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			got := records(items)
			if len(got) != tt.records {
				t.Fatalf("%d records, want %d", len(got), tt.records)
			}
			if got[0] != tt.first {
				t.Errorf("first record %v, want %v", got[0], tt.first)
			}
			if got[len(got)-1] != tt.last {
				t.Errorf("last record %v, want %v", got[len(got)-1], tt.last)
			}
			for i, it := range items {
				if it.file != 0 || it.number != uint64(i+1) {
					t.Fatalf("record %d: File %d Number %d", i, it.file, it.number)
				}
			}
		})
	}
}

// TestCorpusAll reads every capture of the corpus to its end without an
// error. The totals per link type were cross-checked with libpcap 1.10.3.
func TestCorpusAll(t *testing.T) {
	dir := filepath.Dir(testcorpus.Pcap(t, "facebook.pcap"))
	paths, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 182 {
		t.Fatalf("%d files in the corpus, want 182", len(paths))
	}
	perLink := map[uint16]int{}
	for _, p := range paths {
		s, err := Open(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		for _, it := range drain(t, s, 1<<20) {
			if it.err != nil {
				t.Errorf("%s: %v", p, it.err)
				continue
			}
			perLink[it.rec.Link]++
		}
		s.Close()
	}
	want := map[uint16]int{0: 2037, 1: 85183, 9: 15, 12: 1, 113: 4206}
	if fmt.Sprint(perLink) != fmt.Sprint(want) {
		t.Errorf("records per link type %v, want %v", perLink, want)
	}
}

// TestCorpusRecordBytes checks a few bytes of records, to make sure the data
// is that of the right record (tshark -x).
func TestCorpusRecordBytes(t *testing.T) {
	items := drain(t, openCorpus(t, "raw.pcap"), 10)
	if len(items) != 1 || items[0].err != nil {
		t.Fatalf("raw.pcap: %v", items)
	}
	// An IPv4 header: version 4, IHL 5.
	if items[0].data[0] != 0x45 {
		t.Errorf("raw.pcap first byte %#x, want 0x45", items[0].data[0])
	}
	items = drain(t, openCorpus(t, "nats.pcap"), 100)
	// DLT_NULL: the address family 2 (AF_INET) in host (little-endian) order.
	if !bytes.Equal(items[0].data[:4], []byte{2, 0, 0, 0}) {
		t.Errorf("nats.pcap first bytes % x, want 02 00 00 00", items[0].data[:4])
	}
}

// TestAgainstTshark compares every record of several captures with tshark,
// when tshark is installed (it is not required).
func TestAgainstTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed")
	}
	if testing.Short() {
		t.Skip("slow")
	}
	for _, name := range []string{
		"facebook.pcap", "ps_vue.pcap", "mdns.pcap", "nats.pcap", "raw.pcap", "netbios.pcap",
		"dhcp_big_endian.pcapng", "quic_interop_V.pcapng", "z3950.pcapng", "reasm_crash_anon.pcapng", "wireguard.pcap",
	} {
		t.Run(name, func(t *testing.T) {
			path := testcorpus.Pcap(t, name)
			cmd := exec.Command(tshark, "-r", path, "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.cap_len", "-e", "frame.len")
			cmd.Env = append(os.Environ(), "LC_ALL=C")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			var want []string
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				want = append(want, sc.Text())
			}
			var got []string
			for _, r := range records(drain(t, openCorpus(t, name), 1<<20)) {
				got = append(got, fmt.Sprintf("%d.%09d\t%d\t%d", r.Sec, r.Nsec, r.Caplen, r.Wire))
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%d records, tshark %d; they differ", len(got), len(want))
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pcap")
	if _, err := Open(missing); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Open(missing) = %v, want a not-exist error naming the path", err)
	}
	text := writeTemp(t, "notes.pcap", []byte("hello, world\n"))
	_, err := Open(text)
	var fe *FormatError
	if !errors.Is(err, ErrNotCapture) || !errors.As(err, &fe) || fe.Path != text || fe.Packet != 0 {
		t.Fatalf("Open(text) = %v, want a *FormatError wrapping ErrNotCapture", err)
	}
	if want := text + ": offset 0: not a pcap or pcapng capture (magic number 0x68656c6c)"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if _, err := Open(t.TempDir()); err == nil {
		t.Error("Open(directory) succeeded")
	}
}
