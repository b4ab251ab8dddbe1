// Package sysvis attributes sockets to the processes that own them: the
// table behind NFStream's system_visibility_mode 1 (behaviour spec 10.2).
//
// A Table keeps, for every inet socket of the host that has a remote
// address, the process (pid, name, cgroup path) that holds it, keyed by
// local and remote address, port and protocol (6 for TCP, 17 for UDP), as
// NFStream's psutil poller does. Entries are refreshed each time the
// socket is seen and dropped Config.Expire after they were last seen
// (NFStream: idle_timeout + 5 s).
//
// On Linux the socket list comes from the kernel's sock_diag netlink
// interface (one dump per poll, polled every few milliseconds since a dump
// costs one round trip), with a subscription to the kernel's socket
// destruction broadcasts, or, when netlink is refused, from
// /proc/net/{tcp,tcp6,udp,udp6}. Sockets are matched to processes through
// the inodes of /proc/PID/fd; an inode→pid cache means a poll only reads
// the fd tables of new processes, or of all processes when a socket inode
// appears that is not known yet. Where they load, eBPF programs on raw
// tracepoints (inet_sock_set_state, sock_send_length, sock_recv_length)
// also report each socket's process when it connects, sends or receives,
// so that connections shorter than a poll are attributed; the poller then
// runs at Config.Poll. Method says which sources are active. Other
// systems return ErrNotSupported.
package sysvis

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNotSupported is returned by Start off Linux.
var ErrNotSupported = errors.New("sysvis: process attribution is only supported on Linux")

// ErrPermission is returned by Start when the process may not read other
// processes' file descriptor tables (it needs root or CAP_SYS_PTRACE).
var ErrPermission = errors.New("sysvis: reading other processes' sockets needs root or CAP_SYS_PTRACE")

// Methods reported by Table.Method.
const (
	// MethodSockDiag: NETLINK_SOCK_DIAG dumps polled fast, plus the
	// kernel's socket destruction broadcasts (destroyed sockets keep
	// their entries fresh and unattributed ones are counted as Missed).
	MethodSockDiag = "sock_diag"
	// MethodSockDiagPoll: NETLINK_SOCK_DIAG dumps polled fast, without
	// destruction events (CAP_NET_ADMIN missing).
	MethodSockDiagPoll = "sock_diag-poll"
	// MethodProcNet: /proc/net/{tcp,tcp6,udp,udp6} polled every Poll.
	MethodProcNet = "procfs-poll"
	// MethodEBPF: eBPF programs on raw tracepoints report each socket's
	// owner at connect, send and receive time. They run alongside one of
	// the pollers above, and Method reports both, joined by "+":
	// "ebpf+sock_diag", "ebpf+sock_diag-poll" or "ebpf+procfs-poll".
	// As Config.Method, "ebpf" requires the programs with the best
	// poller, "ebpf+POLLER" a given one.
	MethodEBPF = "ebpf"
)

// Process is the owner of a socket.
type Process struct {
	PID    int64  // system_process_pid
	Name   string // system_process_name: the command name, as psutil's Process.name()
	Cgroup string // the process's cgroup path (the v2 path, else the first non-root v1 path)
}

// Config configures a Table.
type Config struct {
	// Poll is the period of the socket table poll (NFStream's
	// system_visibility_poll_ms). 0 means 100 ms. Without the eBPF
	// programs, the sock_diag methods poll at least every FastPoll.
	Poll time.Duration
	// FastPoll caps the period of the sock_diag methods; 0 means 5 ms.
	FastPoll time.Duration
	// Expire drops an entry this long after its socket was last seen
	// (NFStream: idle_timeout + 5 s). 0 means 125 s.
	Expire time.Duration
	// Method forces a method ("" picks the best available: ebpf, when
	// the programs load, plus the best poller). Start fails when a forced
	// method is not available.
	Method string
	// Proc is the procfs mount; "" means /proc.
	Proc string
}

// Stats are a Table's counters, cumulative since Start.
type Stats struct {
	Polls     uint64 // socket table polls
	FdScans   uint64 // /proc/PID/fd directories read
	Entries   int    // entries in the table now
	Destroyed uint64 // destruction events received (sock_diag method)
	Missed    uint64 // destroyed sockets that were never attributed
	// Events counts the socket events received from the eBPF programs,
	// EventsLost those they could not queue (ring buffer full).
	Events, EventsLost uint64
	// Period is the current poll period: Config.FastPoll (sock_diag) or
	// Config.Poll, stretched to five times a listing's cost (at most
	// 20 ms, unless a listing takes over 10 ms), at most Poll.
	Period time.Duration
}

