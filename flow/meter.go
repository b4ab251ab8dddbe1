package flow

import (
	"encoding/binary"
	"net/netip"

	"github.com/nfstream-go/nfstream/decode"
	"github.com/nfstream-go/nfstream/dpi"
)

// Config is what a Meter needs to know; it is checked by the caller.
type Config struct {
	IdleTimeoutMs   uint64
	ActiveTimeoutMs uint64
	// AccountingMode selects the packet size counted: 0 raw (wire) size,
	// 1 IP size, 2 transport size, 3 payload size.
	AccountingMode      int
	StatisticalAnalysis bool
	// SPLTAnalysis is the length of the SPLT sequences, 0 for none.
	SPLTAnalysis int
	// Dissector, when not nil, labels flows with nDPI. With plugins it
	// must be in plugin mode, so that plugins see intermediate labels.
	Dissector *dpi.Dissector
	// Plugins are called on every flow, in order (see Plugin).
	Plugins []Plugin
	// MaxFlows caps the flows the meter caches, and with them the nDPI
	// flow states (at most one per cached flow): when a packet would
	// create flow MaxFlows+1, the least recently seen cached flow is
	// ended first with ExpirationEvicted. 0 means no cap (NFStream).
	MaxFlows int
	// AsyncDPI runs the Dissector on a goroutine of its own (asyncdpi.go),
	// so that nDPI works while the meter meters the next packets. The
	// flows, their order and their labels stay exactly those of a
	// synchronous meter, but a flow is emitted some packets after it
	// ends (at the latest by Flush), and the meter must be Closed. It
	// needs a Dissector and no Plugins (plugins see labels as they change).
	AsyncDPI bool
}

// scanInterval is how much packet time passes between idle scans, and
// scanBudget how many flows one scan may expire (spec 5.6).
const (
	scanIntervalMs = 10
	scanBudget     = 1000
)

// Key identifies a flow regardless of direction: the two endpoints in a
// canonical order plus protocol, VLAN and tunnel (spec 5.2).
type Key struct {
	LoIP, HiIP     [16]byte
	LoPort, HiPort uint16
	VlanID         uint16
	Protocol       uint8
	TunnelID       uint8
}

// MakeKey builds the direction-independent key of an endpoint pair.
func MakeKey(srcIP, dstIP *[16]byte, srcPort, dstPort, vlan uint16, proto, tunnel uint8) Key {
	k := Key{VlanID: vlan, Protocol: proto, TunnelID: tunnel}
	if less(srcIP, srcPort, dstIP, dstPort) {
		k.LoIP, k.LoPort, k.HiIP, k.HiPort = *srcIP, srcPort, *dstIP, dstPort
	} else {
		k.LoIP, k.LoPort, k.HiIP, k.HiPort = *dstIP, dstPort, *srcIP, srcPort
	}
	return k
}

// less orders endpoints by address bytes, then port. Comparing the
// addresses as two big-endian words is the same as comparing their bytes.
func less(a *[16]byte, ap uint16, b *[16]byte, bp uint16) bool {
	if a0, b0 := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8]); a0 != b0 {
		return a0 < b0
	}
	if a1, b1 := binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:]); a1 != b1 {
		return a1 < b1
	}
	return ap < bp
}

// Hash is a hash of the key that is the same for both directions; shards use
// it to pick a meter.
func (k *Key) Hash() uint64 {
	// FNV-1a over the canonical key.
	h := uint64(14695981039346656037)
	mix := func(b byte) { h ^= uint64(b); h *= 1099511628211 }
	for _, b := range k.LoIP {
		mix(b)
	}
	for _, b := range k.HiIP {
		mix(b)
	}
	mix(byte(k.LoPort >> 8))
	mix(byte(k.LoPort))
	mix(byte(k.HiPort >> 8))
	mix(byte(k.HiPort))
	mix(byte(k.VlanID >> 8))
	mix(byte(k.VlanID))
	mix(k.Protocol)
	mix(k.TunnelID)
	return h
}

func addrOf(b *[16]byte, version uint8) netip.Addr {
	if version == 4 {
		return netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]})
	}
	return netip.AddrFrom16(*b)
}

