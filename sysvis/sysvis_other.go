//go:build !linux

package sysvis

// Start returns ErrNotSupported off Linux.
func Start(cfg Config) (*Table, error) { return nil, ErrNotSupported }

func check() error { return ErrNotSupported }