// Key identifies a socket as seen from its host: local and remote
// address and port, and protocol 6 or 17. IPv4-mapped IPv6 addresses are
// stored unmapped (NFStream keeps them mapped, so that dual-stack sockets
// never match IPv4 flows there).
type Key struct {
	Local, Remote netip.AddrPort
	Protocol      uint8
}

func makeKey(local, remote netip.AddrPort, proto uint8) Key {
	return Key{
		Local:    netip.AddrPortFrom(local.Addr().Unmap(), local.Port()),
		Remote:   netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port()),
		Protocol: proto,
	}
}

type entry struct {
	proc Process
	last time.Time
}

// table is the shared key → process map, common to every method.
type table struct {
	mu    sync.RWMutex
	conns map[Key]*entry
	// bound holds UDP sockets without a remote address (servers and
	// unconnected clients), by local address and port: a fallback NFStream
	// does not have (it ignores such sockets).
	bound map[netip.AddrPort]*entry
}

func newTable() table {
	return table{conns: make(map[Key]*entry), bound: make(map[netip.AddrPort]*entry)}
}

// Lookup returns the process owning the flow from src to dst with the
// given IP protocol. The socket whose local end is src (the flow's
// initiator) is preferred, then the one whose local end is dst; for UDP, a
// socket bound to src's or dst's port without a remote address is the last
// resort. Safe for concurrent use.
func (t *Table) Lookup(src, dst netip.AddrPort, proto uint8) (Process, bool) {
	if proto != 6 && proto != 17 {
		return Process{}, false
	}
	k := makeKey(src, dst, proto)
	t.t.mu.RLock()
	defer t.t.mu.RUnlock()
	if e, ok := t.t.conns[k]; ok {
		return e.proc, true
	}
	if e, ok := t.t.conns[Key{Local: k.Remote, Remote: k.Local, Protocol: proto}]; ok {
		return e.proc, true
	}
	if proto == 17 {
		for _, ap := range []netip.AddrPort{k.Local, k.Remote} {
			if e, ok := t.t.bound[ap]; ok {
				return e.proc, true
			}
			un := netip.IPv4Unspecified()
			if ap.Addr().Is6() {
				un = netip.IPv6Unspecified()
			}
			if e, ok := t.t.bound[netip.AddrPortFrom(un, ap.Port())]; ok {
				return e.proc, true
			}
		}
	}
	return Process{}, false
}

// expire drops entries last seen before cutoff.
func (t *table) expire(cutoff time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, e := range t.conns {
		if e.last.Before(cutoff) {
			delete(t.conns, k)
		}
	}
	for k, e := range t.bound {
		if e.last.Before(cutoff) {
			delete(t.bound, k)
		}
	}
}

func (t *table) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.conns) + len(t.bound)
}

// Table is a live socket → process table, kept up to date by a goroutine
// of its own until Close. Lookup, Method, Stats and Close may be called
// from any goroutine.
type Table struct {
	t      table
	method string
	stats  counters
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	// ebpf is the eBPF event source, nil when it does not run; ebpfErr
	// says why.
	ebpf    *ebpfSource
	ebpfErr error
}

// EBPFError returns nil when the eBPF programs run (Method starts with
// "ebpf+"), else why not: the load or attach error (missing privilege,
// no BTF, an old kernel), or an error saying Config.Method chose a method
// without them.
func (t *Table) EBPFError() error { return t.ebpfErr }

// Method names the active attribution method (one of the Method*
// constants), for the performance report.
func (t *Table) Method() string { return t.method }

// Stats returns the table's counters.
func (t *Table) Stats() Stats {
	return Stats{
		Polls:      t.stats.polls.Load(),
		FdScans:    t.stats.fdScans.Load(),
		Entries:    t.t.len(),
		Destroyed:  t.stats.destroyed.Load(),
		Missed:     t.stats.missed.Load(),
		Events:     t.stats.events.Load(),
		EventsLost: t.lostEvents(),
		Period:     time.Duration(t.stats.period.Load()),
	}
}

// Close stops the poller and the eBPF programs and waits for them. The
// table keeps answering Lookup with what it knew.
func (t *Table) Close() error {
	t.once.Do(func() { close(t.stop) })
	<-t.done
	t.closeEBPF()
	return nil
}

type counters struct {
	polls, fdScans, destroyed, missed, events atomic.Uint64
	period                                    atomic.Int64
}

func (c *Config) defaults() {
	if c.Poll <= 0 {
		c.Poll = 100 * time.Millisecond
	}
	if c.FastPoll <= 0 {
		c.FastPoll = 5 * time.Millisecond
	}
	if c.Expire <= 0 {
		c.Expire = 125 * time.Second
	}
	if c.Proc == "" {
		c.Proc = "/proc"
	}
}

// Check reports whether Start can work here: ErrNotSupported off Linux,
// ErrPermission without root or CAP_SYS_PTRACE, else nil.
func Check() error { return check() }
