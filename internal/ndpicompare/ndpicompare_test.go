package ndpicompare

import (
	"strings"
	"testing"
)

// csvRow builds an ndpiReader 4.2 CSV row (80 columns, unquoted) with the
// given values; the columns not given hold plausible numbers.
func csvRow(set map[int]string) string {
	f := make([]string, csvMinFields)
	for i := range f {
		f[i] = "0"
	}
	f[csvSNI+7] = "-0.500" // data_ratio
	f[csvSNI+8] = "Mixed"
	for _, i := range []int{csvSNI, csvServerInfo, csvJA3C, csvJA3S, csvHasshC, csvHasshS, 78} {
		f[i] = ""
	}
	f[79] = "0;1;0"
	for i, v := range set {
		f[i] = v
	}
	return strings.Join(f, ",")
}

const csvHeader = "#flow_id,protocol,first_seen,...\n"

func TestParseReader(t *testing.T) {
	ua := `Mozilla/5.0 (iPhone) [FBAN/FBIOS;FBAV/1.0][x]`
	rows := []string{
		csvRow(map[int]string{csvProtocol: "6", csvSrcIP: "10.0.0.1", csvSrcPort: "1234", csvDstIP: "10.0.0.2", csvDstPort: "80",
			csvProtoName: "HTTP.Facebook", csvSNI: "a.example,b"}),
		csvRow(map[int]string{csvProtocol: "6", csvSrcIP: "2001:db8::1", csvSrcPort: "40000", csvDstIP: "2001:db8::2", csvDstPort: "22",
			csvProtoName: "SSH", csvSNI: "SSH-2.0-client", csvServerInfo: "SSH-2.0-x, y", csvHasshC: "ABCDEF", csvHasshS: "012345"}),
		csvRow(map[int]string{csvProtocol: "17", csvSrcIP: "10.0.0.3", csvSrcPort: "5000", csvDstIP: "10.0.0.4", csvDstPort: "443",
			csvProtoName: "TLS.ThisIsAVeryLongApplicationName"[:csvNameMax], csvJA3C: "aa", csvJA3S: "bb"}),
	}
	// The host name of row 0 and the server banner of row 1 hold commas,
	// which shift the later columns; row 2's name is cut at 31 characters.
	txt := "Junk\n\t1\t IP not a flow\n" +
		"\t1\tTCP 10.0.0.1:1234 <-> 10.0.0.2:80 [VLAN: 7][proto: 7.119/HTTP.Facebook][ClearText][Confidence: DPI][cat: SocialNetwork/6][3 pkts/300 bytes <-> 2 pkts/200 bytes][Goodput ratio: 1/2][0.10 sec][Hostname/SNI: a.example,b][URL: a.example/x][StatusCode: 200][Content-Type: text/html][User-Agent: " + ua + "][Risk: ** x **][Risk Score: 10][PLAIN TEXT (GET /)][Plen Bins: 0,1]\n" +
		"\t2\tTCP [2001:db8::1]:40000 <-> [2001:db8::2]:22 [proto: 92/SSH][Encrypted][Confidence: DPI][cat: RemoteAccess/12][10 pkts/1 bytes <-> 11 pkts/1 bytes][Goodput ratio: 1/2][< 1 sec][Hostname/SNI: SSH-2.0-client][HASSH-C: ABCDEF][Server: SSH-2.0-x, y][HASSH-S: 012345][Plen Bins: 0]\n" +
		"\t1\tUDP 10.0.0.3:5000 -> 10.0.0.4:443 [proto: GTP:91.999/TLS.ThisIsAVeryLongApplicationName][Encrypted][Confidence: Match by IP][1 pkts/1 bytes -> 0 pkts/0 bytes][Goodput ratio: 1/0][< 1 sec][TLSv1.2][JA3C: aa (WEAK)][JA3S: bb][DHCP Fingerprint: 1,3,6][Plen Bins: 0]\n"
	flows, err := ParseReader([]byte(csvHeader+strings.Join(rows, "\n")+"\n"), []byte(txt))
	if err != nil {
		t.Fatal(err)
	}
	if len(flows) != 3 {
		t.Fatalf("%d flows, want 3", len(flows))
	}
	f := flows[0]
	if f.Proto != 6 || f.Vlan != 7 || f.Src != (Endpoint{"10.0.0.1", 1234}) || f.Dst != (Endpoint{"10.0.0.2", 80}) ||
		f.Master != 7 || f.App != 119 || f.Packets != 5 || !f.ReaderURL || f.ReaderSSHBanner {
		t.Errorf("flow 0 = %+v", f)
	}
	want := map[int]string{ColName: "HTTP.Facebook", ColCategory: "SocialNetwork", ColSNI: "a.example,b",
		ColUserAgent: ua, ColContentType: "text/html", ColConfidence: "6"}
	for c, v := range want {
		if f.Values[c] != v {
			t.Errorf("flow 0 %s = %q, want %q", ColumnNames[c], f.Values[c], v)
		}
	}
	f = flows[1]
	if f.Src.Addr != "2001:db8::1" || f.Values[ColHasshC] != "ABCDEF" || f.Values[ColHasshS] != "012345" ||
		!f.ReaderSSHBanner || f.ReaderURL || f.Values[ColSNI] != "SSH-2.0-client" || f.Values[ColCategory] != "RemoteAccess" {
		t.Errorf("flow 1 = %+v", f)
	}
	f = flows[2]
	if f.Tunnel != "GTP" || f.Values[ColName] != "TLS.ThisIsAVeryLongApplicationName" || f.Values[ColCategory] != "Unspecified" ||
		f.Values[ColJA3C] != "aa" || f.Values[ColJA3S] != "bb" || f.Values[ColDHCPFingerprint] != "1,3,6" ||
		f.Values[ColConfidence] != "1" || !f.Guessed || f.Packets != 1 {
		t.Errorf("flow 2 = %+v", f)
	}
}

