package ndpicompare

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// ReaderArgs returns the ndpiReader command-line arguments for one capture.
// The measurement of issue 3 is `ndpiReader -i CAPTURE -T 20 -U 20 -C
// OUT.csv`; "-v 2 -w TXT" are added because, without a verbose level of 2,
// ndpiReader writes only the flows whose protocol is known into the CSV file
// (printFlowsStats walks the unknown flows only in verbose mode), and because
// the CSV has no VLAN, category, user agent, content type or DHCP
// fingerprint column while the verbose flow line has them all. "-q" only
// silences the statistics on standard output. None of these flags changes
// what nDPI is given or when ndpiReader gives up.
//
// With o.Tunnels, "-t" is added: ndpiReader then decapsulates GTP-U, TZSP
// and CAPWAP as our library does by default (not part of issue 3's command).
func ReaderArgs(capture, csvPath, txtPath string, o ReaderOptions) []string {
	args := []string{
		"-i", capture,
		"-T", strconv.Itoa(o.TCPLimit),
		"-U", strconv.Itoa(o.UDPLimit),
		"-C", csvPath,
	}
	if o.Tunnels {
		args = append(args, "-t")
	}
	return append(args, "-v", "2", "-w", txtPath, "-q")
}

// ReaderOptions say how ndpiReader is run.
type ReaderOptions struct {
	// Bin is the ndpiReader binary ("ndpiReader" when empty).
	Bin string
	// TCPLimit and UDPLimit are -T and -U: ndpiReader gives up on a flow
	// after dissecting the packet that makes its count exceed them.
	TCPLimit, UDPLimit int
	// Tunnels adds -t (decapsulate GTP-U, TZSP and CAPWAP).
	Tunnels bool
}

