package ipfix

import (
	"fmt"

	"github.com/nfstream-go/nfstream/export"
)

// PEN is the private enterprise number of the non-IANA information elements
// (application name, fingerprints, statistics, SPLT).
//
// PLACEHOLDER: 32473 is the enterprise number IANA reserves for
// documentation and examples (RFC 5612). Deployments that want their own
// number must register one with IANA and change this constant; collectors
// configured for these elements must use the same number. The table of the
// elements is in docs/ipfix.md.
const PEN uint32 = 32473

// ReversePEN is the enterprise number that marks reverse-direction
// information elements of a biflow (RFC 5103, section 6.1): the element
// number is the forward element's IANA number.
const ReversePEN uint32 = 29305

// IANA information elements and data types used here (RFC 7011, RFC 7012).
const (
	ieOctetDeltaCount     = 1
	iePacketDeltaCount    = 2
	ieProtocolIdentifier  = 4
	ieSourceTransportPort = 7
	ieSourceIPv4Address   = 8
	ieDestTransportPort   = 11
	ieDestIPv4Address     = 12
	ieSourceIPv6Address   = 27
	ieDestIPv6Address     = 28
	ieSourceMacAddress    = 56
	ieVlanID              = 58
	ieIPVersion           = 60
	ieDestMacAddress      = 80
	ieFlowEndReason       = 136
	ieFlowID              = 148
	ieFlowStartMs         = 152
	ieFlowEndMs           = 153
	ieBasicList           = 291

	varLen = 0xFFFF // the field length of variable-length elements
)

// Type is how a field's value is encoded.
type Type uint8

// The encodings.
const (
	Unsigned  Type = iota // unsignedN, big-endian, Length bytes
	Signed                // signedN, two's complement, Length bytes
	Float64               // float64
	IPv4                  // ipv4Address
	IPv6                  // ipv6Address
	MAC                   // macAddress
	Text                  // string, variable length (UTF-8)
	BasicList             // basicList (RFC 6313) of signed List elements
)

// Element is an information element a column is exported as.
type Element struct {
	ID     uint16 // the element number (without the enterprise bit)
	PEN    uint32 // 0 for IANA elements
	Length uint16 // field length in the template (varLen for Text and BasicList)
	Type   Type
	// List is, for a BasicList, the element of the list's items.
	List *Element
}

func (e Element) String() string {
	if e.PEN == 0 {
		return fmt.Sprintf("%d", e.ID)
	}
	return fmt.Sprintf("%d/%d", e.PEN, e.ID)
}

// Enterprise element numbers under PEN (see docs/ipfix.md).
const (
	eTunnelID              = 1
	eSrc2DstLastSeenMs     = 2
	eApplicationName       = 10
	eApplicationCategory   = 11
	eApplicationIsGuessed  = 12
	eApplicationConfidence = 13
	eRequestedServerName   = 14
	eClientFingerprint     = 15
	eServerFingerprint     = 16
	eUserAgent             = 17
	eContentType           = 18
	eSPLTDirection         = 20
	eSPLTPS                = 21
	eSPLTPIATMs            = 22
	eStatsBase             = 100 // + the column's index among the 48 statistics
)

func iana(id, length uint16, t Type) Element { return Element{ID: id, Length: length, Type: t} }
func ent(id, length uint16, t Type) Element {
	return Element{ID: id, PEN: PEN, Length: length, Type: t}
}
func rev(id, length uint16, t Type) Element {
	return Element{ID: id, PEN: ReversePEN, Length: length, Type: t}
}
func list(id, itemLen uint16) Element {
	item := ent(id, itemLen, Signed)
	return Element{ID: ieBasicList, Length: varLen, Type: BasicList, List: &item}
}

