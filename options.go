package nfstream

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"time"

	"github.com/nfstream-go/nfstream/dpi/ndpi"
	"github.com/nfstream-go/nfstream/flow"
)

// Options are NFStreamer's parameters. Start from DefaultOptions: the zero
// value is not NFStream's defaults (false and 0 are meaningful values).
//
// Parameters that only matter for live capture (PromiscuousMode,
// SnapshotLength, SocketBufferSize, PerformanceReport, SystemVisibility*) are
// validated but have no effect on files, as in NFStream.
type Options struct {
	// DecodeTunnels decapsulates GTP-U, TZSP and CAPWAP and adds the
	// tunnel_id column. IP-in-IP is always decapsulated. Default true.
	DecodeTunnels bool
	// BPFFilter is a libpcap filter expression; "" means none.
	BPFFilter string
	// PromiscuousMode (live capture). Default true.
	PromiscuousMode bool
	// SnapshotLength in bytes (live capture), > 0. Default 1536.
	SnapshotLength int
	// SocketBufferSize in bytes (live capture), 0 for the system default,
	// at most 2^31-1. Default 0.
	SocketBufferSize int
	// IdleTimeout ends a flow after this much packet time without packets.
	// NFStream takes whole seconds; any non-negative duration is accepted
	// here and used at millisecond resolution. Default 120 s.
	IdleTimeout time.Duration
	// ActiveTimeout ends a flow that lasts longer than this. Default 1800 s.
	ActiveTimeout time.Duration
	// AccountingMode chooses the size counted per packet: 0 link layer (wire
	// length), 1 IP, 2 transport, 3 payload. Default 0.
	AccountingMode int
	// NDissections is how many packets per flow go to nDPI, 0 to 255; 0
	// turns DPI off and removes the application columns. Default 20.
	NDissections int
	// StatisticalAnalysis adds the 48 statistical columns. Default false.
	StatisticalAnalysis bool
	// SPLTAnalysis is the length of the early-packet sequences, 0 to 65535;
	// 0 disables them. Default 0.
	SPLTAnalysis int
	// NMeters is the number of meters (flow caches metering in parallel,
	// each with its own nDPI engine and plugin instances); 0 picks a count
	// for the CPUs the process may use (one per CPU with DPI or plugins,
	// one less without; at most 8). Any count gives the same flows,
	// in the same order, with the same ids as one meter (application
	// labels aside: each meter's nDPI has its own caches). More than one
	// meter needs plugins that implement flow.Cloner. Default 0.
	NMeters int
	// MaxNFlows stops after this many flows; 0 means no limit.
	MaxNFlows int
	// MaxTrackedFlows caps the flows held in memory at once (and with them
	// nDPI's flow states) against floods; our addition, 0 (the default,
	// as NFStream) means no cap. When a packet would create one flow too
	// many, the least recently seen flow is ended early and emitted with
	// expiration_id 2 (Counters.Evicted). With several meters each holds
	// at most MaxTrackedFlows / n_meters flows (at least 1).
	MaxTrackedFlows int
	// PerformanceReport is the live performance report period in seconds,
	// 0 for none.
	PerformanceReport int
	// SystemVisibilityMode 1 attributes live flows to processes; 0 or 1.
	SystemVisibilityMode int
	// SystemVisibilityPollMs is the socket table poll period in ms, >= 0.
	// Default 100.
	SystemVisibilityPollMs int
	// Plugins add user-defined features (NFStream's udps), called in order.
	// Each value must be a distinct instance; nil entries are refused.
	Plugins []flow.Plugin
}

// DefaultOptions returns NFStreamer's defaults.
func DefaultOptions() Options {
	return Options{
		DecodeTunnels:          true,
		PromiscuousMode:        true,
		SnapshotLength:         1536,
		IdleTimeout:            120 * time.Second,
		ActiveTimeout:          1800 * time.Second,
		NDissections:           20,
		SystemVisibilityPollMs: 100,
	}
}

// ErrInvalidOption is wrapped by every error Validate returns.
var ErrInvalidOption = errors.New("invalid option")

// OptionError names one invalid parameter.
type OptionError struct {
	Name  string // NFStream's parameter name, e.g. "idle_timeout"
	Value any    // the value given
	Want  string // what is allowed
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("%s: %v is not valid: %s", e.Name, e.Value, e.Want)
}

func (e *OptionError) Unwrap() error { return ErrInvalidOption }

