package flow

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"

	"github.com/nfstream-go/nfstream/decode"
)

// Sharded metering with NFStream's single-meter order.
//
// Several shard meters (NewShardMeter) each meter the flows of their share
// of the packets, with the global clock, and report what happens to their
// flows as Events. An Order replays those events on a model of the single
// meter's creation-ordered cache and emits the flows exactly when and in
// which order one Meter would have: same flows, same emission order, so
// the same ids. docs/sharding.md explains why this holds.
//
// The rule that makes it possible (spec 5.6): the idle scan and the
// packet-triggered idle test use the same condition, so where flows are
// split never depends on when scans run; only the emission order does. A
// shard meter can therefore end every idle flow as soon as a scan point
// says it is idle (ExpireIdle), without the single meter's scan budget and
// without the shielding by older non-idle flows. The Order, which sees the
// creations of all shards in creation order, emits each such flow when the
// single meter would: at the scan that finds it at the head of the cache, at
// the creation of the next flow with its key (the single meter's
// packet-triggered idle expiry), or at the final flush.

// EventKind says what happened to a flow in a shard meter.
type EventKind uint8

// Event kinds, in the order a shard meter reports them for one packet and
// one scan point.
const (
	// EventCreated: packet Seq created the flow of Ref. Reported before
	// the flow's plugins' OnInit (and before an EventEnded of the same
	// packet for a flow expired by a plugin at creation).
	EventCreated EventKind = iota
	// EventEnded: packet Seq ended Flow: idle or active expiry by its next
	// packet (reported before that packet's EventCreated), or custom
	// expiry by a plugin.
	EventEnded
	// EventIdle: the idle scan at scan point Seq found Flow idle and ended
	// it.
	EventIdle
	// EventScan marks the end of the scan point Seq in a meter's events:
	// every EventIdle of that scan point precedes it.
	EventScan
	// EventFlushed: end of input; Flow is final. Seq is math.MaxUint64.
	EventFlushed
)

// flushSeq is the Seq of EventFlushed: after every packet.
const flushSeq = math.MaxUint64

// Event is one thing that happened to a flow in a shard meter.
//
// Flow, when set, is final: its native fields, application columns and
// plugins' values are those NFStream emits (ID aside), and the receiver
// owns it. Ref is the flow's place in the Order; it is allocated by the
// shard meter and belongs to the Order.
type Event struct {
	Seq  uint64 // the packet, or the scan point, at which it happened
	Kind EventKind
	Ref  *Ref
	Flow *Flow
}

// phase orders the events of one Seq: packet events, then the scan's idle
// flows, then the scan marker; EventFlushed comes after everything.
func (e *Event) phase() uint8 {
	switch e.Kind {
	case EventIdle:
		return 1
	case EventScan:
		return 2
	case EventFlushed:
		return 3
	}
	return 0
}

func (e *Event) before(o *Event) bool {
	return e.Seq < o.Seq || e.Seq == o.Seq && e.phase() < o.phase()
}

// Ref is a flow's entry in an Order: one is allocated for every flow a
// shard meter creates. The shard meter sets seq and key before reporting
// EventCreated; from then on the Ref belongs to the Order.
type Ref struct {
	key        Key
	hash       uint64 // of key, computed by the shard meter
	seq        uint64 // the packet that created the flow
	prev, next *Ref   // creation order
	flow       *Flow  // set once the flow has ended, until emission
	same       *Ref   // next in Order.waiting with the same hash
	state      uint8
	waiting    bool // in Order.waiting
}

// keySeed seeds the hash of Ref.key, the same in every shard meter.
var keySeed = maphash.MakeSeed()

// refHash is the hash of Ref.key (a variable so that tests can make every
// key collide).
var refHash = func(k *Key) uint64 { return maphash.Comparable(keySeed, *k) }

// Ref states in the Order.
const (
	refLive  uint8 = iota // cached in a shard meter
	refEnded              // ended by ExpireIdle or Flush: waits for its turn
	refGone               // emitted
)

// NewShardMeter returns a meter that is one shard of a sharded pipeline: it
// meters the flows of the packets given to ProcessAt and reports every
// creation and end to out, in order, instead of emitting flows (see Event).
// Several shard meters feed one Order.
//
// A shard meter runs no idle scan of its own: the pipeline calls ExpireIdle
// at every scan point of the single meter (spec 5.4 step 1, computed over
// all packets), on every shard. cfg is as for NewMeter; each shard needs its
// own Dissector and its own plugin instances. Use ProcessAt, ExpireIdle and
// Flush; not Process or Other.
//
// out is called on the meter's goroutine. Handing the events to the
// Order's goroutine is the caller's business (through a channel, which
// orders the meter's writes before the Order's reads); after that the
// meter never touches the Refs' Order fields or the ended flows again.
func NewShardMeter(cfg Config, out func(Event)) *Meter {
	m := &Meter{cfg: cfg, flows: newTable(), out: out, lru: true, refs: make(map[*Flow]*Ref)}
	m.emit = m.report
	return m
}

