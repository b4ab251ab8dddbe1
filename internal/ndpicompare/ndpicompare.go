// Package ndpicompare measures how far our application columns agree with
// ndpiReader, nDPI's reference C program, built from the same nDPI version
// (Debian's libndpi-bin 4.2): the measurement of issue 3.
//
// ndpiReader runs as `ndpiReader -i CAPTURE -T 20 -U 20 -C OUT.csv` (plus
// the output-only flags of ReaderArgs) and our library in-process with
// n_dissections 20, one meter and timeouts that never split a flow. Flows are
// paired by protocol, VLAN and unordered endpoints; keys that appear more
// than once on either side are skipped, flows found on one side only are
// counted as unmatched. Paired flows are compared column by column: name,
// category, host name (SNI), JA3 client and server, hassh client and server
// (case-insensitive), DHCP fingerprint, user agent and content type.
//
// Every difference is given a kind that names its cause; some kinds are
// established by re-running ndpiReader with other limits (see Kinds).
//
// The script scripts/ndpicompare and the test dpi/ndpi/ndpireader_test.go
// both use this package.
package ndpicompare

import (
	"fmt"
	"strings"
)

// Column indexes of Flow.Values.
const (
	ColName = iota
	ColCategory
	ColSNI
	ColJA3C
	ColJA3S
	ColHasshC
	ColHasshS
	ColDHCPFingerprint
	ColUserAgent
	ColContentType
	ColConfidence
	NumColumns
)

// ColumnNames are the compared columns, named after NFStream's columns (the
// two fingerprint columns are split by kind of fingerprint).
var ColumnNames = [NumColumns]string{
	"application_name",
	"application_category_name",
	"requested_server_name",
	"ja3_client",
	"ja3_server",
	"hassh_client",
	"hassh_server",
	"dhcp_fingerprint",
	"user_agent",
	"content_type",
	"application_confidence",
}

// caseInsensitive columns: nDPI 4.2 writes hassh in upper case, we (as
// NFStream) in lower case.
var caseInsensitive = [NumColumns]bool{ColJA3C: true, ColJA3S: true, ColHasshC: true, ColHasshS: true}

// Endpoint is an address as ndpiReader prints it, and a port.
type Endpoint struct {
	Addr string `json:"addr"`
	Port uint16 `json:"port"`
}

func (e Endpoint) String() string {
	if strings.Contains(e.Addr, ":") {
		return fmt.Sprintf("[%s]:%d", e.Addr, e.Port)
	}
	return fmt.Sprintf("%s:%d", e.Addr, e.Port)
}

func (e Endpoint) less(o Endpoint) bool {
	if e.Addr != o.Addr {
		return e.Addr < o.Addr
	}
	return e.Port < o.Port
}

// Key pairs flows: protocol, VLAN and the two endpoints in a fixed order.
type Key struct {
	Proto uint8    `json:"protocol"`
	Vlan  uint16   `json:"vlan_id"`
	A     Endpoint `json:"a"`
	B     Endpoint `json:"b"`
}

func (k Key) String() string {
	s := fmt.Sprintf("%s %s <-> %s", protoName(k.Proto), k.A, k.B)
	if k.Vlan != 0 {
		s += fmt.Sprintf(" vlan %d", k.Vlan)
	}
	return s
}

func protoName(p uint8) string {
	switch p {
	case 6:
		return "TCP"
	case 17:
		return "UDP"
	case 1:
		return "ICMP"
	case 58:
		return "ICMPV6"
	}
	return fmt.Sprintf("proto %d", p)
}

// Flow is one flow of either side with the compared columns.
type Flow struct {
	Proto    uint8
	Vlan     uint16
	Src, Dst Endpoint
	// Tunnel is ndpiReader's tunnel type ("" when none); TunnelID ours.
	Tunnel   string
	TunnelID uint8
	// Master and App are nDPI's final protocol ids.
	Master, App uint16
	// Confidence is nDPI 4.2's confidence name (ours: from NFStream's
	// number, where 1 is both match by port and match by IP).
	Confidence string
	Guessed    bool
	Packets    uint64
	// ID is our flow id (0 for ndpiReader's flows).
	ID uint64
	// ReaderSSHBanner marks ndpiReader flows whose host name column holds
	// the SSH client banner instead of nDPI's host name; ReaderURL those
	// for which ndpiReader printed an HTTP URL (only then does it report
	// the HTTP user agent and content type).
	ReaderSSHBanner, ReaderURL bool
	// Values are the compared columns; the confidence is in NFStream's
	// numbering (see ConfidenceNumber).
	Values [NumColumns]string
}

// Key returns the flow's pairing key.
func (f *Flow) Key() Key {
	a, b := f.Src, f.Dst
	if b.less(a) {
		a, b = b, a
	}
	return Key{Proto: f.Proto, Vlan: f.Vlan, A: a, B: b}
}

// Label renders the flow's name, confidence and packet count.
func (f *Flow) Label() string {
	return fmt.Sprintf("%s (%s, %d pkts)", f.Values[ColName], f.Confidence, f.Packets)
}

func equalCell(col int, a, b string) bool {
	if caseInsensitive[col] {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// ConfidenceNumber maps nDPI 4.2's confidence names (ndpiReader's
// "[Confidence: ...]") onto NFStream's numbering, as our library does:
// match by port and match by IP are both 1, DPI cache 5, DPI 6.
func ConfidenceNumber(name string) string {
	switch name {
	case "Unknown":
		return "0"
	case "Match by port", "Match by IP":
		return "1"
	case "DPI (cache)":
		return "5"
	case "DPI":
		return "6"
	}
	return "?" + name
}
