// Package flowslicer is NFStream's FlowSlicer plugin (behaviour spec 11.2):
// it cuts flows into pieces of a fixed number of packets by forcing their
// expiry (expiration_id -1).
package flowslicer

import (
	"errors"
	"fmt"

	"github.com/nfstream-go/nfstream/flow"
)

// ErrInvalid is wrapped by the errors of Validate.
var ErrInvalid = errors.New("invalid FlowSlicer parameter")

// FlowSlicer ends every flow when it reaches Limit packets: each emitted
// flow holds exactly Limit packets, except the last piece of a conversation,
// which ends by the usual idle, active or end-of-input expiry. It adds no
// udps values.
//
// A FlowSlicer keeps no state; one value may serve several meters at once.
// Its hooks never allocate.
type FlowSlicer struct {
	flow.BasePlugin
	// Limit is the number of packets per flow (NFStream's limit). A Limit
	// below 1 never cuts (NFStream compares the packet count to it).
	Limit int
}

// Validate reports a Limit below 1, which would slice nothing.
func (s *FlowSlicer) Validate() error {
	if s.Limit < 1 {
		return fmt.Errorf("%w: limit %d is not a positive number of packets", ErrInvalid, s.Limit)
	}
	return nil
}

// OnInit ends the flow at once when Limit is 1.
func (s *FlowSlicer) OnInit(_ *flow.Packet, f *flow.Flow) {
	if s.Limit == 1 {
		f.ExpirationID = flow.ExpirationCustom
	}
}

// OnUpdate ends the flow when its packet count reaches Limit.
func (s *FlowSlicer) OnUpdate(_ *flow.Packet, f *flow.Flow) {
	if s.Limit > 0 && f.BidirectionalPackets == uint64(s.Limit) {
		f.ExpirationID = flow.ExpirationCustom
	}
}

// Clone returns an instance with the same parameters and no state, for
// another meter (flow.Cloner).
func (f *FlowSlicer) Clone() flow.Plugin { return &FlowSlicer{Limit: f.Limit} }
