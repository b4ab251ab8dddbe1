// Command damagedtable builds the README's table of damaged and hostile
// input: it writes each damaged capture into a temporary directory, runs
// nfstream on it and prints, as a Markdown table, what the user sees on
// standard error, the exit status and how many flows were written.
//
// Usage:
//
//	go build -o bin/nfstream ./cmd/nfstream
//	go run ./scripts/damagedtable [path/to/nfstream]
//
// It builds nothing: the argument is the nfstream binary to try (default
// bin/nfstream). Every case runs as
//
//	nfstream --n-dissections 0 -o out.csv FILE...
//
// in the case's own directory, so the messages name files by their base
// name. The captures are synthetic and byte-stable, so the table only
// changes when nfstream's behaviour does. A panic, a hang (no exit within
// a minute) or an exit status other than 0, 1 or 2 is reported on standard
// error and makes the command exit with status 1, after the table.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/nfstream-go/nfstream/internal/pcapgen"
)

// file is one input of a case: a capture, a directory, or nothing at all
// (a name that does not exist).
type file struct {
	name    string
	data    []byte
	dir     bool // create a directory of that name
	missing bool // create nothing
}

// testCase is one row of the table.
type testCase struct {
	what  string
	files []file
	stdin []byte // when set, the source is "-" and these bytes are piped in
}

func main() {
	bin := "bin/nfstream"
	switch len(os.Args) {
	case 1:
	case 2:
		bin = os.Args[1]
	default:
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/damagedtable [path/to/nfstream]")
		os.Exit(2)
	}
	abs, err := filepath.Abs(bin)
	if err == nil {
		_, err = os.Stat(abs)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "damagedtable: %v (build it with: go build -o bin/nfstream ./cmd/nfstream)\n", err)
		os.Exit(2)
	}
	tmp, err := os.MkdirTemp("", "damagedtable")
	if err != nil {
		fmt.Fprintln(os.Stderr, "damagedtable:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(tmp)

	fmt.Println("| case | what the user sees (standard error) | exit status | flows written |")
	fmt.Println("|---|---|---|---|")
	bad := 0
	for i, c := range cases() {
		r, err := run(abs, filepath.Join(tmp, fmt.Sprint(i)), c)
		if err != nil {
			fmt.Fprintf(os.Stderr, "damagedtable: %s: %v\n", c.what, err)
			os.RemoveAll(tmp)
			os.Exit(1)
		}
		if r.problem != "" {
			fmt.Fprintf(os.Stderr, "damagedtable: %s: %s\n%s\n", c.what, r.problem, r.stderr)
			bad++
		}
		fmt.Printf("| %s | %s | %s | %d |\n", cell(c.what), messages(r.stderr), r.status, r.flows)
	}
	fmt.Println()
	fmt.Println("Each line of standard error starts with `nfstream: `, left out here.")
	fmt.Println("The last line is the summary with the counters at zero left out:")
	fmt.Println("`6 packets read, 6 metered, 1 damaged; 4 flows` stands for")
	fmt.Println("`6 packets read, 6 metered, 0 ignored, 0 filtered out, 1 damaged, 0 clamped (time going backwards); 4 flows, 0 evicted (max_tracked_flows)`.")
	if bad > 0 {
		os.RemoveAll(tmp)
		os.Exit(1)
	}
}

// result is what one run of nfstream gave.
type result struct {
	stderr  string
	status  string
	flows   int
	problem string // a panic, a hang or an unexpected exit status
}

// run writes the case's inputs into dir and runs nfstream there.
func run(bin, dir string, c testCase) (result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return result{}, err
	}
	args := []string{"--n-dissections", "0", "-o", "out.csv"}
	for _, f := range c.files {
		args = append(args, f.name)
		var err error
		switch {
		case f.missing:
		case f.dir:
			err = os.Mkdir(filepath.Join(dir, f.name), 0o755)
		default:
			err = os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644)
		}
		if err != nil {
			return result{}, err
		}
	}
	if c.stdin != nil {
		args = append(args, "-")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if c.stdin != nil {
		cmd.Stdin = bytes.NewReader(c.stdin)
	}
	err := cmd.Run()
	var r result
	r.stderr = strings.ReplaceAll(stderr.String(), dir+string(filepath.Separator), "")
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.status, r.problem = "killed", "no exit within a minute"
	case err == nil:
		r.status = "0"
	case errors.As(err, &ee):
		code := ee.ExitCode()
		r.status = fmt.Sprint(code)
		if code < 0 || code > 2 {
			r.problem = "exit status " + ee.String()
		}
	default:
		return r, err
	}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		r.problem = "panic"
	}
	if out, err := os.ReadFile(filepath.Join(dir, "out.csv")); err == nil {
		if lines := strings.Count(string(out), "\n"); lines > 0 {
			r.flows = lines - 1
		}
	}
	return r, nil
}

