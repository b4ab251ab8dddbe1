//go:build !linux

package afpacket

import (
	"fmt"
	"io"
	"runtime"

	"github.com/nfstream-go/nfstream/capture"
)

// Socket is an AF_PACKET capture socket; this platform has none.
type Socket struct{}

var _ capture.Source = (*Socket)(nil)

func notSupported() error {
	return fmt.Errorf("afpacket: AF_PACKET capture is Linux only, not %s: %w", runtime.GOOS, ErrNotSupported)
}

// Open returns an error wrapping ErrNotSupported: AF_PACKET is Linux only.
func Open(cfg Config) (*Socket, error) { return nil, notSupported() }

// OpenGroup returns an error wrapping ErrNotSupported: AF_PACKET is Linux only.
func OpenGroup(cfg Config, n int) ([]*Socket, error) { return nil, notSupported() }

// DropPrivileges returns an error wrapping ErrNotSupported here.
func DropPrivileges(username string) error { return notSupported() }

// LinkType is 0: no socket exists on this platform.
func (s *Socket) LinkType() uint16 { return linkTypeUndecided }

// Interface is "".
func (s *Socket) Interface() string { return "" }

// Next returns io.EOF.
func (s *Socket) Next(rec *capture.Record) error { return io.EOF }

// NextTimeout returns ErrClosed.
func (s *Socket) NextTimeout(rec *capture.Record) error { return ErrClosed }

// Stats returns zero counters.
func (s *Socket) Stats() (Stats, error) { return Stats{}, nil }

// Close does nothing.
func (s *Socket) Close() error { return nil }
