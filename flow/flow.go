// Package flow is the flow table: it groups decoded packets into
// bidirectional flows with NFStream's exact metering rules (behaviour spec,
// section 5) and keeps each flow's counters and features (section 6).
//
// A Meter is owned by one goroutine; nothing in this package locks.
// Several shard meters and an Order (order.go) split one stream over
// several goroutines and still emit the single meter's flows in its order.
package flow

import (
	"fmt"
	"net/netip"

	"github.com/nfstream-go/nfstream/dpi"
)

// MAC is a link-layer address.
type MAC [6]byte

// String renders the address as NFStream does: lower-case hex pairs joined by ':'.
func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// OUI renders the first three bytes, as NFStream's src_oui and dst_oui.
func (m MAC) OUI() string { return fmt.Sprintf("%02x:%02x:%02x", m[0], m[1], m[2]) }

// Expiration reasons, NFStream's expiration_id.
const (
	ExpirationIdle   int8 = 0  // idle timeout, idle scan, or end of input
	ExpirationActive int8 = 1  // active timeout, detected on a packet of the flow
	ExpirationCustom int8 = -1 // forced by a plugin
	// ExpirationEvicted is our addition: the flow was evicted to make room
	// for a new one because the meter held Config.MaxFlows flows (the
	// least recently seen flow goes first). NFStream has no such limit.
	ExpirationEvicted int8 = 2
)

// Flow is one bidirectional flow. Field names follow NFStream's column names.
//
// Identity fields come from the flow's first packet, which defines src and
// dst (there is no client/server heuristic). A Flow handed out by a Meter is
// final and owned by the receiver.
type Flow struct {
	// ID is the emission rank, assigned when the flow leaves the meter
	// pipeline (0, 1, 2, ...).
	ID           uint64
	ExpirationID int8

	SrcIP, DstIP     netip.Addr
	SrcMAC, DstMAC   MAC
	SrcPort, DstPort uint16
	Protocol         uint8
	IPVersion        uint8
	VlanID           uint16
	TunnelID         uint8

	BidirectionalFirstSeenMs uint64
	BidirectionalLastSeenMs  uint64
	BidirectionalPackets     uint64
	BidirectionalBytes       uint64
	Src2DstLastSeenMs        uint64
	Src2DstPackets           uint64
	Src2DstBytes             uint64
	// Dst2Src fields are all 0 while the flow has no reverse packet.
	Dst2SrcFirstSeenMs uint64
	Dst2SrcLastSeenMs  uint64
	Dst2SrcPackets     uint64
	Dst2SrcBytes       uint64

	// Stats holds the 48 statistical_analysis features; nil when disabled.
	Stats *Stats
	// SPLT holds the early-packet sequences; nil when splt_analysis is 0.
	SPLT *SPLT
	// DPI holds nDPI's state and the application columns; nil when
	// n_dissections is 0.
	DPI *dpi.FlowState
	// UDPS holds the plugins' values; nil without plugins.
	UDPS *UDPS
	// System is the process owning the flow's socket on this host
	// (system_visibility_mode 1, live capture); nil when unknown or off.
	System *SystemProcess

	prev, next *Flow // creation order in the meter's cache (last-seen order in a shard meter)
	// older, newer: last-seen order in a single meter's cache.
	older, newer *Flow
	tableHash    uint64 // the key's hash in the meter's table (table.put)
}

// SystemProcess is the process that owns a flow's socket (behaviour spec
// 10.2): system_process_pid, system_process_name and our addition
// system_process_cgroup.
type SystemProcess struct {
	PID    int64
	Name   string
	Cgroup string
}

// BidirectionalDurationMs is last seen minus first seen.
func (f *Flow) BidirectionalDurationMs() uint64 {
	return f.BidirectionalLastSeenMs - f.BidirectionalFirstSeenMs
}

// Src2DstFirstSeenMs is always the flow's first packet time.
func (f *Flow) Src2DstFirstSeenMs() uint64 { return f.BidirectionalFirstSeenMs }

// Src2DstDurationMs is the span of the src→dst packets.
func (f *Flow) Src2DstDurationMs() uint64 { return f.Src2DstLastSeenMs - f.BidirectionalFirstSeenMs }

// Dst2SrcDurationMs is the span of the dst→src packets (0 without any).
func (f *Flow) Dst2SrcDurationMs() uint64 { return f.Dst2SrcLastSeenMs - f.Dst2SrcFirstSeenMs }
