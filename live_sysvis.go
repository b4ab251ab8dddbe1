package nfstream

import (
	"net/netip"
	"time"

	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/sysvis"
)

// System visibility (system_visibility_mode 1, behaviour spec 10.2): a
// live iteration keeps a sysvis.Table of the host's sockets and, when a
// flow reaches the consumer (where ids are assigned), looks its key up and
// fills Flow.System, which the system_process_pid, system_process_name
// and system_process_cgroup columns read.

// offlineSystemWarning is NFStream's warning when a single file is read
// with system_visibility_mode 1.
const offlineSystemWarning = "WARNING: system_visibility_mode switched to 0 in offline capture (available only for live capture)"

// offlineSystemVisibility applies NFStream's offline rule (spec 2.2): with
// one source, mode 1 becomes 0 with a warning (returned, for
// Streamer.Warnings); with several, the mode is kept and the columns appear with their
// defaults (-1, ""). It returns whether the columns are present.
func offlineSystemVisibility(opts *Options, sources int) (columns bool, warning string) {
	if opts.SystemVisibilityMode != 1 {
		return false, ""
	}
	if sources == 1 {
		opts.SystemVisibilityMode = 0
		return false, offlineSystemWarning
	}
	return true, ""
}

// checkSystemVisibility refuses system_visibility_mode 1 where the table
// cannot work: off Linux, without the privilege to read other processes'
// descriptors, or with LiveOptions.User (the privileges would be dropped
// under the poller).
func checkSystemVisibility(opts *Options, live *LiveOptions) error {
	if opts.SystemVisibilityMode != 1 {
		return nil
	}
	if err := sysvis.Check(); err != nil {
		return &OptionError{Name: "system_visibility_mode", Value: 1, Want: "0 here: " + err.Error()}
	}
	if live.User != "" {
		return &OptionError{Name: "system_visibility_mode", Value: 1, Want: "0 when the capture drops privileges (LiveOptions.User): reading other processes' sockets needs them"}
	}
	return nil
}

// startSystemVisibility starts the iteration's socket table; nil when the
// mode is off.
func (s *LiveStreamer) startSystemVisibility() (*sysvis.Table, error) {
	if s.opts.SystemVisibilityMode != 1 {
		return nil, nil
	}
	t, err := sysvis.Start(sysvis.Config{
		// 0 is NFStream's busy loop; 1 ms here.
		Poll:   max(time.Millisecond, time.Duration(s.opts.SystemVisibilityPollMs)*time.Millisecond),
		Expire: s.opts.IdleTimeout + 5*time.Second,
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.sysMethod = t.Method()
	s.mu.Unlock()
	return t, nil
}

// SystemVisibilityMethod names the attribution method of the current (or
// last) iteration (a sysvis.Method* constant, or "ebpf+" and one when the
// eBPF programs run: "ebpf+sock_diag"), "" when the mode is off or
// nothing ran yet.
func (s *LiveStreamer) SystemVisibilityMethod() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sysMethod
}

// attachProcess fills f.System from the table, leaving it nil (-1, "")
// when no socket matches.
func attachProcess(t *sysvis.Table, f *Flow) {
	if p, ok := t.Lookup(netip.AddrPortFrom(f.SrcIP, f.SrcPort), netip.AddrPortFrom(f.DstIP, f.DstPort), f.Protocol); ok {
		f.System = &flow.SystemProcess{PID: p.PID, Name: p.Name, Cgroup: p.Cgroup}
	}
}