// Validate checks every parameter and returns all problems joined (nil when
// the options are valid). Each problem is an *OptionError.
func (o *Options) Validate() error {
	var errs []error
	bad := func(name string, v any, want string) {
		errs = append(errs, &OptionError{Name: name, Value: v, Want: want})
	}
	if o.SnapshotLength <= 0 {
		bad("snapshot_length", o.SnapshotLength, "must be a positive number of bytes")
	}
	if o.SocketBufferSize < 0 || o.SocketBufferSize > math.MaxInt32 {
		bad("socket_buffer_size", o.SocketBufferSize, "must be between 0 (system default) and 2147483647 bytes")
	}
	if o.IdleTimeout < 0 {
		bad("idle_timeout", o.IdleTimeout, "must not be negative")
	}
	if o.ActiveTimeout < 0 {
		bad("active_timeout", o.ActiveTimeout, "must not be negative")
	}
	if o.AccountingMode < 0 || o.AccountingMode > 3 {
		bad("accounting_mode", o.AccountingMode, "must be 0 (link layer), 1 (IP), 2 (transport) or 3 (payload)")
	}
	if o.NDissections < 0 || o.NDissections > 255 {
		bad("n_dissections", o.NDissections, "must be between 0 (no DPI) and 255")
	}
	if o.SPLTAnalysis < 0 || o.SPLTAnalysis > 65535 {
		bad("splt_analysis", o.SPLTAnalysis, "must be between 0 (off) and 65535")
	}
	if o.NMeters < 0 {
		bad("n_meters", o.NMeters, "must be 0 (automatic) or a positive number of meters")
	}
	if o.MaxNFlows < 0 {
		bad("max_nflows", o.MaxNFlows, "must be 0 (no limit) or a positive number of flows")
	}
	if o.MaxTrackedFlows < 0 {
		bad("max_tracked_flows", o.MaxTrackedFlows, "must be 0 (no cap) or a positive number of flows")
	}
	if o.PerformanceReport < 0 {
		bad("performance_report", o.PerformanceReport, "must be 0 (off) or a positive number of seconds")
	}
	if o.SystemVisibilityMode != 0 && o.SystemVisibilityMode != 1 {
		bad("system_visibility_mode", o.SystemVisibilityMode, "must be 0 (off) or 1 (process information, live capture only)")
	}
	for i, p := range o.Plugins {
		if p == nil {
			bad("udps", fmt.Sprintf("plugin %d is nil", i), "every plugin must be a non-nil flow.Plugin")
		}
	}
	if o.SystemVisibilityPollMs < 0 {
		bad("system_visibility_poll_ms", o.SystemVisibilityPollMs, "must be a non-negative number of milliseconds")
	}
	return errors.Join(errs...)
}

// maxAutoMeters caps the automatic n_meters: past it, the single reader
// and the merge, not the meters, bound the speed.
const maxAutoMeters = 8

// meters resolves NMeters (NFStream's n_meters).
//
// An explicit value is used as given, even above the number of CPUs (the
// meters then share them; NFStream would lower it to cores - 1). With more
// than one meter, every plugin must implement flow.Cloner, since each meter
// needs its own instance; otherwise it is an error naming n_meters and the
// plugin.
//
// 0 picks a count from the CPUs the process may use, cpus =
// runtime.GOMAXPROCS(0) (its affinity mask and cgroup CPU limit): with nDPI
// or plugins, whose work is in the meters, one meter per CPU; without
// them, where reading and decoding weigh as much as metering, cpus - 1,
// leaving a CPU to the reader and the merge; at least 1, at most 8. One
// exception, for files (singleAsync): with nDPI, no plugins and at most 2
// CPUs it is 1, because a single meter then runs nDPI on a goroutine of its
// own and keeps both CPUs busy by itself (as fast as 2 meters on the benchmark capture, with
// NFStream's labels exactly and less memory; docs/performance.md). On a
// 2-CPU machine without DPI it is 1 (2 are barely faster and use 50% more
// CPU; docs/sharding.md). It is 1 when a plugin is not a flow.Cloner.
func (o *Options) meters(singleAsync bool) (int, error) {
	for i, p := range o.Plugins {
		if _, ok := p.(flow.Cloner); ok {
			continue
		}
		if o.NMeters > 1 {
			return 0, &OptionError{Name: "n_meters", Value: o.NMeters,
				Want: fmt.Sprintf("plugin %d (%T) cannot run in several meters because it has no Clone method (flow.Cloner); use n_meters 1, or 0 to let the streamer choose", i, p)}
		}
		return 1, nil
	}
	if o.NMeters > 0 {
		return o.NMeters, nil
	}
	cpus := runtime.GOMAXPROCS(0)
	dpiOn := o.NDissections > 0 && ndpi.Available
	switch {
	case !dpiOn && len(o.Plugins) == 0:
		cpus--
	case singleAsync && dpiOn && len(o.Plugins) == 0 && cpus <= 2:
		cpus = 1
	}
	return max(1, min(cpus, maxAutoMeters)), nil
}