func TestParseReaderMismatch(t *testing.T) {
	row := csvRow(map[int]string{csvProtocol: "6", csvSrcIP: "10.0.0.1", csvSrcPort: "1", csvDstIP: "10.0.0.2", csvDstPort: "2", csvProtoName: "HTTP"})
	line := "\t1\tTCP 10.0.0.1:1 <-> 10.0.0.9:2 [proto: 7/HTTP][ClearText][Confidence: DPI][1 pkts/1 bytes -> 0 pkts/0 bytes][Plen Bins: 0]\n"
	if _, err := ParseReader([]byte(row+"\n"), []byte(line)); err == nil {
		t.Error("CSV and verbose line with different endpoints were accepted")
	}
	if _, err := ParseReader([]byte(row+"\n"+row+"\n"), []byte(line)); err == nil {
		t.Error("different flow counts were accepted")
	}
}

func TestPatchIPv6(t *testing.T) {
	for in, want := range map[string]string{
		"2001:db8::1":     "2001:db8::1",
		"2001:0:0:1::5":   "2001::0:1::5", // ndpiReader's own rendering, not valid IPv6
		"fe80::1:0:0:0":   "fe80::1::0:0",
		"10.0.0.1":        "10.0.0.1",
		"2001:db8:0:1::2": "2001:db8::1::2",
	} {
		if got := PatchIPv6(in); got != want {
			t.Errorf("PatchIPv6(%q) = %q, want %q", in, got, want)
		}
	}
}

func flowOf(proto uint8, a string, pa uint16, b string, pb uint16, name string) Flow {
	f := Flow{Proto: proto, Src: Endpoint{a, pa}, Dst: Endpoint{b, pb}}
	f.Values[ColName] = name
	return f
}

func TestCompare(t *testing.T) {
	ours := []Flow{
		flowOf(6, "10.0.0.1", 1, "10.0.0.2", 80, "HTTP"),
		flowOf(6, "10.0.0.3", 1, "10.0.0.4", 22, "SSH"),
		flowOf(17, "10.0.0.5", 5, "10.0.0.6", 6, "DNS"), // duplicate key on our side
		flowOf(17, "10.0.0.6", 6, "10.0.0.5", 5, "DNS"),
		flowOf(17, "10.0.0.7", 5, "10.0.0.8", 6, "Unknown"),
	}
	ours[0].Values[ColContentType] = "text/html"
	ours[0].Master, ours[0].App = 0, idHTTP
	ours[1].Values[ColHasshC] = "abcdef"
	theirs := []Flow{
		flowOf(6, "10.0.0.2", 80, "10.0.0.1", 1, "HTTP"), // reversed direction: same key
		flowOf(6, "10.0.0.3", 1, "10.0.0.4", 22, "SSH"),
		flowOf(17, "10.0.0.5", 5, "10.0.0.6", 6, "DNS"),
		flowOf(17, "10.0.0.9", 2152, "10.0.0.10", 2152, "GTP.GTP_U"),
	}
	theirs[1].Values[ColHasshC] = "ABCDEF" // case-insensitive
	theirs[1].Values[ColSNI] = "SSH-2.0-x"
	theirs[1].ReaderSSHBanner = true
	ours[4].TunnelID = 1
	r := Compare("x.pcap", ours, theirs)
	if r.Paired != 2 || r.Identical != 0 || r.DuplicateOur != 2 || r.DuplicateRdr != 1 || len(r.Unmatched) != 2 {
		t.Fatalf("paired %d identical %d dup %d/%d unmatched %d", r.Paired, r.Identical, r.DuplicateOur, r.DuplicateRdr, len(r.Unmatched))
	}
	Classify(r, Evidence{})
	got := map[string]string{}
	for _, d := range r.Differences {
		got[d.Column] = d.Kind
	}
	if len(got) != 2 || got["content_type"] != KindNoURL || got["requested_server_name"] != KindSSHBanner {
		t.Errorf("differences %v", got)
	}
	reasons := map[string]string{}
	for _, u := range r.Unmatched {
		reasons[u.Side] = u.Reason
	}
	if reasons["ours"] != KindTunnelOurs || reasons["ndpireader"] != KindTunnelReader {
		t.Errorf("unmatched %v", reasons)
	}
	if r.Compared[ColHasshC] != 2 || r.Equal[ColHasshC] != 2 {
		t.Errorf("hassh compared %d equal %d", r.Compared[ColHasshC], r.Equal[ColHasshC])
	}
	// With ndpiReader re-run one packet lower agreeing with us, the
	// difference is the extra packet.
	aligned := []Flow{theirs[0]}
	aligned[0].Values[ColContentType] = "text/html"
	Classify(r, Evidence{Aligned: aligned})
	for _, d := range r.Differences {
		if d.Column == "content_type" && d.Kind != KindExtraPacket {
			t.Errorf("with the aligned run: %s", d.Kind)
		}
	}
}
