package filter

import (
	"sync"
	"sync/atomic"
)

// Set is one filter expression compiled, on demand, for each link type it
// meets: records of several files, or of several pcapng interfaces, may have
// different link types, and a BPF program is only valid for one.
//
// A Set is safe for concurrent use: lookups are lock-free and allocation-
// free; compiling for a new link type takes a lock.
type Set struct {
	expr    string
	snaplen int
	mu      sync.Mutex                 // held while compiling
	entries atomic.Pointer[[]setEntry] // copy-on-write
}

// setEntry is the outcome of compiling for one link type, errors included
// (so that a failing link type is not compiled again for every record).
type setEntry struct {
	linkType uint16
	filter   *Filter
	err      error
}

// NewSet prepares expr for matching records of any link type. It compiles
// it once for Ethernet (DLT 1) so that an invalid expression is refused
// before any record is read. snaplen is as for Compile.
func NewSet(expr string, snaplen int) (*Set, error) {
	s := &Set{expr: expr, snaplen: snaplen}
	if _, err := s.Filter(1); err != nil {
		return nil, err
	}
	return s, nil
}

// Expr is the set's expression.
func (s *Set) Expr() string { return s.expr }

// Filter returns the expression compiled for a link type, compiling it the
// first time. An expression that libpcap cannot compile for this link type
// (for example "vlan" on raw IP) gives a *CompileError, every time.
func (s *Set) Filter(linkType uint16) (*Filter, error) {
	if e := s.lookup(linkType); e != nil {
		return e.filter, e.err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.lookup(linkType); e != nil {
		return e.filter, e.err
	}
	f, err := Compile(s.expr, linkType, s.snaplen)
	var old []setEntry
	if p := s.entries.Load(); p != nil {
		old = *p
	}
	entries := append(append(make([]setEntry, 0, len(old)+1), old...), setEntry{linkType, f, err})
	s.entries.Store(&entries)
	return f, err
}

func (s *Set) lookup(linkType uint16) *setEntry {
	p := s.entries.Load()
	if p == nil {
		return nil
	}
	for i := range *p {
		if (*p)[i].linkType == linkType {
			return &(*p)[i]
		}
	}
	return nil
}

// Match runs the filter for linkType on a record (see Filter.Match). The
// error is that of Filter: the expression does not compile for linkType.
func (s *Set) Match(linkType uint16, data []byte, wireLen uint32) (bool, error) {
	f, err := s.Filter(linkType)
	if err != nil {
		return false, err
	}
	return f.Match(data, wireLen), nil
}