var summaryLine = regexp.MustCompile(`^(\d+) packets read, (\d+) metered, (\d+) ignored, (\d+) filtered out, (\d+) damaged, (\d+) clamped \(time going backwards\); (\d+) flows, (\d+) evicted \(max_tracked_flows\)$`)

// messages formats standard error for a table cell: one code span per
// line, without the "nfstream: " prefix, the summary line shortened.
func messages(stderr string) string {
	var out []string
	for line := range strings.Lines(stderr) {
		line = strings.TrimPrefix(strings.TrimRight(line, "\r\n"), "nfstream: ")
		if line == "" {
			continue
		}
		if m := summaryLine.FindStringSubmatch(line); m != nil {
			s := m[1] + " packets read, " + m[2] + " metered"
			for i, name := range []string{3: "ignored", 4: "filtered out", 5: "damaged", 6: "clamped"} {
				if name != "" && m[i] != "0" {
					s += ", " + m[i] + " " + name
				}
			}
			s += "; " + m[7] + " flows"
			if m[8] != "0" {
				s += ", " + m[8] + " evicted"
			}
			line = s
		}
		out = append(out, "`"+strings.ReplaceAll(line, "|", `\|`)+"`")
	}
	if len(out) == 0 {
		return "(nothing)"
	}
	return strings.Join(out, "<br>")
}

// cell escapes text for a table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// The synthetic traffic: packets before the damage form three flows (a TCP
// handshake to port 80, a DNS query and its answer, a TCP SYN to port
// 443); the packets after it form a fourth (NTP), so that the flows column
// shows both whether the flows before the damage come out and whether
// reading goes on after it.

var (
	macA = [6]byte{0x02, 0, 0, 0, 0, 1}
	macB = [6]byte{0x02, 0, 0, 0, 0, 2}
	ipA  = netip.MustParseAddr("192.0.2.1")
	ipB  = netip.MustParseAddr("192.0.2.2")
	ipD  = netip.MustParseAddr("192.0.2.53")
	ipC  = netip.MustParseAddr("198.51.100.7")
)

const start = 1767225600 * 1_000_000 // 2026-01-01T00:00:00Z in µs

// pkt is a frame and its time in microseconds.
type pkt struct {
	us   uint64
	data []byte
}

func eth(ip []byte) []byte { return pcapgen.Ethernet(macA, macB, 0x0800, ip) }

func before() []pkt {
	return []pkt{
		{start, eth(pcapgen.IP(ipA, ipB, 6, pcapgen.TCP(40000, 80, 1, 0, pcapgen.SYN, nil)))},
		{start + 1000, eth(pcapgen.IP(ipB, ipA, 6, pcapgen.TCP(80, 40000, 7, 2, pcapgen.SYN|pcapgen.ACK, nil)))},
		{start + 2000, eth(pcapgen.IP(ipA, ipD, 17, pcapgen.UDP(50000, 53, pcapgen.DNSQuery(1, "example.com", netip.Addr{}))))},
		{start + 3000, eth(pcapgen.IP(ipD, ipA, 17, pcapgen.UDP(53, 50000, pcapgen.DNSQuery(1, "example.com", ipC))))},
		{start + 4000, eth(pcapgen.IP(ipA, ipC, 6, pcapgen.TCP(40001, 443, 1, 0, pcapgen.SYN, nil)))},
	}
}

func after() []pkt {
	ntp := make([]byte, 48)
	ntp[0] = 0x23
	return []pkt{
		{start + 6000, eth(pcapgen.IP(ipA, ipC, 17, pcapgen.UDP(123, 123, ntp)))},
		{start + 7000, eth(pcapgen.IP(ipC, ipA, 17, pcapgen.UDP(123, 123, ntp)))},
	}
}