// RunReader runs ndpiReader on one capture, writing its outputs in dir, and
// returns its flows with the columns this package compares.
func RunReader(ctx context.Context, o ReaderOptions, capture, dir string) ([]Flow, error) {
	bin := o.Bin
	if bin == "" {
		bin = "ndpiReader"
	}
	name := fmt.Sprintf("%s.T%dU%d", filepath.Base(capture), o.TCPLimit, o.UDPLimit)
	if o.Tunnels {
		name += "t"
	}
	csvPath := filepath.Join(dir, name+".csv")
	txtPath := filepath.Join(dir, name+".txt")
	cmd := exec.CommandContext(ctx, bin, ReaderArgs(capture, csvPath, txtPath, o)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", bin, strings.Join(cmd.Args[1:], " "), err, strings.TrimSpace(tail(out.String(), 400)))
	}
	csvData, err := os.ReadFile(csvPath)
	if err != nil {
		return nil, err
	}
	txtData, err := os.ReadFile(txtPath)
	if err != nil {
		return nil, err
	}
	return ParseReader(csvData, txtData)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// CSV columns of ndpiReader 4.2 (0-based), before any shift caused by commas
// inside the host name or the SSH server banner (ndpiReader does not quote).
const (
	csvProtocol   = 1
	csvSrcIP      = 5
	csvSrcPort    = 6
	csvDstIP      = 7
	csvDstPort    = 8
	csvProtoName  = 10
	csvSNI        = 11
	csvServerInfo = 68
	csvJA3C       = 70
	csvJA3S       = 72
	csvHasshC     = 76
	csvHasshS     = 77
	csvMinFields  = 80
	// The name column is printed into a 32-byte buffer.
	csvNameMax = 31
)

// flowLine matches the start of a flow line of ndpiReader's verbose output:
// "\t<n>\t<L4> <src>:<port> <-> <dst>:<port> [...".
var flowLine = regexp.MustCompile(`^\t(\d+)\t(\S+) (\[[^\]]*\]|[^ \[]+):(\d+) (<->|->) (\[[^\]]*\]|[^ \[]+):(\d+) (\[.*)$`)

var (
	reVLAN    = regexp.MustCompile(`^\[VLAN: (\d+)\]`)
	reProto   = regexp.MustCompile(`^\[proto: (?:([A-Za-z0-9_-]+):)?([0-9]+)(?:\.([0-9]+))?/([^\]]*)\]`)
	reConf    = regexp.MustCompile(`^\[(?:Encrypted|ClearText)\]\[Confidence: ([^\]]*)\]`)
	reCat     = regexp.MustCompile(`^\[cat: ([^\]]*)/(\d+)\]`)
	rePkts    = regexp.MustCompile(`\[(\d+) pkts/\d+ bytes (?:<->|->) (\d+) pkts/\d+ bytes\]`)
	reJA3C    = regexp.MustCompile(`\]\[JA3C: ([0-9a-fA-F]+)`)
	reJA3S    = regexp.MustCompile(`\]\[JA3S: ([0-9a-fA-F]+)`)
	reHasshC  = regexp.MustCompile(`\]\[HASSH-C: ([0-9a-fA-F]+)\]`)
	reHasshS  = regexp.MustCompile(`\]\[HASSH-S: ([0-9a-fA-F]+)\]`)
	reDHCPFP  = regexp.MustCompile(`\]\[DHCP Fingerprint: ([0-9,]*)\]`)
	reFloat   = regexp.MustCompile(`^-?[0-9]+\.[0-9]+$`)
	reUint    = regexp.MustCompile(`^[0-9]+$`)
	reTLSVers = regexp.MustCompile(`^(0|TLS.*|SSL.*|DTLS.*|GREASE)$`)
)

// Keys that ndpiReader prints after the content type, the user agent or the
// SSH server banner, in its order; a value ends where "][" and one of these
// follows.
var afterUA = []string{
	"Risk: ", "Risk Score: ", "TLSv", "SSLv", "DTLS", "TLS (", "GREASE]",
	"HASSH-C: ", "JA3C: ", "Server: ", "ServerNames: ", "HASSH-S: ", "JA3S: ",
	"Issuer: ", "Subject: ", "ESNI: ", "ESNI Cipher: ", "Certificate SHA-1: ",
	"Safari]", "Firefox]", "Chrome]", "Validity: ", "Cipher: ", "BT Hash: ",
	"DHCP Fingerprint: ", "DHCP Class Ident: ", "PLAIN TEXT (", "Plen Bins: ",
}

var afterCT = append([]string{"User-Agent: "}, afterUA...)

// bracketValue returns the value of the first "[<key>" item in s, the value
// ending before the first "][" followed by one of next (or at the last "]").
func bracketValue(s, key string, next []string) (string, bool) {
	i := strings.Index(s, key)
	if i < 0 {
		return "", false
	}
	rest := s[i+len(key):]
	best := -1
	for _, n := range next {
		if j := strings.Index(rest, "]["+n); j >= 0 && (best < 0 || j < best) {
			best = j
		}
	}
	if best < 0 {
		best = strings.LastIndexByte(rest, ']')
		if best < 0 {
			return "", false
		}
	}
	return rest[:best], true
}

// verboseFlow is what one verbose flow line says.
type verboseFlow struct {
	l4              string
	src, dst        string
	sport, dport    uint16
	vlan            uint16
	tunnel          string
	master, app     uint16
	name, conf, cat string
	sni             string
	pkts            uint64
	ja3c, ja3s      string
	hasshC, hasshS  string
	server          string
	ua, ct, dhcpFP  string
	url             bool
}

func parseVerboseLine(m []string) (verboseFlow, error) {
	var v verboseFlow
	v.l4 = m[2]
	v.src, v.dst = strings.Trim(m[3], "[]"), strings.Trim(m[6], "[]")
	sp, err1 := strconv.ParseUint(m[4], 10, 16)
	dp, err2 := strconv.ParseUint(m[7], 10, 16)
	if err1 != nil || err2 != nil {
		return v, fmt.Errorf("bad ports in %q", m[0])
	}
	v.sport, v.dport = uint16(sp), uint16(dp)
	rest := m[8]
	if vm := reVLAN.FindStringSubmatch(rest); vm != nil {
		n, _ := strconv.ParseUint(vm[1], 10, 16)
		v.vlan = uint16(n)
		rest = rest[len(vm[0]):]
	}
	pm := reProto.FindStringSubmatch(rest)
	if pm == nil {
		return v, fmt.Errorf("no [proto: ...] in %q", m[0])
	}
	v.tunnel = pm[1]
	a, _ := strconv.ParseUint(pm[2], 10, 16)
	if pm[3] != "" {
		b, _ := strconv.ParseUint(pm[3], 10, 16)
		v.master, v.app = uint16(a), uint16(b)
	} else {
		v.app = uint16(a)
	}
	v.name = pm[4]
	rest = rest[len(pm[0]):]
	cm := reConf.FindStringSubmatch(rest)
	if cm == nil {
		return v, fmt.Errorf("no confidence in %q", m[0])
	}
	v.conf = cm[1]
	rest = rest[len(cm[0]):]
	v.cat = "Unspecified" // printed only when the category is not 0
	if km := reCat.FindStringSubmatch(rest); km != nil {
		v.cat = km[1]
	}
	if pk := rePkts.FindStringSubmatch(rest); pk != nil {
		a, _ := strconv.ParseUint(pk[1], 10, 64)
		b, _ := strconv.ParseUint(pk[2], 10, 64)
		v.pkts = a + b
	}
	v.url = strings.Contains(rest, "][URL: ")
	if s, ok := bracketValue(rest, "][Content-Type: ", afterCT); ok {
		v.ct = s
	}
	if s, ok := bracketValue(rest, "][User-Agent: ", afterUA); ok {
		v.ua = s
	}
	if s, ok := bracketValue(rest, "][Server: ", afterUA); ok {
		v.server = s
	}
	if i := strings.Index(rest, "][Hostname/SNI: "); i >= 0 {
		v.sni = rest[i+len("][Hostname/SNI: "):] // the host name and what follows
	}
	for _, x := range []struct {
		re  *regexp.Regexp
		dst *string
	}{{reJA3C, &v.ja3c}, {reJA3S, &v.ja3s}, {reHasshC, &v.hasshC}, {reHasshS, &v.hasshS}, {reDHCPFP, &v.dhcpFP}} {
		if sm := x.re.FindStringSubmatch(rest); sm != nil {
			*x.dst = sm[1]
		}
	}
	return v, nil
}

// ParseReader combines ndpiReader's CSV file and verbose flow lines (written
// by the same call, in the same order) into flows. Values present in both
// (addresses, ports, name, host name, JA3, hassh) must agree, otherwise it
// is an error.
func ParseReader(csvData, txtData []byte) ([]Flow, error) {
	var lines []verboseFlow
	sc := bufio.NewScanner(bytes.NewReader(txtData))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		m := flowLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := parseVerboseLine(m)
		if err != nil {
			return nil, err
		}
		lines = append(lines, v)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var rows [][]string
	for _, l := range strings.Split(string(csvData), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		rows = append(rows, strings.Split(l, ","))
	}
	if len(rows) != len(lines) {
		return nil, fmt.Errorf("ndpiReader wrote %d CSV rows but %d verbose flow lines", len(rows), len(lines))
	}
	flows := make([]Flow, 0, len(rows))
	for i, row := range rows {
		f, err := combine(row, lines[i])
		if err != nil {
			return nil, fmt.Errorf("flow %d: %w", i+1, err)
		}
		flows = append(flows, f)
	}
	return flows, nil
}

// sniShift finds how many commas the host name column holds: the smallest k
// such that the 6 fields after it are integers and the 7th a ratio.
func sniShift(row []string) (int, bool) {
	for k := 0; k <= 32 && csvSNI+k+7 < len(row); k++ {
		ok := true
		for j := 1; j <= 6; j++ {
			if !reUint.MatchString(row[csvSNI+k+j]) {
				ok = false
				break
			}
		}
		if ok && reFloat.MatchString(row[csvSNI+k+7]) {
			return k, true
		}
	}
	return 0, false
}

func combine(row []string, v verboseFlow) (Flow, error) {
	var f Flow
	if len(row) < csvMinFields {
		return f, fmt.Errorf("CSV row has %d fields, want at least %d", len(row), csvMinFields)
	}
	k, ok := sniShift(row)
	if !ok {
		return f, fmt.Errorf("cannot locate the host name in CSV row %q", strings.Join(row, ","))
	}
	k2 := strings.Count(v.server, ",")
	if len(row) < csvMinFields+k+k2 {
		return f, fmt.Errorf("CSV row too short for its host name and server banner")
	}
	col := func(i int) string {
		if i > csvSNI {
			i += k
		}
		if i > csvServerInfo {
			i += k2
		}
		return row[i]
	}
	proto, err := strconv.ParseUint(row[csvProtocol], 10, 8)
	if err != nil {
		return f, fmt.Errorf("bad protocol %q", row[csvProtocol])
	}
	sp, err1 := strconv.ParseUint(row[csvSrcPort], 10, 16)
	dp, err2 := strconv.ParseUint(row[csvDstPort], 10, 16)
	if err1 != nil || err2 != nil || row[csvSrcIP] == "" || row[csvDstIP] == "" {
		return f, fmt.Errorf("bad endpoints %s:%s %s:%s", row[csvSrcIP], row[csvSrcPort], row[csvDstIP], row[csvDstPort])
	}
	// Cross-checks between the two outputs of the same printFlow call.
	if row[csvSrcIP] != v.src || row[csvDstIP] != v.dst ||
		uint16(sp) != v.sport || uint16(dp) != v.dport {
		return f, fmt.Errorf("CSV row %s:%s-%s:%s does not match verbose line %s:%d-%s:%d",
			row[csvSrcIP], row[csvSrcPort], row[csvDstIP], row[csvDstPort], v.src, v.sport, v.dst, v.dport)
	}
	csvName := row[csvProtoName]
	if !(csvName == v.name || (len(csvName) == csvNameMax && strings.HasPrefix(v.name, csvName))) {
		return f, fmt.Errorf("CSV name %q does not match verbose name %q", csvName, v.name)
	}
	sni := strings.Join(row[csvSNI:csvSNI+k+1], ",")
	if sni != "" && !strings.HasPrefix(v.sni, sni+"]") {
		return f, fmt.Errorf("CSV host name %q does not match verbose line %q", sni, v.sni)
	}
	for _, c := range []struct{ csv, verbose string }{
		{col(csvJA3C), v.ja3c}, {col(csvJA3S), v.ja3s}, {col(csvHasshC), v.hasshC}, {col(csvHasshS), v.hasshS},
	} {
		if c.csv != c.verbose {
			return f, fmt.Errorf("CSV fingerprint %q does not match verbose %q", c.csv, c.verbose)
		}
	}
	f = Flow{
		Proto:      uint8(proto),
		Vlan:       v.vlan,
		Src:        Endpoint{Addr: row[csvSrcIP], Port: uint16(sp)},
		Dst:        Endpoint{Addr: row[csvDstIP], Port: uint16(dp)},
		Tunnel:     v.tunnel,
		Master:     v.master,
		App:        v.app,
		Confidence: v.conf,
		Guessed:    v.conf == "Match by port" || v.conf == "Match by IP",
		Packets:    v.pkts,
	}
	f.Values[ColName] = v.name
	f.Values[ColCategory] = v.cat
	f.Values[ColSNI] = sni
	f.Values[ColJA3C] = col(csvJA3C)
	f.Values[ColJA3S] = col(csvJA3S)
	f.Values[ColHasshC] = col(csvHasshC)
	f.Values[ColHasshS] = col(csvHasshS)
	f.Values[ColDHCPFingerprint] = v.dhcpFP
	f.Values[ColUserAgent] = v.ua
	f.Values[ColContentType] = v.ct
	f.Values[ColConfidence] = ConfidenceNumber(v.conf)
	f.ReaderSSHBanner = isSSH(f.Master, f.App) // its SNI column holds the client banner
	f.ReaderURL = v.url
	return f, nil
}

// PatchIPv6 renders an IPv6 address text as ndpiReader prints it:
// ndpi_patchIPv6Address replaces, left to right, every ":0:" by "::" (which
// can leave two "::" in one address, so the text is not parsed back).
func PatchIPv6(s string) string {
	if !strings.Contains(s, ":0:") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if i+2 < len(s) && s[i] == ':' && s[i+1] == '0' && s[i+2] == ':' {
			b.WriteString("::")
			i += 3
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}