// Meter is one flow cache with its clock. It is used by one goroutine.
//
// Flows leave the meter through the emit function given to NewMeter, in
// NFStream's emission order. The meter keeps no reference to an emitted flow.
type Meter struct {
	cfg   Config
	emit  func(*Flow)
	flows table
	// head is the oldest-created cached flow, tail the newest: the cache is
	// ordered by creation, never refreshed by updates (spec 5.3).
	head, tail *Flow
	// oldest, newest: every cached flow in last-seen order (Flow.older,
	// newer), kept when seen is set (a single meter with MaxFlows or DPI):
	// the eviction order of MaxFlows, and the order in which idle flows'
	// nDPI state is reaped. reaped is the newest flow of the list's prefix
	// already reaped (nil: none).
	seen                   bool
	oldest, newest, reaped *Flow
	tick                   uint64
	scanTick               uint64
	// Clamped counts packets whose time went backwards and was raised to
	// the meter clock (spec 5.1).
	Clamped uint64
	// DPIFailures counts flows nDPI could not allocate state for; they have
	// empty application columns.
	DPIFailures uint64
	view        Packet // the plugins' packet view, reused
	async       *dpiWorker

	// Shard mode only (NewShardMeter, see order.go): events go to out;
	// seq and kind describe the events of the call in progress; updates
	// move a flow to the tail, so the list is in last-seen order; refs
	// holds the Ref of every flow not yet reported ended (kept out of
	// Flow so that a single meter's flows stay small).
	out  func(Event)
	seq  uint64
	kind EventKind
	lru  bool
	refs map[*Flow]*Ref
}

// NewMeter returns an empty meter that hands every finished flow to emit.
// With cfg.AsyncDPI (and a Dissector, and no plugins) it starts the
// Dissector's goroutine: Close must then be called.
func NewMeter(cfg Config, emit func(*Flow)) *Meter {
	m := &Meter{cfg: cfg, emit: emit, flows: newTable(), seen: cfg.MaxFlows > 0 || cfg.Dissector != nil}
	if cfg.AsyncDPI && cfg.Dissector != nil && len(cfg.Plugins) == 0 {
		m.async = newDPIWorker(cfg.Dissector, m.deliver)
	}
	return m
}

// deliver emits the flows of a batch the Dissector's goroutine is done with.
func (m *Meter) deliver(b *dpiBatch) {
	m.DPIFailures += b.failures
	for i := range b.ops {
		if op := &b.ops[i]; op.kind == opEmit {
			m.emit(op.f)
		}
	}
}

// Close ends the Dissector's goroutine of an AsyncDPI meter, after the
// calls already recorded (flows ended before Close are still emitted); the
// Dissector's engine may be closed after it. Cached flows are left as they
// are: Flush first to emit them. Close does nothing for other meters, and
// the meter must not be used after it.
func (m *Meter) Close() {
	if m.async != nil {
		m.async.stop()
	}
}

// Len is the number of flows in the cache.
func (m *Meter) Len() int { return m.flows.len() }

func (m *Meter) size(p *decode.Packet) uint64 {
	switch m.cfg.AccountingMode {
	case 1:
		return uint64(p.IPSize)
	case 2:
		return uint64(p.TransportSize)
	case 3:
		return uint64(p.PayloadSize)
	}
	return uint64(p.RawSize)
}

// Tick is the meter clock: the latest packet time seen, in ms.
func (m *Meter) Tick() uint64 { return m.tick }

// advance applies the clock rule of spec 5.1 to the packet time and reports
// whether an idle scan is due (deciding it before the packet is consumed).
func (m *Meter) advance(t *uint64) bool { return advance(&m.tick, &m.scanTick, &m.Clamped, t) }

// Clock is the meter clock (spec 5.1) with its idle scan schedule (spec
// 5.4 step 1), on its own: a sharded pipeline runs the single meter's
// clock over all packets to find the scan points. Its zero value is the
// clock before the first packet.
type Clock struct {
	tick, scanTick uint64
	// Clamped counts packets whose time went backwards and was raised to
	// the clock.
	Clamped uint64
}

