// Package capture reads packet records from capture files (classic pcap and
// pcapng, both byte orders, any timestamp resolution), from lists of files read
// as one stream, and from standard input or named pipes.
//
// capture knows files and record framing, never protocol headers: the bytes of
// each record are handed on untouched, together with the data-link type that
// applies to them. Decoding happens in package decode.
//
// The semantics are libpcap 1.10.3's (what NFStream sees), checked record by
// record against it on the whole corpus: caplen clamped to the file's
// snapshot length, timestamps truncated, LINKTYPE_ values mapped to DLT_
// values (101 → 12, ...), the same records and headers refused as damaged.
// Differences, all on input libpcap rejects or mangles:
//   - pcapng sections of different byte orders, and interfaces of different
//     link types, snapshot lengths or resolutions in one file, are read
//     (libpcap refuses them): each record carries its own interface's link
//     type and is checked against its own interface's snapshot length;
//   - after a damaged record or block the file ends, where libpcap would go
//     on: in pcapng with the next block, in classic pcap by reading the
//     middle of the damaged record as if it were the next one;
//   - timestamps are unsigned (libpcap makes classic-pcap seconds after 2038
//     negative) and fractions of a second beyond one second are carried into
//     the seconds, which leaves TimeMs as libpcap's arithmetic gives it;
//   - the largest snapshot length is 262144 for every link type (libpcap
//     allows more for D-Bus, USBPcap and EBHSCR captures), and the
//     link-layer pseudo-headers of byte-swapped USB and NFLOG captures are
//     not byte-swapped (bytes are handed on as stored).
//
// Files are read strictly forward through one buffer of 1 MiB per Source
// (grown, only for pcapng blocks larger than that, up to 16 MiB), so pipes
// and standard input work and a record costs no allocation: Record.Data
// points into that buffer until the next call to Next. A Source is not safe
// for concurrent use; use one per goroutine.
//
// Damaged input never panics nor makes the reader allocate beyond those
// bounds: it gives a *FormatError naming the file, the record and the byte
// offset. A typical loop:
//
//	for {
//		err := src.Next(&rec)
//		if err == io.EOF {
//			break
//		}
//		var oe *capture.OpenError
//		if errors.As(err, &oe) {
//			return err // a later file of a list cannot be read: abort
//		}
//		if err != nil {
//			log.Print(err) // damaged record: skipped, reading goes on
//			continue
//		}
//		use(&rec)
//	}
package capture

import (
	"errors"
	"fmt"
)

// Record is one captured frame.
//
// Data is owned by the Source that filled the Record and is valid only until
// the next call to Next or Close on that Source. Callers that keep bytes must
// copy them.
type Record struct {
	// Data holds the captured bytes: len(Data) is the record's caplen, after
	// libpcap's clamping to the file's snapshot length.
	Data []byte
	// WireLen is the original length of the frame on the wire ("len").
	WireLen uint32
	// Sec and Nsec are the record's timestamp. Nsec is truncated from the
	// file's resolution (never rounded), so Sec*1000 + Nsec/1e6 is the
	// millisecond clock NFStream uses.
	Sec  uint64
	Nsec uint32
	// LinkType is the data-link type as libpcap reports it (DLT_ value): file
	// link type 101 (LINKTYPE_RAW) is reported as 12, as libpcap does on Linux.
	LinkType uint16
	// File is the index, in the list given to the source, of the file this
	// record came from; Number is the 1-based position of the record in that
	// file (what Wireshark calls the frame number).
	File   int
	Number uint64
}

// TimeMs is the record's time in milliseconds, truncated, as NFStream computes it.
func (r *Record) TimeMs() uint64 { return r.Sec*1000 + uint64(r.Nsec/1_000_000) }

// Source delivers records in file order. It is used by one goroutine at a time.
type Source interface {
	// Next fills rec with the next record. It returns io.EOF at the end of the
	// input. A damaged record or file yields an error of type *FormatError;
	// for a truncated last record that error wraps ErrTruncated and the
	// following call returns io.EOF (or moves on to the next file of a list).
	//
	// More precisely, after any *FormatError the damaged file ends (the
	// following call returns io.EOF or moves on to the next file), except
	// for one wrapping ErrOverSnapLen, after which the file goes on with its
	// next record. Callers that, like NFStream, skip read errors simply call
	// Next again. A list made by OpenFiles may also return an *OpenError.
	//
	// rec.Data aliases the Source's buffer: it is valid until the next call
	// to Next or Close. Next does not allocate.
	Next(rec *Record) error
	// Close releases the files. Calling it again is harmless.
	Close() error
}

// ErrTruncated marks a record cut short by the end of the file.
var ErrTruncated = errors.New("record truncated by end of file")

// ErrOverSnapLen marks a pcapng packet block whose captured length exceeds
// its interface's snapshot length. libpcap 1.10 refuses such a record and
// goes on with the next one, and so does this package: unlike the other
// format errors, this one does not end the file, and the next call to Next
// returns the following record. (In classic pcap files, such records are
// instead cut to the snapshot length, as libpcap does.)
var ErrOverSnapLen = errors.New("captured length above the snapshot length")

// ErrNotCapture marks input that is neither classic pcap nor pcapng.
var ErrNotCapture = errors.New("not a pcap or pcapng capture")

// FormatError reports damaged input: which file, which record and what was wrong.
type FormatError struct {
	Path   string // file name as given ("-" for standard input)
	Packet uint64 // 1-based number of the record concerned; 0 for the file header
	Offset int64  // byte offset in the file where the problem was found
	Reason string // what was wrong, in plain words
	Err    error  // optional cause for errors.Is: ErrTruncated, ErrNotCapture, ErrOverSnapLen or a read error
}

func (e *FormatError) Error() string {
	if e.Packet == 0 {
		return fmt.Sprintf("%s: offset %d: %s", e.Path, e.Offset, e.Reason)
	}
	return fmt.Sprintf("%s: packet %d (offset %d): %s", e.Path, e.Packet, e.Offset, e.Reason)
}

func (e *FormatError) Unwrap() error { return e.Err }

// ByteCounter is implemented by sources that know how many bytes of their
// input they have consumed (OpenFiles' sources do), for progress reports.
type ByteCounter interface {
	BytesRead() int64
}
