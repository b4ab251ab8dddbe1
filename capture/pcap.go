package capture

import "io"

// Classic pcap: a 24-byte file header, then records of a 16-byte header (24
// bytes in the modified format) followed by the captured bytes.

const (
	pcapFileHeaderLen = 24
	pcapRecordLen     = 16
	modifiedRecordLen = 24 // Kuznetzov's format adds ifindex, protocol, pkt_type, padding
)

// libpcap's lengths_swapped: files written before version 2.3 had caplen and
// len in the other order.
const (
	notSwapped int8 = iota
	maybeSwapped
	swapped
)

// openPcap reads a classic pcap file header. magic is the file's magic
// number in its natural form and r.be has been set from its byte order.
func (r *reader) openPcap(magic uint32) error {
	if n := r.in.fill(pcapFileHeaderLen); n < pcapFileHeaderLen {
		if err := r.in.readErr(); err != nil {
			return r.readError(0, 0, err)
		}
		return r.headerError(ErrTruncated, "pcap file header cut short by end of file: %d of %d bytes", n, pcapFileHeaderLen)
	}
	h := r.in.buf[r.in.r : r.in.r+pcapFileHeaderLen]
	major, minor := r.u16(h[4:]), r.u16(h[6:])
	snaplen := r.u32(h[16:])
	linkType := r.u32(h[20:]) & 0x03ffffff // the upper bits carry FCS information

	switch {
	case major < 2:
		return r.headerError(nil, "archaic pcap savefile format (version %d.%d)", major, minor)
	case !(major == 2 && minor <= 4 || major == 543 && minor == 0):
		// Versions 2.0 to 2.4 exist, and 543.0 is DG/UX tcpdump.
		return r.headerError(nil, "unsupported pcap savefile version %d.%d", major, minor)
	}
	switch {
	case major == 2 && minor < 3, major == 543:
		r.swapLen = swapped
	case major == 2 && minor == 3:
		r.swapLen = maybeSwapped
	default:
		r.swapLen = notSwapped
	}
	dlt := dltFromLinkType(linkType)
	if dlt > 0xffff {
		return r.headerError(nil, "unsupported link type %d", linkType)
	}
	r.link = uint16(dlt)
	r.snap = adjustSnapLen(snaplen)
	r.nano = magic == magicNano
	r.hdrLen = pcapRecordLen
	if magic == magicModified {
		r.hdrLen = modifiedRecordLen
		if r.link == dltEthernet {
			// libpcap assumes such Ethernet captures were made in
			// cooked mode with a faked 14-byte Ethernet header.
			r.snap += 14
		}
	}
	r.in.r += pcapFileHeaderLen
	return nil
}

// adjustSnapLen is libpcap's rule: a snapshot length of 0, negative (as a
// signed 32-bit value) or above MaxSnapLen means MaxSnapLen.
func adjustSnapLen(snaplen uint32) uint32 {
	if int32(snaplen) <= 0 || snaplen > MaxSnapLen {
		return MaxSnapLen
	}
	return snaplen
}

// nextPcap reads one classic pcap record. The whole record (at most
// MaxSnapLen bytes plus its header) is brought into the buffer before it is
// delivered, so a record cut short is reported rather than delivered, as
// libpcap does.
func (r *reader) nextPcap(rec *Record) error {
	in := &r.in
	off := in.offset()
	hl := r.hdrLen
	if n := in.fill(hl); n < hl {
		if n == 0 && in.readErr() == nil {
			r.done = true
			return io.EOF
		}
		return r.truncated(off, "record header", hl, n)
	}
	h := in.buf[in.r : in.r+hl : in.r+hl]
	sec, frac := r.u32(h[0:]), r.u32(h[4:])
	caplen, wirelen := r.u32(h[8:]), r.u32(h[12:])
	switch r.swapLen {
	case maybeSwapped:
		if caplen <= wirelen {
			break
		}
		fallthrough
	case swapped:
		caplen, wirelen = wirelen, caplen
	}
	if caplen > MaxSnapLen {
		return r.fail(off, nil, "invalid packet capture length %d, bigger than maximum of %d", caplen, MaxSnapLen)
	}
	need := hl + int(caplen)
	if n := in.fill(need); n < need {
		return r.truncated(off, "record", need, n)
	}
	keep := min(caplen, r.snap) // libpcap discards the bytes beyond the snapshot length
	start := in.r + hl
	rec.Data = in.buf[start : start+int(keep) : start+int(keep)]
	in.r += need
	r.count++

	// Normalise the fraction into [0, 1 s): this keeps TimeMs equal to
	// libpcap's sec*1000 + usec/1000 even for out-of-range fractions.
	if r.nano {
		if frac >= 1e9 {
			sec64 := uint64(sec) + uint64(frac/1e9)
			rec.Sec, rec.Nsec = sec64, frac%1e9
		} else {
			rec.Sec, rec.Nsec = uint64(sec), frac
		}
	} else {
		if frac >= 1e6 {
			rec.Sec, rec.Nsec = uint64(sec)+uint64(frac/1e6), frac%1e6*1000
		} else {
			rec.Sec, rec.Nsec = uint64(sec), frac*1000
		}
	}
	rec.WireLen = wirelen
	rec.LinkType = r.link
	rec.File = r.file
	rec.Number = r.count
	return nil
}