// ProcessAt meters the packet numbered seq among all the packets of the
// pipeline (0, 1, 2, ... in input order, over all shards). The pipeline has
// already clamped p.TimeMs to the global clock (spec 5.1), so times never go
// backwards; otherwise it is Process without the idle scan.
func (m *Meter) ProcessAt(p *decode.Packet, seq uint64) {
	m.seq, m.kind = seq, EventEnded
	m.Process(p)
}

// ExpireIdle is a shard meter's part of the idle scan at scan point seq,
// whose clock is tickMs: it ends every cached flow that is idle at tickMs
// (tickMs - last seen >= idle timeout), reporting each with EventIdle, then
// reports EventScan. Unlike the single meter's scan it has no budget and is
// not stopped by older active flows; the Order restores both.
func (m *Meter) ExpireIdle(tickMs, seq uint64) {
	m.seq, m.kind = seq, EventIdle
	for f := m.head; f != nil && tickMs-f.BidirectionalLastSeenMs >= m.cfg.IdleTimeoutMs; f = m.head {
		m.expire(f)
	}
	m.out(Event{Seq: seq, Kind: EventScan})
}

// report is a shard meter's emit: the flow ended at the current packet or
// scan point.
func (m *Meter) report(f *Flow) {
	r := m.refs[f]
	delete(m.refs, f)
	m.out(Event{Seq: m.seq, Kind: m.kind, Ref: r, Flow: f})
}

// toTail moves a cached flow to the end of the list (shard meters: the
// list is in last-seen order, oldest first).
func (m *Meter) toTail(f *Flow) {
	if f == m.tail {
		return
	}
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		m.head = f.next
	}
	f.next.prev = f.prev
	f.prev, f.next = m.tail, nil
	m.tail.next = f
	m.tail = f
}

// ErrOrder is wrapped by the errors of Order: events that no set of shard
// meters can produce (a bug in the pipeline feeding it).
var ErrOrder = errors.New("flow: inconsistent shard events")

// Order rebuilds NFStream's single-meter emission order from the events of
// several shard meters (see NewShardMeter). It models the single meter's
// cache: every flow in creation order, each either still cached in its
// shard or ended and waiting for the single meter to emit it.
//
// An Order is used by one goroutine. It never touches a flow that is still
// cached in a shard meter.
type Order struct {
	emit       func(*Flow) bool
	head, tail *Ref
	n          int // flows in the model cache
	// waiting holds, by key hash, the ended flows that a scan left in the
	// model cache, shielded by an older flow still cached: the next flow
	// created with the same key expires them. Refs whose keys share a hash
	// are chained by Ref.same. ended lists the flows ended since the last
	// scan, to be put in waiting if that scan leaves them.
	waiting refTable
	ended   []*Ref
	pos     []int  // Merge's cursors, reused
	cur     uint64 // the packet or scan point being merged
	stopped bool
}

// NewOrder returns an empty Order that hands every flow to emit in
// NFStream's single-meter order. When emit returns false the Order stops
// emitting (Stopped).
func NewOrder(emit func(*Flow) bool) *Order {
	return &Order{emit: emit}
}

// Len is the number of flows the single meter would have cached.
func (o *Order) Len() int { return o.n }

// Stopped reports whether emit returned false.
func (o *Order) Stopped() bool { return o.stopped }

// StoppedAt is, once Stopped, the packet whose metering (or scan point)
// made the single meter emit the flow for which emit returned false; the
// single meter would have read the input up to that packet. It is
// math.MaxUint64 when that flow was emitted by Flush.
func (o *Order) StoppedAt() uint64 { return o.cur }