// elements maps NFStream column names to elements. src_ip and dst_ip are
// IPv4 here; the IPv6 template swaps in 27 and 28. Columns that another
// field determines (src_oui, dst_oui, the durations, the bidirectional
// packets and bytes) are not exported.
var elements = map[string]Element{
	"id":                          iana(ieFlowID, 8, Unsigned),
	"expiration_id":               iana(ieFlowEndReason, 1, Unsigned), // mapped, see endReason
	"src_ip":                      iana(ieSourceIPv4Address, 4, IPv4),
	"src_mac":                     iana(ieSourceMacAddress, 6, MAC),
	"src_port":                    iana(ieSourceTransportPort, 2, Unsigned),
	"dst_ip":                      iana(ieDestIPv4Address, 4, IPv4),
	"dst_mac":                     iana(ieDestMacAddress, 6, MAC),
	"dst_port":                    iana(ieDestTransportPort, 2, Unsigned),
	"protocol":                    iana(ieProtocolIdentifier, 1, Unsigned),
	"ip_version":                  iana(ieIPVersion, 1, Unsigned),
	"vlan_id":                     iana(ieVlanID, 2, Unsigned),
	"tunnel_id":                   ent(eTunnelID, 1, Unsigned),
	"bidirectional_first_seen_ms": iana(ieFlowStartMs, 8, Unsigned),
	"bidirectional_last_seen_ms":  iana(ieFlowEndMs, 8, Unsigned),
	"src2dst_last_seen_ms":        ent(eSrc2DstLastSeenMs, 8, Unsigned),
	"src2dst_packets":             iana(iePacketDeltaCount, 8, Unsigned),
	"src2dst_bytes":               iana(ieOctetDeltaCount, 8, Unsigned),
	"dst2src_first_seen_ms":       rev(ieFlowStartMs, 8, Unsigned),
	"dst2src_last_seen_ms":        rev(ieFlowEndMs, 8, Unsigned),
	"dst2src_packets":             rev(iePacketDeltaCount, 8, Unsigned),
	"dst2src_bytes":               rev(ieOctetDeltaCount, 8, Unsigned),
	"application_name":            ent(eApplicationName, varLen, Text),
	"application_category_name":   ent(eApplicationCategory, varLen, Text),
	"application_is_guessed":      ent(eApplicationIsGuessed, 1, Unsigned),
	"application_confidence":      ent(eApplicationConfidence, 1, Unsigned),
	"requested_server_name":       ent(eRequestedServerName, varLen, Text),
	"client_fingerprint":          ent(eClientFingerprint, varLen, Text),
	"server_fingerprint":          ent(eServerFingerprint, varLen, Text),
	"user_agent":                  ent(eUserAgent, varLen, Text),
	"content_type":                ent(eContentType, varLen, Text),
	"splt_direction":              list(eSPLTDirection, 1),
	"splt_ps":                     list(eSPLTPS, 4),
	"splt_piat_ms":                list(eSPLTPIATMs, 8),
}

func init() {
	// The 48 statistics, in NFStream's column order: enterprise elements
	// eStatsBase+i; means and standard deviations are float64, the rest
	// unsigned64.
	plain := map[string]bool{}
	for _, c := range (export.Schema{}).Columns() {
		plain[c.Name] = true
	}
	i := 0
	for _, c := range (export.Schema{Statistical: true}).Columns() {
		if plain[c.Name] {
			continue
		}
		t := Unsigned
		if c.Kind == export.Float {
			t = Float64
		}
		elements[c.Name] = ent(uint16(eStatsBase+i), 8, t)
		i++
	}
}

// ElementOf returns the element the column name is exported as; ok is false
// for the columns that are not exported (see elements).
func ElementOf(name string) (e Element, ok bool) {
	e, ok = elements[name]
	return e, ok
}

// endReason maps NFStream's expiration_id to flowEndReason (IANA registry):
// idle 0 → 1 idle timeout, active 1 → 2 active timeout, custom -1 → 4
// forced end.
func endReason(expirationID int64) uint64 {
	switch expirationID {
	case 0:
		return 1
	case 1:
		return 2
	case -1:
		return 4
	}
	return 0
}
