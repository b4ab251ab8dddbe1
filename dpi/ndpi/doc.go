// Package ndpi is the nDPI implementation of dpi.Engine, written for the
// nDPI 4.2 shipped by Debian 12 (libndpi-dev 4.2-2). It is the only package of
// the module that imports "C" for nDPI.
//
// # Builds
//
// With cgo and without the nondpi build tag, the package links libndpi
// through pkg-config (`#cgo pkg-config: libndpi`). In every other build (no
// cgo, or -tags nondpi) New returns an error wrapping dpi.ErrUnavailable and
// the rest of the module still compiles.
//
// # Binding rules
//
// An Engine is one nDPI detection module created with default preferences
// (ndpi_no_prefs) and every protocol enabled; its caches are shared by all of
// its flows. Module creation and destruction are serialised across the process
// (nDPI requires it). New refuses to start when the size of struct
// ndpi_flow_struct seen by the compiled headers differs from the library's
// ndpi_detection_get_sizeof_ndpi_flow_struct(), since Extract reads that
// struct's fields directly.
//
// Flow state lives in C memory (ndpi_flow_malloc, zeroed); a dpi.Handle is its
// address. C never keeps a Go pointer: each packet is copied into a per-engine
// C buffer before nDPI sees it, and nDPI's packet length argument is an
// unsigned short, so packets are clamped to their first 65535 bytes.
//
// # Confidence
//
// nDPI 4.2 keeps the confidence in the flow (flow->confidence) with its own
// numbering; Extract maps it to NFStream's numbering (newer nDPI) by meaning:
//
//	nDPI 4.2                        NFStream (Info.ApplicationConfidence)
//	0 NDPI_CONFIDENCE_UNKNOWN       0 unknown
//	1 NDPI_CONFIDENCE_MATCH_BY_PORT 1 match by port
//	2 NDPI_CONFIDENCE_MATCH_BY_IP   1 (newer nDPI reports these guesses by port)
//	3 NDPI_CONFIDENCE_DPI_CACHE     5 DPI cache
//	4 NDPI_CONFIDENCE_DPI           6 DPI
//	anything else                   0
//
// # Concurrency
//
// An Engine, and every Handle it made, is used by one goroutine at a time.
// Different Engines may be used concurrently (nDPI 4.2 keeps no thread-local
// or global per-packet state); New and Close may be called from any goroutine.
package ndpi

// mapConfidence converts nDPI 4.2's ndpi_confidence_t to NFStream's numbering
// (see the package documentation).
func mapConfidence(c uint8) uint8 {
	switch c {
	case 1, 2: // match by port, match by IP
		return 1
	case 3: // DPI (cache)
		return 5
	case 4: // DPI
		return 6
	default:
		return 0
	}
}
