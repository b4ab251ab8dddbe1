// Package ipfix exports flows as IPFIX (RFC 7011) to a collector over UDP
// or TCP. Each flow is one biflow record (RFC 5103): the forward direction
// (src→dst) in the IANA elements, the reverse one (dst→src) in the same
// elements under enterprise number 29305. Columns without an IANA element
// (application, fingerprints, statistics, SPLT as basicList per RFC 6313)
// are enterprise elements under PEN; docs/ipfix.md has the table.
//
// A Writer sends two templates, 256 for IPv4 flows and 257 for IPv6 ones,
// before the first data set; over UDP it sends them again every
// Config.TemplateRefresh and every Config.TemplateRefreshMessages
// messages, so a collector that starts late learns them.
package ipfix

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/flow"
)

// Template IDs of the two data record layouts.
const (
	TemplateIPv4 uint16 = 256
	TemplateIPv6 uint16 = 257
)

// Defaults of Config's zero fields.
const (
	DefaultTemplateRefresh         = 60 * time.Second
	DefaultTemplateRefreshMessages = 100
	DefaultMaxMessageSizeUDP       = 1400 // fits an Ethernet MTU with IP and UDP headers
	DefaultMaxMessageSizeTCP       = 65535
	DefaultFlushInterval           = time.Second
)

// Config configures a Writer. Zero fields take the defaults above.
type Config struct {
	// Addr is the collector, host:port.
	Addr string
	// Transport is "udp" (default) or "tcp".
	Transport string
	// ObservationDomainID goes into every message header.
	ObservationDomainID uint32
	// TemplateRefresh resends the templates over UDP at least this often.
	TemplateRefresh time.Duration
	// TemplateRefreshMessages resends the templates over UDP at least every
	// this many messages.
	TemplateRefreshMessages int
	// MaxMessageSize bounds a message's length in bytes; a record that
	// does not fit in an empty message of this size travels alone (up to
	// 65535 bytes, IPFIX's limit).
	MaxMessageSize int
	// FlushInterval sends a partly filled message once its first record is
	// this old, checked when a flow is written (a live capture with few
	// flows does not keep them back); Close sends the rest.
	FlushInterval time.Duration
}

// ErrConfig is wrapped by every error Config.Validate returns.
var ErrConfig = errors.New("invalid IPFIX option")

// Validate returns every problem of the configuration, joined.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("collector address %q: want host:port", c.Addr)
	}
	switch strings.ToLower(c.Transport) {
	case "", "udp", "tcp":
	default:
		bad("transport %q: want udp or tcp", c.Transport)
	}
	if c.TemplateRefresh < 0 || c.TemplateRefreshMessages < 0 || c.FlushInterval < 0 {
		bad("negative template refresh or flush interval")
	}
	if c.MaxMessageSize != 0 && (c.MaxMessageSize < 512 || c.MaxMessageSize > 65535) {
		bad("max message size %d: want 512 to 65535", c.MaxMessageSize)
	}
	return errors.Join(errs...)
}

// Counters count what a Writer sent.
type Counters struct {
	Messages uint64 // IPFIX messages sent (template-only ones included)
	Records  uint64 // data records (flows) sent
	Bytes    uint64 // message bytes sent
	Dropped  uint64 // flows of messages the network refused (UDP only)
}

// field is one field of the data records.
type field struct {
	el  Element
	col export.Column
	src source
}

type source uint8

const (
	fromColumn source = iota
	fromSrcIP
	fromDstIP
	fromSrcMAC
	fromDstMAC
	fromExpiration
)

// Writer is an export.Writer that sends flows to an IPFIX collector. It is
// used by one goroutine.
type Writer struct {
	cfg    Config
	tcp    bool
	conn   net.Conn
	fields []field

	msg       []byte // the message being filled: header, then sets
	setStart  int    // offset of the open data set's header, -1 when none
	setID     uint16
	nrec      int // records in msg
	firstAt   time.Time
	seq       uint32 // data records sent before msg (RFC 7011 sequence number)
	tmpl      []byte // the template set, built at the first flow
	tmplSent  time.Time
	sinceTmpl int
	rec       []byte
	scratch   []byte
	list      []int64
	counters  Counters
	err       error
	now       func() time.Time
}