// Tick is the clock: the latest packet time seen, in ms.
func (c *Clock) Tick() uint64 { return c.tick }

// Advance applies the clock rule of spec 5.1 to a packet time (raising *t
// to the clock when it is earlier) and reports whether an idle scan is due
// after this packet, exactly as a Meter does.
func (c *Clock) Advance(t *uint64) bool { return advance(&c.tick, &c.scanTick, &c.Clamped, t) }

func advance(tick, scanTick, clamped, t *uint64) bool {
	if *t > *tick {
		*tick = *t
	} else {
		if *t < *tick {
			*clamped++
		}
		*t = *tick
	}
	if *tick-*scanTick >= scanIntervalMs {
		*scanTick = *tick
		return true
	}
	return false
}

// Other accounts for a packet that belongs to another meter: it only moves
// the clock and may trigger an idle scan (spec 5.4).
func (m *Meter) Other(timeMs uint64) {
	if m.advance(&timeMs) {
		m.scan()
	}
}

// Process meters one decoded packet that belongs to this meter. Flows that
// end because of it are emitted before Process returns. p.TimeMs is clamped
// in place.
func (m *Meter) Process(p *decode.Packet) {
	scanDue := m.advance(&p.TimeMs)
	k := MakeKey(&p.SrcIP, &p.DstIP, p.SrcPort, p.DstPort, p.VlanID, p.Protocol, p.TunnelID)
	if f := m.flows.get(&k); f != nil {
		t := p.TimeMs
		switch {
		case t-f.BidirectionalLastSeenMs >= m.cfg.IdleTimeoutMs:
			f.ExpirationID = ExpirationIdle
			m.expire(f)
			m.create(k, p)
		case t-f.BidirectionalFirstSeenMs >= m.cfg.ActiveTimeoutMs:
			f.ExpirationID = ExpirationActive
			m.expire(f)
			m.create(k, p)
		default:
			if m.lru {
				m.toTail(f)
			} else if m.seen && m.newest != f {
				m.seenUnlink(f)
				m.seenAppend(f)
			}
			m.update(k, f, p)
		}
	} else {
		m.create(k, p)
	}
	if scanDue && !m.lru { // shard meters scan when told (ExpireIdle)
		m.scan()
	}
}

// Flush emits every cached flow in creation order (end of input). A shard
// meter reports them as EventFlushed, in no particular order.
func (m *Meter) Flush() {
	if m.out != nil {
		m.seq, m.kind = flushSeq, EventFlushed
	}
	// Every cached flow ends, in creation order as expiry would end them:
	// the table and the lists are emptied at once rather than flow by
	// flow (on bench40, removing the 151,264 flows one by one, with the
	// table shrinking as it empties, cost 0.05 s of CPU).
	f := m.head
	m.head, m.tail = nil, nil
	m.oldest, m.newest, m.reaped = nil, nil, nil
	m.flows.clear()
	for f != nil {
		next := f.next
		f.prev, f.next, f.older, f.newer = nil, nil, nil, nil
		m.finalize(f)
		f = next
	}
	if m.async != nil {
		m.async.drain()
	}
}

// scan expires idle flows from the oldest, stopping at the first one that is
// not idle (spec 5.6), then reaps the nDPI state of idle flows that stay
// cached.
func (m *Meter) scan() {
	for range scanBudget {
		f := m.head
		if f == nil || m.tick-f.BidirectionalLastSeenMs < m.cfg.IdleTimeoutMs {
			break
		}
		m.expire(f)
	}
	m.reapIdleDPI()
}

