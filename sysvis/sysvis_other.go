//go:build !linux

package sysvis

// Start returns ErrNotSupported off Linux.
func Start(cfg Config) (*Table, error) { return nil, ErrNotSupported }

func check() error { return ErrNotSupported }

type ebpfSource struct{}

var errEBPFNotTried = ErrNotSupported

func (t *Table) closeEBPF()         {}
func (t *Table) lostEvents() uint64 { return 0 }
