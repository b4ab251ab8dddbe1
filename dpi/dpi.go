// Package dpi connects flows to a layer-7 classifier (nDPI) without knowing
// how it is implemented.
//
// An Engine is one detection module. The rules of when packets go to the
// engine, when the protocol is guessed and when the application columns are
// filled (NFStream behaviour spec, sections 7.2 and 7.3) live in this package,
// in Dissector, in plain Go; the engine itself (package dpi/ndpi, the only
// package that imports "C" for nDPI) only offers the primitive operations.
package dpi

import "errors"

// ErrUnavailable is returned by engine constructors in builds without nDPI
// (no cgo, or the nondpi build tag).
var ErrUnavailable = errors.New("nDPI support is not compiled into this binary (needs cgo and libndpi-dev)")

// Protocol is a detection result as nDPI reports it.
type Protocol struct {
	Master   uint16 // master protocol id (e.g. TLS = 91), 0 if none
	App      uint16 // application protocol id (e.g. Facebook), 0 if unknown
	Category uint32 // nDPI category id
}

// Handle designates one flow's dissection state inside an Engine. The zero
// Handle is no flow.
type Handle uintptr

// Info holds the nine application columns of a flow, in NFStream's terms.
type Info struct {
	ApplicationName         string
	ApplicationCategoryName string
	ApplicationIsGuessed    uint8
	// ApplicationConfidence uses NFStream's numbering: 0 unknown, 1 match by
	// port (also nDPI 4.2's match by IP), 5 DPI cache, 6 DPI.
	ApplicationConfidence uint8
	RequestedServerName   string
	ClientFingerprint     string
	ServerFingerprint     string
	UserAgent             string
	ContentType           string
}

// Engine is one nDPI detection module with its caches. An Engine is used by
// one goroutine at a time; Handles belong to the Engine that made them.
type Engine interface {
	// NewFlow allocates zeroed dissection state for a new flow.
	NewFlow() (Handle, error)
	// Process dissects one packet. ip is the packet from its IP header to the
	// end of the captured bytes; the engine does not keep it after the call.
	// It returns the protocol detected so far and whether nDPI could use
	// more packets of this flow (extra dissection possible).
	Process(h Handle, ip []byte, timeMs uint64) (p Protocol, extraPossible bool)
	// GiveUp asks nDPI for its final answer with guessing enabled, and
	// whether that answer was guessed.
	GiveUp(h Handle) (p Protocol, guessed bool)
	// Extract overwrites info's fields from the flow state and p, following
	// NFStream's rules (spec 7.4): names, confidence and server name always
	// (the server name is "" when nDPI has none, as NFStream copies it
	// unconditionally); fingerprint, user agent and content type only when
	// the protocol branch applies (slots of other branches are never
	// cleared). ApplicationIsGuessed is left to the caller.
	Extract(h Handle, p Protocol, info *Info)
	// Free releases a flow's state. The Handle must not be used again.
	Free(h Handle)
	// LiveFlows is the number of flows allocated and not yet freed.
	LiveFlows() int
	// Close releases the module. Flows still allocated are freed.
	Close() error
}
