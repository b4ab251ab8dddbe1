//go:build !cgo || nondpi

package ndpi

import (
	"errors"
	"fmt"

	"github.com/nfstream-go/nfstream/dpi"
)

// Available reports whether nDPI is compiled into this build: false here
// (no cgo, or -tags nondpi), so New always fails.
const Available = false

// ErrABI is returned by New when the nDPI headers this package was compiled
// against do not describe the installed library. Builds without nDPI never
// return it.
var ErrABI = errors.New("ndpi: the nDPI headers do not match the library (struct ndpi_flow_struct size differs)")

// ErrClosed is returned by NewFlow after Close.
var ErrClosed = errors.New("ndpi: engine is closed")

// Engine is the placeholder of builds without nDPI (no cgo, or the nondpi
// build tag). New never returns one; its methods do nothing.
type Engine struct{}

var _ dpi.Engine = (*Engine)(nil)

// New always fails with an error wrapping dpi.ErrUnavailable in this build.
func New() (*Engine, error) {
	return nil, fmt.Errorf("ndpi: %w", dpi.ErrUnavailable)
}

// NewFlow always fails with an error wrapping dpi.ErrUnavailable.
func (e *Engine) NewFlow() (dpi.Handle, error) {
	return 0, fmt.Errorf("ndpi: %w", dpi.ErrUnavailable)
}

// Process returns nothing detected.
func (e *Engine) Process(dpi.Handle, []byte, uint64) (dpi.Protocol, bool) {
	return dpi.Protocol{}, false
}

// GiveUp returns nothing detected.
func (e *Engine) GiveUp(dpi.Handle) (dpi.Protocol, bool) { return dpi.Protocol{}, false }

// Extract leaves info unchanged.
func (e *Engine) Extract(dpi.Handle, dpi.Protocol, *dpi.Info) {}

// Free does nothing.
func (e *Engine) Free(dpi.Handle) {}

// LiveFlows is always 0.
func (e *Engine) LiveFlows() int { return 0 }

// Close does nothing.
func (e *Engine) Close() error { return nil }