// New dials the collector and returns a Writer of the columns cols (those
// of the capture, export.Schema.Columns). Columns without an element
// (udps.* among them) are not exported.
func New(cfg Config, cols []export.Column) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &Writer{cfg: cfg, tcp: strings.EqualFold(cfg.Transport, "tcp"), setStart: -1, now: time.Now}
	if w.cfg.TemplateRefresh == 0 {
		w.cfg.TemplateRefresh = DefaultTemplateRefresh
	}
	if w.cfg.TemplateRefreshMessages == 0 {
		w.cfg.TemplateRefreshMessages = DefaultTemplateRefreshMessages
	}
	if w.cfg.FlushInterval == 0 {
		w.cfg.FlushInterval = DefaultFlushInterval
	}
	if w.cfg.MaxMessageSize == 0 {
		w.cfg.MaxMessageSize = DefaultMaxMessageSizeUDP
		if w.tcp {
			w.cfg.MaxMessageSize = DefaultMaxMessageSizeTCP
		}
	}
	for _, c := range cols {
		el, ok := elements[c.Name]
		if !ok {
			continue
		}
		f := field{el: el, col: c}
		switch c.Name {
		case "src_ip":
			f.src = fromSrcIP
		case "dst_ip":
			f.src = fromDstIP
		case "src_mac":
			f.src = fromSrcMAC
		case "dst_mac":
			f.src = fromDstMAC
		case "expiration_id":
			f.src = fromExpiration
		}
		w.fields = append(w.fields, f)
	}
	// flowStart/EndMilliseconds go last: nfdump 1.7 stores the reverse
	// times (29305/152, 29305/153) into the same slots as the forward ones,
	// so the later field wins.
	sort.SliceStable(w.fields, func(i, j int) bool { return !isTime(w.fields[i].el) && isTime(w.fields[j].el) })
	w.tmpl = w.templateSet()
	if err := w.dial(); err != nil {
		return nil, err
	}
	return w, nil
}

func isTime(el Element) bool { return el.PEN == 0 && (el.ID == ieFlowStartMs || el.ID == ieFlowEndMs) }

func (w *Writer) dial() error {
	network := "udp"
	if w.tcp {
		network = "tcp"
	}
	conn, err := net.DialTimeout(network, w.cfg.Addr, 10*time.Second)
	if err != nil {
		return fmt.Errorf("ipfix: connecting to %s over %s: %w", w.cfg.Addr, network, err)
	}
	w.conn = conn
	w.tmplSent = time.Time{} // templates go first on every connection
	return nil
}

// Counters returns what the Writer sent so far.
func (w *Writer) Counters() Counters { return w.counters }