// Classic pcap, little-endian, microseconds.

func pcapHeader(major, minor uint16, snaplen, linkType uint32) []byte {
	h := make([]byte, 24)
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], major)
	binary.LittleEndian.PutUint16(h[6:], minor)
	binary.LittleEndian.PutUint32(h[16:], snaplen)
	binary.LittleEndian.PutUint32(h[20:], linkType)
	return h
}

// record is a raw record with the given lengths, whatever the data.
func record(us uint64, caplen, wirelen uint32, data []byte) []byte {
	h := make([]byte, 16, 16+len(data))
	binary.LittleEndian.PutUint32(h[0:], uint32(us/1_000_000))
	binary.LittleEndian.PutUint32(h[4:], uint32(us%1_000_000))
	binary.LittleEndian.PutUint32(h[8:], caplen)
	binary.LittleEndian.PutUint32(h[12:], wirelen)
	return append(h, data...)
}

func records(ps []pkt) []byte {
	var b bytes.Buffer
	w := pcapgen.NewWriter(&b, 1, false)
	for _, p := range ps {
		if err := w.WritePacket(p.us, p.data, 0); err != nil {
			panic(err)
		}
	}
	return b.Bytes()[24:]
}

// pcapFile is a valid capture's header, the packets before, the damage,
// and the packets after.
func pcapFile(damage []byte, withAfter bool) []byte {
	b := append(pcapHeader(2, 4, 262144, 1), records(before())...)
	b = append(b, damage...)
	if withAfter {
		b = append(b, records(after())...)
	}
	return b
}

// other is a valid capture of two more flows (SSH and syslog, between
// other hosts), at offset µs from the start of the others.
func other(offset int64) []byte {
	ipE, ipF := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2")
	t := uint64(int64(start) + offset)
	return append(pcapHeader(2, 4, 262144, 1), records([]pkt{
		{t, eth(pcapgen.IP(ipE, ipF, 6, pcapgen.TCP(40022, 22, 1, 0, pcapgen.SYN, nil)))},
		{t + 1000, eth(pcapgen.IP(ipE, ipF, 17, pcapgen.UDP(514, 514, []byte("<13>hello"))))},
	})...)
}

func goodPcap() []byte {
	b := append(pcapHeader(2, 4, 262144, 1), records(before())...)
	return append(b, records(after())...)
}

// pcapng, little-endian.

const (
	blockSHB = 0x0a0d0d0a
	blockIDB = 1
	blockEPB = 6
)

type ng struct{ b []byte }

func (n *ng) u32(v ...uint32) *ng {
	for _, x := range v {
		n.b = binary.LittleEndian.AppendUint32(n.b, x)
	}
	return n
}

func (n *ng) block(typ uint32, body []byte) *ng {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	total := uint32(12 + len(body))
	n.u32(typ, total)
	n.b = append(n.b, body...)
	return n.u32(total)
}

func shb(magic uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, magic)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 0)
	return binary.LittleEndian.AppendUint64(b, ^uint64(0))
}

// idb describes an Ethernet interface; tsresol, if not 0, is an if_tsresol
// option.
func idb(snap uint32, tsresol byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, 1)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, snap)
	if tsresol != 0 {
		b = binary.LittleEndian.AppendUint16(b, 9)
		b = binary.LittleEndian.AppendUint16(b, 1)
		b = append(b, tsresol, 0, 0, 0)
		b = append(b, 0, 0, 0, 0)
	}
	return b
}

func epbLens(iface uint32, us uint64, caplen uint32, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, iface)
	b = binary.LittleEndian.AppendUint32(b, uint32(us>>32))
	b = binary.LittleEndian.AppendUint32(b, uint32(us))
	b = binary.LittleEndian.AppendUint32(b, caplen)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

func (n *ng) packets(ps []pkt) *ng {
	for _, p := range ps {
		n.block(blockEPB, epbLens(0, p.us, uint32(len(p.data)), p.data))
	}
	return n
}

// ngStart is a section header, an interface and the packets before.
func ngStart() *ng {
	n := (&ng{}).block(blockSHB, shb(0x1a2b3c4d)).block(blockIDB, idb(0, 0))
	return n.packets(before())
}

