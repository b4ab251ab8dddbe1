// Package filter applies BPF filter expressions (tcpdump syntax) to captured
// records, as NFStream does with libpcap.
//
// Expressions are compiled by libpcap itself (pcap_compile, optimisation on,
// netmask 255.255.255.0, as NFStream does), so that the language and every
// corner of its code generation are libpcap's; this needs cgo and libpcap
// (see Compile). The compiled classic-BPF program is copied into Go memory
// and run by a small pure-Go interpreter with the semantics of libpcap's
// bpf_filter: no cgo call and no allocation per packet.
//
// A program depends on the link type of the records it is run on, which may
// differ from file to file and, in pcapng, from interface to interface: Set
// compiles an expression once per link type, on demand.
//
// A *Filter is immutable and safe for concurrent use. A *Set is safe for
// concurrent use too.
package filter

import (
	"errors"
	"fmt"
)

// ErrInvalid marks an expression that libpcap cannot compile (for the link
// type concerned).
var ErrInvalid = errors.New("invalid BPF filter")

// ErrNotSupported is returned by Compile in builds without cgo: compiling
// expressions needs libpcap.
var ErrNotSupported = errors.New("BPF filters need cgo and libpcap")

// CompileError reports an expression that libpcap refused. It wraps
// ErrInvalid.
type CompileError struct {
	Expr     string // the expression as given
	LinkType uint16 // the DLT it was compiled for
	Msg      string // libpcap's message (pcap_geterr)
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("bpf_filter %q: %s", e.Expr, e.Msg)
}

func (e *CompileError) Unwrap() error { return ErrInvalid }

// Instruction is one classic-BPF instruction, laid out as libpcap's struct
// bpf_insn.
type Instruction struct {
	Code uint16 // opcode: class | size/op | mode/source
	Jt   uint8  // jump offset if true (conditional jumps)
	Jf   uint8  // jump offset if false
	K    uint32 // constant operand
}

// Filter is a compiled filter program. It is immutable: it may be used by
// many goroutines at once.
type Filter struct {
	expr string
	prog []Instruction // as given
	code []insn        // as run
}

// New makes a Filter from a classic-BPF program, which must pass the
// checks of libpcap's bpf_validate: known opcodes only, jumps within the
// program (backward unconditional jumps, which libpcap emits for
// "protochain", included; a jump to itself excluded), scratch memory indexes
// below 16, no constant division by zero or shift by more than 31 bits, and
// a return as last instruction. expr is only used to describe the filter.
// The program is copied.
func New(expr string, prog []Instruction) (*Filter, error) {
	if err := validate(prog); err != nil {
		return nil, fmt.Errorf("bpf_filter %q: %w", expr, err)
	}
	f := &Filter{expr: expr, prog: append([]Instruction(nil), prog...), code: make([]insn, len(prog))}
	for i, in := range prog {
		f.code[i] = insn{op: decode(in.Code), jt: in.Jt, jf: in.Jf, k: in.K}
	}
	return f, nil
}

// Expr is the expression the filter was compiled from.
func (f *Filter) Expr() string { return f.expr }

// Instructions returns a copy of the program.
func (f *Filter) Instructions() []Instruction { return append([]Instruction(nil), f.prog...) }

// Match runs the filter on a record: data is the captured bytes (caplen =
// len(data)) and wireLen the original length. It reports whether the record
// is accepted, exactly as libpcap's bpf_filter would (a non-zero result).
// Reads beyond the captured bytes and divisions by zero reject the record.
// Match neither allocates nor keeps data.
func (f *Filter) Match(data []byte, wireLen uint32) bool {
	return run(f.code, data, wireLen) != 0
}

// MaxSnapLen is the snapshot length used when Compile is given none.
const MaxSnapLen = 262144

// Compile has libpcap compile a filter expression for records of the given
// link type (a DLT_ value, as in capture.Record.LinkType) and snapshot
// length (0 or less means MaxSnapLen), with optimisation on and netmask
// 255.255.255.0, as NFStream does. The program is copied into Go memory and
// libpcap's copy freed at once. The snapshot length only sets the value the
// program returns for accepted records, never the verdict.
//
// An expression libpcap refuses gives a *CompileError wrapping ErrInvalid,
// whose message quotes libpcap's. Builds without cgo return ErrNotSupported.
// Compile may be called from several goroutines.
func Compile(expr string, linkType uint16, snaplen int) (*Filter, error) {
	if snaplen <= 0 {
		snaplen = MaxSnapLen
	}
	prog, err := compile(expr, linkType, snaplen)
	if err != nil {
		return nil, err
	}
	return New(expr, prog)
}
