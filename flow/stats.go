package flow

import "math"

// Dist accumulates a series with NFStream's running formulas: integer min and
// max, a running mean and Welford's M2, in exactly NFStream's operation order
// so that the float results are bit-identical (spec 6.5).
type Dist struct {
	N        uint64 // values seen
	Min, Max uint64
	mean, m2 float64
}

// Add adds one value.
func (d *Dist) Add(x uint64) {
	d.N++
	fx := float64(x)
	if d.N == 1 {
		d.Min, d.Max, d.mean = x, x, fx
		return
	}
	d.Min = min(d.Min, x)
	d.Max = max(d.Max, x)
	old := d.mean
	// Explicit conversions keep every operation individually rounded (no
	// fused multiply-add on any architecture).
	d.mean = old + float64(float64(fx-old)/float64(d.N))
	d.m2 = d.m2 + float64(float64(fx-old)*float64(fx-d.mean))
}

// Mean is the running mean, 0.0 when empty.
func (d *Dist) Mean() float64 { return d.mean }

// Stddev is the sample standard deviation, 0.0 with fewer than two values.
func (d *Dist) Stddev() float64 {
	if d.N < 2 {
		return 0
	}
	return math.Sqrt(d.m2 / float64(d.N-1))
}

// DirStats are the accumulators of one direction (or of both).
type DirStats struct {
	PS    Dist // packet sizes in the accounting mode
	PIAT  Dist // inter-arrival times, ms
	Flags [8]uint64
}

// Flag counter indexes, in NFStream's column order.
const (
	FlagSyn = iota
	FlagCwr
	FlagEce
	FlagUrg
	FlagAck
	FlagPsh
	FlagRst
	FlagFin
)

// flagBits maps the counter indexes to TCP header bits.
var flagBits = [8]uint8{0x02, 0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x01}

func (d *DirStats) countFlags(tcpFlags uint8) {
	if tcpFlags == 0 {
		return
	}
	for i, bit := range flagBits {
		if tcpFlags&bit != 0 {
			d.Flags[i]++
		}
	}
}

// Stats are the statistical_analysis features of a flow. Bidirectional flag
// counters are the sums of the two directions.
type Stats struct {
	Bidirectional DirStats
	Src2Dst       DirStats
	Dst2Src       DirStats
}

// SPLT holds the first packets' direction, size and inter-arrival time.
// Positions beyond the flow's packets are -1 (spec 6.6).
type SPLT struct {
	Direction []int8
	PS        []int32
	PIATMs    []int64
}

func newSPLT(n int) *SPLT {
	s := &SPLT{Direction: make([]int8, n), PS: make([]int32, n), PIATMs: make([]int64, n)}
	for i := range n {
		s.Direction[i], s.PS[i], s.PIATMs[i] = -1, -1, -1
	}
	return s
}