func ngFile(damage func(n *ng), withAfter bool) []byte {
	n := ngStart()
	damage(n)
	if withAfter {
		n.packets(after())
	}
	return n.b
}

func cases() []testCase {
	one := func(what, name string, data []byte) testCase {
		return testCase{what: what, files: []file{{name: name, data: data}}}
	}
	good := goodPcap()
	lastCut := goodPcap()
	lastCut = lastCut[:len(lastCut)-20]

	// A 100-byte frame in a file whose snapshot length is 96 (the other
	// frames are at most 90 bytes long).
	snap := pcapHeader(2, 4, 96, 1)
	snap = append(snap, records(before())...)
	big := eth(pcapgen.IP(ipA, ipB, 6, pcapgen.TCP(40000, 80, 2, 8, pcapgen.ACK, make([]byte, 46))))
	snap = append(snap, record(start+5000, uint32(len(big)), uint32(len(big)), big)...)
	snap = append(snap, records(after())...)

	backwards := append(pcapHeader(2, 4, 262144, 1), records(before())...)
	backwards = append(backwards, records([]pkt{{start - 60_000_000, eth(pcapgen.IP(ipA, ipB, 6, pcapgen.TCP(40000, 80, 2, 8, pcapgen.ACK, nil)))}})...)
	backwards = append(backwards, records(after())...)

	ipLong := eth(pcapgen.IP(ipA, ipB, 6, pcapgen.TCP(40002, 8080, 1, 0, pcapgen.SYN, nil)))
	binary.BigEndian.PutUint16(ipLong[14+2:], 1500)
	ihl := eth(pcapgen.IP(ipA, ipB, 6, pcapgen.TCP(40003, 8081, 1, 0, pcapgen.SYN, nil)))
	ihl[14] = 0x44
	arp := pcapgen.Ethernet(macA, macB, 0x0806, []byte{0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 192, 0, 2, 2})
	rng := rand.New(rand.NewPCG(9, 9))
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	v1 := goodPcap()
	binary.LittleEndian.PutUint16(v1[4:], 1)
	binary.LittleEndian.PutUint16(v1[6:], 0)

	mismatch := ngFile(func(n *ng) {
		p := after()[0]
		n.block(blockEPB, epbLens(0, p.us, uint32(len(p.data)), p.data))
		binary.LittleEndian.PutUint32(n.b[len(n.b)-4:], 96)
	}, false)
	ngCut := ngStart().packets(after()).b
	ngCut = ngCut[:len(ngCut)-10]
	ngBefore := (&ng{}).block(blockSHB, shb(0x1a2b3c4d)).packets(before()).block(blockIDB, idb(0, 0)).packets(after()).b
	ngSnap := (&ng{}).block(blockSHB, shb(0x1a2b3c4d)).block(blockIDB, idb(96, 0)).packets(before())
	ngSnap.block(blockEPB, epbLens(0, start+5000, uint32(len(big)), big)).packets(after())
	ngNoIDB := (&ng{}).block(blockSHB, shb(0x1a2b3c4d)).b

	early, late := other(-10_000_000), other(10_000_000)

	return []testCase{
		one("pcap: empty file", "empty.pcap", nil),
		one("pcap: 3 bytes", "short.pcap", good[:3]),
		one("pcap: not a capture (an HTTP request)", "http.pcap", []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")),
		one("pcap: file header cut short (20 of 24 bytes)", "header.pcap", good[:20]),
		one("pcap: archaic version 1.0", "v1.pcap", v1),
		one("pcap: unsupported link type 65536", "link.pcap", append(pcapHeader(2, 4, 262144, 0x10000), records(before())...)),
		one("pcap: link type nfstream cannot decode (147, DLT_USER0)", "user0.pcap", append(pcapHeader(2, 4, 262144, 147), records(before())...)),
		one("pcap: last record cut short", "trunc.pcap", lastCut),
		one("pcap: record header cut short", "trunchdr.pcap", pcapFile(make([]byte, 10), false)),
		one("pcap: absurd record length (262145) in the middle, good records after", "absurd.pcap",
			pcapFile(record(start+5000, 262145, 60, make([]byte, 60)), true)),
		one("pcap: record length 0xffffffff", "ffff.pcap", pcapFile(record(start+5000, 0xffffffff, 60, make([]byte, 60)), true)),
		one("pcap: 4 KiB of random bytes after the good records", "garbage.pcap", pcapFile(garbage, false)),
		one("pcap: a 100-byte record in a file of snapshot length 96", "snaplen.pcap", snap),
		one("pcap: zero-length record (caplen 0) between good ones", "zero.pcap", pcapFile(record(start+5000, 0, 60, nil), true)),
		one("pcap: 10-byte frame (shorter than Ethernet)", "tiny.pcap", pcapFile(record(start+5000, 10, 10, make([]byte, 10)), true)),
		one("pcap: timestamp going back a minute", "backwards.pcap", backwards),
		one("pcap: IPv4 total length 1500, 60 bytes captured", "iplen.pcap", pcapFile(record(start+5000, uint32(len(ipLong)), uint32(len(ipLong)), ipLong), true)),
		one("pcap: IPv4 header length 16 (< 20)", "ihl.pcap", pcapFile(record(start+5000, uint32(len(ihl)), uint32(len(ihl)), ihl), true)),
		one("pcap: ARP frame (not IP)", "arp.pcap", pcapFile(record(start+5000, uint32(len(arp)), uint32(len(arp)), arp), true)),
		{what: "a directory given as input", files: []file{{name: "captures", dir: true}}},
		{what: "a file that does not exist", files: []file{{name: "missing.pcap", missing: true}}},
		{what: "standard input cut inside a record (`cat part | nfstream -`)", stdin: lastCut},

		one("pcapng: section header cut short (20 of 28 bytes)", "shb.pcapng", ngStart().b[:20]),
		one("pcapng: bad byte-order magic", "bom.pcapng", (&ng{}).block(blockSHB, shb(0x11223344)).b),
		one("pcapng: section without any interface description block", "noidb.pcapng", ngNoIDB),
		one("pcapng: block length 8 (< 12)", "len8.pcapng", ngFile(func(n *ng) { n.u32(blockEPB, 8, 8) }, true)),
		one("pcapng: block length 30 (not a multiple of 4)", "len30.pcapng", ngFile(func(n *ng) { n.u32(blockEPB, 30, 0, 0, 0, 0, 0, 0, 0, 30) }, true)),
		one("pcapng: block length 256 MiB (> 16 MiB)", "huge.pcapng", ngFile(func(n *ng) { n.u32(blockEPB, 1<<28, 0, 0) }, true)),
		one("pcapng: block lengths in header and trailer differ", "trailer.pcapng", mismatch),
		one("pcapng: packets before any interface description block", "early.pcapng", ngBefore),
		one("pcapng: packet on interface 5 (only 0 described)", "iface.pcapng", ngFile(func(n *ng) {
			p := after()[0]
			n.block(blockEPB, epbLens(5, p.us, uint32(len(p.data)), p.data))
		}, true)),
		one("pcapng: captured length 200 beyond the block's 60 bytes", "caplen.pcapng", ngFile(func(n *ng) {
			p := after()[0]
			n.block(blockEPB, epbLens(0, p.us, 200, p.data))
		}, true)),
		one("pcapng: a 100-byte packet on an interface of snapshot length 96", "snaplen.pcapng", ngSnap.b),
		one("pcapng: if_tsresol 10^-20", "tsresol.pcapng", (&ng{}).block(blockSHB, shb(0x1a2b3c4d)).block(blockIDB, idb(0, 20)).packets(before()).b),
		one("pcapng: last block cut short", "trunc.pcapng", ngCut),

		{what: "two files, the second with an absurd record length", files: []file{{name: "good.pcap", data: early},
			{name: "absurd.pcap", data: pcapFile(record(start+5000, 262145, 60, make([]byte, 60)), true)}}},
		{what: "two files, the second cut short", files: []file{{name: "good.pcap", data: early}, {name: "trunc.pcap", data: lastCut}}},
		{what: "two files, the second not a capture", files: []file{{name: "good.pcap", data: early},
			{name: "http.pcap", data: []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")}}},
		{what: "two files, the second missing", files: []file{{name: "good.pcap", data: early}, {name: "missing.pcap", missing: true}}},
		{what: "two files, the first with an absurd record length", files: []file{
			{name: "absurd.pcap", data: pcapFile(record(start+5000, 262145, 60, make([]byte, 60)), true)}, {name: "good.pcap", data: late}}},
	}
}
