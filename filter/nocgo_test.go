//go:build !cgo

package filter

import (
	"errors"
	"testing"
)

// TestNoCgo: without cgo, compiling expressions reports ErrNotSupported,
// while hand-made programs still run.
func TestNoCgo(t *testing.T) {
	if _, err := Compile("tcp", 1, 0); !errors.Is(err, ErrNotSupported) || err.Error() != `bpf_filter "tcp": BPF filters need cgo and libpcap` {
		t.Errorf("Compile = %v, want ErrNotSupported", err)
	}
	if _, err := NewSet("tcp", 0); !errors.Is(err, ErrNotSupported) {
		t.Errorf("NewSet = %v, want ErrNotSupported", err)
	}
}