// reapIdleDPI finishes the dissection of every cached flow that is idle and
// still holds nDPI state, releasing that state now rather than at expiry.
//
// NFStream's cache is ordered by creation and its scan stops at the first
// live flow, so an idle flow behind an older live one stays cached until
// its key reappears or the input ends (often most of the cache). Such a
// flow can receive no further packet: the next packet of its key expires
// it (spec 5.4, the clock never goes back). Its labels are final but for
// the give-up, which is the same call at expiry; only nDPI's module-wide
// caches (e.g. BitTorrent, Ookla) could answer a later give-up differently.
// Measured identical on the corpus and the benchmark capture
// (docs/performance.md); the nDPI state was 99% of live states at the
// benchmark's peak.
func (m *Meter) reapIdleDPI() {
	if m.cfg.Dissector == nil {
		return
	}
	f := m.oldest
	if m.reaped != nil {
		f = m.reaped.newer
	}
	for ; f != nil && m.tick-f.BidirectionalLastSeenMs >= m.cfg.IdleTimeoutMs; f = f.newer {
		if f.DPI != nil && !f.DPI.Over() {
			if m.async != nil {
				m.async.add(opFinish, f.DPI, nil, nil, 0, 0)
			} else {
				m.cfg.Dissector.Finish(f.DPI)
			}
		}
		m.reaped = f
	}
}

func (m *Meter) expire(f *Flow) {
	m.flows.del(f)
	if m.seen {
		m.seenUnlink(f)
	}
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		m.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else {
		m.tail = f.prev
	}
	f.prev, f.next = nil, nil
	m.finalize(f)
}

// finalize ends a flow that is no longer cached: final labels, plugins'
// OnExpire, then emission.
func (m *Meter) finalize(f *Flow) {
	if m.async != nil {
		// Emitted in its turn among the flows waiting for their labels.
		m.async.add(opEmit, f.DPI, f, nil, 0, 0)
		return
	}
	if f.DPI != nil {
		m.cfg.Dissector.Finish(f.DPI)
	}
	for _, pl := range m.cfg.Plugins {
		pl.OnExpire(f)
	}
	m.emit(f)
}

// evict ends the least recently seen flow when the cache is full.
func (m *Meter) evict() {
	f := m.oldest
	if m.lru {
		f = m.head
	}
	f.ExpirationID = ExpirationEvicted
	m.expire(f)
}

// seenUnlink and seenAppend maintain the last-seen list of a single meter.
// A flow of the reaped prefix is idle, so it is never appended again: its
// next packet expires it (the clock never goes back).
func (m *Meter) seenUnlink(f *Flow) {
	if f == m.reaped {
		m.reaped = f.older
	}
	if f.older != nil {
		f.older.newer = f.newer
	} else {
		m.oldest = f.newer
	}
	if f.newer != nil {
		f.newer.older = f.older
	} else {
		m.newest = f.older
	}
	f.older, f.newer = nil, nil
}

func (m *Meter) seenAppend(f *Flow) {
	f.older = m.newest
	if m.newest != nil {
		m.newest.newer = f
	} else {
		m.oldest = f
	}
	m.newest = f
}

func (m *Meter) create(k Key, p *decode.Packet) {
	if m.cfg.MaxFlows > 0 && m.flows.len() >= m.cfg.MaxFlows {
		m.evict()
	}
	t, s := p.TimeMs, m.size(p)
	f := &Flow{
		SrcIP:                    addrOf(&p.SrcIP, p.IPVersion),
		DstIP:                    addrOf(&p.DstIP, p.IPVersion),
		SrcMAC:                   p.SrcMAC,
		DstMAC:                   p.DstMAC,
		SrcPort:                  p.SrcPort,
		DstPort:                  p.DstPort,
		Protocol:                 p.Protocol,
		IPVersion:                p.IPVersion,
		VlanID:                   p.VlanID,
		TunnelID:                 p.TunnelID,
		BidirectionalFirstSeenMs: t,
		BidirectionalLastSeenMs:  t,
		BidirectionalPackets:     1,
		BidirectionalBytes:       s,
		Src2DstLastSeenMs:        t,
		Src2DstPackets:           1,
		Src2DstBytes:             s,
	}
	if m.cfg.StatisticalAnalysis {
		st := &Stats{}
		st.Bidirectional.PS.Add(s)
		st.Src2Dst.PS.Add(s)
		st.Bidirectional.countFlags(p.TCPFlags)
		st.Src2Dst.countFlags(p.TCPFlags)
		f.Stats = st
	}
	if n := m.cfg.SPLTAnalysis; n > 0 {
		f.SPLT = newSPLT(n)
		f.SPLT.Direction[0], f.SPLT.PS[0], f.SPLT.PIATMs[0] = 0, int32(s), 0
	}
	if m.out != nil {
		r := &Ref{key: k, hash: refHash(&k), seq: m.seq}
		m.refs[f] = r
		m.out(Event{Seq: m.seq, Kind: EventCreated, Ref: r})
	}
	if d := m.cfg.Dissector; d != nil {
		f.DPI = dpi.NewFlowState()
		if m.async != nil {
			m.async.add(opStart, f.DPI, nil, p.IP, t, 0)
		} else if d.Start(f.DPI, p.IP, t) != nil {
			m.DPIFailures++
		}
	}
	if len(m.cfg.Plugins) > 0 {
		f.UDPS = &UDPS{}
		m.view = Packet{Packet: p}
		for _, pl := range m.cfg.Plugins {
			pl.OnInit(&m.view, f)
		}
		m.view.Packet = nil
		if f.ExpirationID == ExpirationCustom {
			m.finalize(f) // never cached
			return
		}
	}
	m.flows.put(&k, f)
	if m.seen {
		m.seenAppend(f)
	}
	f.prev = m.tail
	if m.tail != nil {
		m.tail.next = f
	} else {
		m.head = f
	}
	m.tail = f
}

