//go:build !cgo

package filter

import "fmt"

// compile is not available without cgo: libpcap compiles the expressions.
func compile(expr string, linkType uint16, snaplen int) ([]Instruction, error) {
	return nil, fmt.Errorf("bpf_filter %q: %w", expr, ErrNotSupported)
}
