// Package splt is NFStream's SPLT plugin (behaviour spec 11.1): the
// direction, size and inter-arrival time of the first packets of each flow,
// as the user-defined values udps.splt_direction, udps.splt_ps and
// udps.splt_piat_ms.
//
// It computes exactly what the native sequences give (Options.SPLTAnalysis,
// the splt_* columns) with the same length and accounting mode; it exists,
// as in NFStream, as an example of a plugin and to have sequences in a
// different accounting mode than the flow's.
package splt

import (
	"errors"
	"fmt"

	"github.com/nfstream-go/nfstream/flow"
)

// The names of the values it sets, in creation order.
const (
	Direction = "splt_direction"
	PS        = "splt_ps"
	PIATMs    = "splt_piat_ms"
)

// ErrInvalid is wrapped by the errors of Validate.
var ErrInvalid = errors.New("invalid SPLT parameter")

// SPLT records the first SequenceLength packets of each flow. Positions
// beyond the flow's packets hold -1.
//
// A SPLT keeps no state between flows; one value may serve several meters
// at once. The hooks do not allocate except once per flow in OnInit (the
// three sequences).
type SPLT struct {
	flow.BasePlugin
	// SequenceLength is the number of packets recorded (NFStream's
	// sequence_length), at least 1.
	SequenceLength int
	// AccountingMode is the packet size recorded: 0 link layer (wire
	// length), 1 IP, 2 transport, 3 payload (NFStream's accounting_mode; as
	// in NFStream, any other value means payload).
	AccountingMode int
}

// Validate reports parameters NFStream would fail on (a length of 0 crashes
// its on_init) or that are outside the documented ranges.
func (s *SPLT) Validate() error {
	var errs []error
	if s.SequenceLength < 1 || s.SequenceLength > 65535 {
		errs = append(errs, fmt.Errorf("%w: sequence_length %d is not between 1 and 65535", ErrInvalid, s.SequenceLength))
	}
	if s.AccountingMode < 0 || s.AccountingMode > 3 {
		errs = append(errs, fmt.Errorf("%w: accounting_mode %d is not 0 (link layer), 1 (IP), 2 (transport) or 3 (payload)", ErrInvalid, s.AccountingMode))
	}
	return errors.Join(errs...)
}

func (s *SPLT) size(p *flow.Packet) int64 {
	switch s.AccountingMode {
	case 0:
		return int64(p.RawSize)
	case 1:
		return int64(p.IPSize)
	case 2:
		return int64(p.TransportSize)
	}
	return int64(p.PayloadSize)
}

// OnInit creates the three sequences, all -1 but for the first packet. A
// SequenceLength below 1 gives empty sequences.
func (s *SPLT) OnInit(p *flow.Packet, f *flow.Flow) {
	n := max(s.SequenceLength, 0)
	all := make([]int64, 3*n)
	for i := range all {
		all[i] = -1
	}
	dir, ps, piat := all[:n:n], all[n:2*n:2*n], all[2*n:]
	if n > 0 {
		dir[0], ps[0], piat[0] = 0, s.size(p), int64(p.DeltaTimeMs)
	}
	if f.UDPS == nil {
		f.UDPS = &flow.UDPS{}
	}
	f.UDPS.Set(Direction, flow.List(dir))
	f.UDPS.Set(PS, flow.List(ps))
	f.UDPS.Set(PIATMs, flow.List(piat))
}

// OnUpdate records the packet while the flow has at most SequenceLength
// packets. It does not allocate.
func (s *SPLT) OnUpdate(p *flow.Packet, f *flow.Flow) {
	c := f.BidirectionalPackets
	if c == 0 || c > uint64(s.SequenceLength) || f.UDPS == nil {
		return
	}
	i := int(c - 1)
	set(f.UDPS, Direction, i, int64(p.Direction))
	set(f.UDPS, PS, i, s.size(p))
	set(f.UDPS, PIATMs, i, int64(p.DeltaTimeMs))
}

// set writes element i of the list stored under name, in place.
func set(u *flow.UDPS, name string, i int, x int64) {
	if v, ok := u.Get(name); ok && v.Kind == flow.KindList && i < len(v.List) {
		v.List[i] = x
	}
}

// Clone returns an instance with the same parameters and no state, for
// another meter (flow.Cloner).
func (s *SPLT) Clone() flow.Plugin {
	return &SPLT{SequenceLength: s.SequenceLength, AccountingMode: s.AccountingMode}
}