// direction applies spec 5.8: ports first, then addresses.
func (f *Flow) direction(p *decode.Packet) uint8 {
	if p.SrcPort != f.SrcPort || p.DstPort != f.DstPort {
		return 1
	}
	if addrOf(&p.SrcIP, p.IPVersion) != f.SrcIP || addrOf(&p.DstIP, p.IPVersion) != f.DstIP {
		return 1
	}
	return 0
}

func (m *Meter) update(k Key, f *Flow, p *decode.Packet) {
	t, s := p.TimeMs, m.size(p)
	dir := f.direction(p)
	delta := t - f.BidirectionalLastSeenMs
	f.BidirectionalPackets++
	f.BidirectionalBytes += s
	f.BidirectionalLastSeenMs = t
	st := f.Stats
	if st != nil {
		st.Bidirectional.PS.Add(s)
		st.Bidirectional.PIAT.Add(delta)
		st.Bidirectional.countFlags(p.TCPFlags)
	}
	if dir == 0 {
		if st != nil {
			st.Src2Dst.PS.Add(s)
			st.Src2Dst.PIAT.Add(t - f.Src2DstLastSeenMs)
			st.Src2Dst.countFlags(p.TCPFlags)
		}
		f.Src2DstPackets++
		f.Src2DstBytes += s
		f.Src2DstLastSeenMs = t
	} else {
		if f.Dst2SrcPackets == 0 {
			f.Dst2SrcFirstSeenMs = t
		} else if st != nil {
			st.Dst2Src.PIAT.Add(t - f.Dst2SrcLastSeenMs)
		}
		if st != nil {
			st.Dst2Src.PS.Add(s)
			st.Dst2Src.countFlags(p.TCPFlags)
		}
		f.Dst2SrcPackets++
		f.Dst2SrcBytes += s
		f.Dst2SrcLastSeenMs = t
	}
	if sp := f.SPLT; sp != nil && f.BidirectionalPackets <= uint64(len(sp.PS)) {
		i := f.BidirectionalPackets - 1
		sp.Direction[i], sp.PS[i], sp.PIATMs[i] = int8(dir), int32(s), int64(delta)
	}
	if f.DPI != nil && !f.DPI.Over() {
		if m.async != nil {
			m.async.add(opUpdate, f.DPI, nil, p.IP, t, f.BidirectionalPackets)
		} else {
			m.cfg.Dissector.Update(f.DPI, p.IP, t, f.BidirectionalPackets)
		}
	}
	if len(m.cfg.Plugins) > 0 {
		m.view = Packet{Packet: p, Direction: dir, DeltaTimeMs: delta}
		for _, pl := range m.cfg.Plugins {
			pl.OnUpdate(&m.view, f)
		}
		m.view.Packet = nil
		if f.ExpirationID == ExpirationCustom {
			m.expire(f)
		}
	}
}