// Merge applies the events of one stretch of input: streams holds, for
// every shard meter, the events it reported for the same packets and scan
// points, in the order it reported them. Merge interleaves them by packet
// and scan point, emitting flows as the single meter would. Streams of
// successive calls must follow each other.
func (o *Order) Merge(streams ...[]Event) error {
	if cap(o.pos) < len(streams) {
		o.pos = make([]int, len(streams))
	}
	pos := o.pos[:len(streams)]
	clear(pos)
	for !o.stopped {
		best := -1
		for i, s := range streams {
			if pos[i] < len(s) && (best < 0 || s[pos[i]].before(&streams[best][pos[best]])) {
				best = i
			}
		}
		if best < 0 {
			return nil
		}
		e := &streams[best][pos[best]]
		o.cur = e.Seq
		if e.Kind != EventScan {
			pos[best]++
			if err := o.apply(e); err != nil {
				return err
			}
			continue
		}
		// The earliest event is a scan marker: every shard has reported
		// its idle flows for this scan point, and every packet before it.
		for i, s := range streams {
			if pos[i] >= len(s) || s[pos[i]].Kind != EventScan || s[pos[i]].Seq != e.Seq {
				return fmt.Errorf("%w: shard %d lacks the scan point at packet %d", ErrOrder, i, e.Seq)
			}
			pos[i]++
		}
		o.scan()
	}
	return nil
}

func (o *Order) apply(e *Event) error {
	r := e.Ref
	if r == nil {
		return fmt.Errorf("%w: event %d at packet %d without a flow", ErrOrder, e.Kind, e.Seq)
	}
	switch e.Kind {
	case EventCreated:
		if o.waiting.n != 0 {
			for w := o.waiting.get(r.hash); w != nil; w = w.same {
				if w.key == r.key {
					// The single meter finds the idle flow of this key
					// still cached and expires it before creating the new
					// one; expiration_id is 0 even if a plugin had set an
					// inert value (spec 5.5).
					w.flow.ExpirationID = ExpirationIdle
					o.send(w, w.flow)
					break
				}
			}
		}
		r.state = refLive
		r.prev = o.tail
		if o.tail != nil {
			o.tail.next = r
		} else {
			o.head = r
		}
		o.tail = r
		o.n++
	case EventEnded:
		if r.state != refLive {
			return fmt.Errorf("%w: flow of packet %d ended at packet %d twice", ErrOrder, r.seq, e.Seq)
		}
		o.send(r, e.Flow)
	case EventIdle, EventFlushed:
		if r.state != refLive {
			return fmt.Errorf("%w: flow of packet %d ended at packet %d twice", ErrOrder, r.seq, e.Seq)
		}
		r.flow, r.state = e.Flow, refEnded
		if e.Kind == EventIdle {
			o.ended = append(o.ended, r)
		}
	}
	return nil
}

// scan is the single meter's idle scan (spec 5.6) on the model: a flow is
// idle at this scan point exactly when its shard has ended it by now.
func (o *Order) scan() {
	for range scanBudget {
		r := o.head
		if r == nil || r.state != refEnded || o.stopped {
			break
		}
		o.send(r, r.flow)
	}
	for i, r := range o.ended {
		if r.state == refEnded {
			if r.same = o.waiting.get(r.hash); r.same != nil {
				o.waiting.replace(r.hash, r.same, r)
			} else {
				o.waiting.put(r.hash, r)
			}
			r.waiting = true
		}
		o.ended[i] = nil
	}
	o.ended = o.ended[:0]
}

// Flush emits every remaining flow in creation order (end of input), after
// every shard meter's EventFlushed has been merged.
func (o *Order) Flush() error {
	o.cur = flushSeq
	for r := o.head; r != nil && !o.stopped; r = o.head {
		if r.state != refEnded {
			return fmt.Errorf("%w: flow of packet %d still cached at the end", ErrOrder, r.seq)
		}
		o.send(r, r.flow)
	}
	return nil
}

// send removes r from the model cache and emits its flow.
func (o *Order) send(r *Ref, f *Flow) {
	if r.prev != nil {
		r.prev.next = r.next
	} else {
		o.head = r.next
	}
	if r.next != nil {
		r.next.prev = r.prev
	} else {
		o.tail = r.prev
	}
	o.n--
	if r.waiting {
		o.unwait(r)
	}
	r.prev, r.next, r.flow, r.state = nil, nil, nil, refGone
	if !o.stopped && !o.emit(f) {
		o.stopped = true
	}
}

// unwait removes r from waiting.
func (o *Order) unwait(r *Ref) {
	w := o.waiting.get(r.hash)
	switch {
	case w == r && r.same == nil:
		o.waiting.remove(r.hash, r)
	case w == r:
		o.waiting.replace(r.hash, r, r.same)
	default:
		for w.same != r {
			w = w.same
		}
		w.same = r.same
	}
	r.same, r.waiting = nil, false
}