// templateSet builds the set of the two templates (set ID 2).
func (w *Writer) templateSet() []byte {
	b := []byte{0, 2, 0, 0}
	for _, id := range []uint16{TemplateIPv4, TemplateIPv6} {
		b = binary.BigEndian.AppendUint16(b, id)
		b = binary.BigEndian.AppendUint16(b, uint16(len(w.fields)))
		for _, f := range w.fields {
			el := f.el
			if id == TemplateIPv6 && el.PEN == 0 {
				switch el.ID {
				case ieSourceIPv4Address:
					el = iana(ieSourceIPv6Address, 16, IPv6)
				case ieDestIPv4Address:
					el = iana(ieDestIPv6Address, 16, IPv6)
				}
			}
			b = appendSpec(b, el)
		}
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

// appendSpec appends a field specifier: the element number (with the
// enterprise bit when it has a PEN), the length, the PEN.
func appendSpec(b []byte, el Element) []byte {
	id := el.ID
	if el.PEN != 0 {
		id |= 0x8000
	}
	b = binary.BigEndian.AppendUint16(b, id)
	b = binary.BigEndian.AppendUint16(b, el.Length)
	if el.PEN != 0 {
		b = binary.BigEndian.AppendUint32(b, el.PEN)
	}
	return b
}

// Write encodes the flow into the current message, sending the message
// when it is full or older than FlushInterval.
func (w *Writer) Write(f *flow.Flow) error {
	if w.err != nil {
		return w.err
	}
	tid := TemplateIPv4
	if f.IPVersion == 6 || f.SrcIP.Is6() && !f.SrcIP.Is4In6() {
		tid = TemplateIPv6
	}
	w.rec = w.record(w.rec[:0], f, tid == TemplateIPv6)
	need := len(w.rec)
	if w.setStart < 0 || w.setID != tid {
		need += 4
	}
	if w.nrec > 0 && len(w.msg)+need > w.cfg.MaxMessageSize {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if len(w.msg)+len(w.rec)+4 > 65535 {
		w.err = fmt.Errorf("ipfix: flow %d needs a %d-byte record, more than an IPFIX message holds", f.ID, len(w.rec))
		return w.err
	}
	if w.msg == nil || len(w.msg) == 0 {
		w.msg = append(w.msg[:0], make([]byte, 16)...)
		w.firstAt = w.now()
	}
	if w.setStart < 0 || w.setID != tid {
		w.closeSet()
		w.setStart, w.setID = len(w.msg), tid
		w.msg = binary.BigEndian.AppendUint16(w.msg, tid)
		w.msg = append(w.msg, 0, 0)
	}
	w.msg = append(w.msg, w.rec...)
	w.nrec++
	if w.now().Sub(w.firstAt) >= w.cfg.FlushInterval {
		return w.flush()
	}
	return nil
}

// record encodes the flow's data record.
func (w *Writer) record(b []byte, f *flow.Flow, v6 bool) []byte {
	for i := range w.fields {
		fd := &w.fields[i]
		switch fd.src {
		case fromSrcIP, fromDstIP:
			a := f.SrcIP
			if fd.src == fromDstIP {
				a = f.DstIP
			}
			if v6 {
				x := a.As16()
				b = append(b, x[:]...)
			} else {
				x := a.Unmap().As4()
				if !a.Unmap().Is4() {
					x = [4]byte{}
				}
				b = append(b, x[:]...)
			}
			continue
		case fromSrcMAC:
			b = append(b, f.SrcMAC[:]...)
			continue
		case fromDstMAC:
			b = append(b, f.DstMAC[:]...)
			continue
		case fromExpiration:
			b = append(b, byte(endReason(int64(f.ExpirationID))))
			continue
		}
		switch fd.el.Type {
		case Unsigned, Signed:
			v := uint64(fd.col.Int(f))
			for k := int(fd.el.Length) - 1; k >= 0; k-- {
				b = append(b, byte(v>>(8*k)))
			}
		case Float64:
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(fd.col.Float(f)))
		case Text:
			w.scratch = fd.col.String(w.scratch[:0], f)
			b = appendVarLen(b, w.scratch)
		case BasicList:
			w.list = fd.col.List(w.list[:0], f)
			b = w.appendBasicList(b, fd.el.List, w.list)
		}
	}
	return b
}

// appendVarLen appends a variable-length field (RFC 7011, section 7): a
// one-byte length below 255, else 255 and a two-byte length.
func appendVarLen(b, v []byte) []byte {
	if len(v) > 65535-3 {
		v = v[:65535-3]
	}
	if len(v) < 255 {
		b = append(b, byte(len(v)))
	} else {
		b = append(b, 255)
		b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	}
	return append(b, v...)
}

// appendBasicList appends a basicList (RFC 6313, section 4.5.3) with the
// semantic "ordered" (4), the item element and the items.
func (w *Writer) appendBasicList(b []byte, item *Element, items []int64) []byte {
	body := w.scratch[:0]
	body = append(body, 4) // ordered
	body = appendSpec(body, *item)
	for _, v := range items {
		for k := int(item.Length) - 1; k >= 0; k-- {
			body = append(body, byte(uint64(v)>>(8*k)))
		}
	}
	w.scratch = body
	// Always the three-byte length form, as RFC 6313 recommends for lists.
	b = append(b, 255)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

func (w *Writer) closeSet() {
	if w.setStart >= 0 {
		binary.BigEndian.PutUint16(w.msg[w.setStart+2:], uint16(len(w.msg)-w.setStart))
		w.setStart = -1
	}
}

// header fills the message header of m.
func (w *Writer) header(m []byte) {
	binary.BigEndian.PutUint16(m[0:], 10)
	binary.BigEndian.PutUint16(m[2:], uint16(len(m)))
	binary.BigEndian.PutUint32(m[4:], uint32(w.now().Unix()))
	binary.BigEndian.PutUint32(m[8:], w.seq)
	binary.BigEndian.PutUint32(m[12:], w.cfg.ObservationDomainID)
}

// flush sends the templates when due, then the current message.
func (w *Writer) flush() error {
	if w.nrec == 0 {
		return nil
	}
	w.closeSet()
	due := w.tmplSent.IsZero()
	if !w.tcp && (w.now().Sub(w.tmplSent) >= w.cfg.TemplateRefresh || w.sinceTmpl >= w.cfg.TemplateRefreshMessages) {
		due = true
	}
	if due {
		// Put the template set in front of the data sets of this message,
		// or in a message of its own when they do not fit together.
		if len(w.msg)+len(w.tmpl) <= w.cfg.MaxMessageSize {
			m := make([]byte, 0, len(w.msg)+len(w.tmpl))
			m = append(m, w.msg[:16]...)
			m = append(m, w.tmpl...)
			w.msg = append(m, w.msg[16:]...)
		} else if err := w.send(append(make([]byte, 16), w.tmpl...), 0); err != nil {
			return err
		}
		w.tmplSent, w.sinceTmpl = w.now(), 0
	}
	err := w.send(w.msg, w.nrec)
	w.msg, w.nrec, w.setStart = w.msg[:0], 0, -1
	return err
}

// send sends the message m holding n data records.
func (w *Writer) send(m []byte, n int) error {
	w.header(m)
	_, err := w.conn.Write(m)
	if err != nil && w.tcp {
		// One new connection (the templates go first again), then give up.
		w.conn.Close()
		if derr := w.dial(); derr != nil {
			w.err = fmt.Errorf("ipfix: sending to %s: %w (reconnecting: %w)", w.cfg.Addr, err, derr)
			return w.err
		}
		t := append(make([]byte, 16), w.tmpl...)
		w.header(t)
		if _, err = w.conn.Write(t); err == nil {
			w.tmplSent = w.now()
			_, err = w.conn.Write(m)
		}
		if err != nil {
			w.err = fmt.Errorf("ipfix: sending to %s: %w", w.cfg.Addr, err)
			return w.err
		}
	}
	if err != nil {
		// UDP: a collector that is away (ICMP port unreachable) must not stop
		// the meter; the flows are counted as dropped.
		w.counters.Dropped += uint64(n)
	} else {
		w.counters.Messages++
		w.counters.Records += uint64(n)
		w.counters.Bytes += uint64(len(m))
	}
	w.seq += uint32(n)
	w.sinceTmpl++
	return nil
}

// Close sends the last message and closes the connection.
func (w *Writer) Close() error {
	if w.conn == nil {
		return w.err
	}
	err := w.err
	if err == nil {
		err = w.flush()
	}
	if cerr := w.conn.Close(); err == nil {
		err = cerr
	}
	w.conn = nil
	return err
}
