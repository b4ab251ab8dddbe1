// Package afpacket captures live traffic on Linux with AF_PACKET sockets and
// TPACKET_V3 memory-mapped rings, the mechanism libpcap (and so NFStream)
// uses, without libpcap.
//
// A Socket is bound to one interface and delivers capture.Records, so it is
// a capture.Source. Several sockets can share a kernel fanout group
// (PACKET_FANOUT_HASH with PACKET_FANOUT_FLAG_DEFRAG, NFStream's mode 0x8000):
// the kernel then gives each flow's packets, both directions, to the same
// socket, after reassembling IPv4 fragments, so that N meters can each own a
// share of the flows. OpenGroup opens such a group.
//
// What NFStream's live parameters become:
//
//   - snapshot_length: Config.SnapshotLength. The kernel truncates packets
//     to it (the socket filter returns it) and records are clamped to it, as
//     libpcap does.
//   - promiscuous_mode: Config.Promiscuous, a PACKET_MR_PROMISC membership
//     the kernel removes when the socket closes.
//   - socket_buffer_size: Config.RingSize, the size of the ring (0: libpcap's
//     default, 2 MiB per socket).
//   - bpf_filter: Config.Filter, compiled by libpcap for the interface's
//     link type (package filter) and attached to the socket, so rejected
//     packets never reach user space and are not counted. A filter decides
//     exactly as it would on a capture file of the same traffic: frames
//     whose VLAN tag the kernel has taken out of the frame pass the socket's
//     program and are filtered in user space once the tag is back (so "vlan
//     10" works, and "tcp" does not match tagged frames, as in a file;
//     libpcap instead runs expressions without "vlan" on the untagged
//     frame), and on cooked interfaces the whole filter runs in user space,
//     since it reads the pseudo-header. Stats.Filtered counts those
//     user-space rejections.
//
// Link types follow the interface's hardware type as libpcap maps it:
// Ethernet and loopback interfaces give DLT_EN10MB (1), interfaces without a
// link-layer header (tun, WireGuard, IP-in-IP, SIT: ARPHRD_NONE, RAWIP,
// TUNNEL, TUNNEL6, SIT) give DLT_RAW (12), 802.11 monitor interfaces give
// DLT_IEEE802_11_RADIO (127), and every other type is captured in "cooked"
// mode as DLT_LINUX_SLL (113), with libpcap's 16-byte pseudo-header. As
// libpcap does, VLAN tags the kernel has moved out of the frame are put back
// in (so vlan_id is right), and packets sent on the loopback interface are
// seen once (its outgoing copies are skipped).
//
// Reading is zero-copy and allocation-free: a Record's Data points into the
// ring. The kernel fills the ring block by block; a block is handed back to
// the kernel when the reader moves past its last packet, that is, on the
// call to Next or NextTimeout after the one that returned that packet. So
// Record.Data is valid until the next call to Next, NextTimeout or Close.
// While the reader holds a block, the kernel fills the others; when none is
// free it drops packets and counts them (Stats).
//
// The kernel delivers a block when it is full or when it has waited
// Config.BlockTimeout for more packets. NextTimeout returns ErrTimeout after
// Config.PollTimeout without a block, so a caller regains control at least
// that often on a quiet interface (live meters use it to expire idle flows on
// the wall clock).
//
// Privileges: opening needs CAP_NET_RAW (root has it). Nothing else is
// needed once the sockets are open; DropPrivileges gives everything else up.
// To run without root, give the binary the capability:
//
//	sudo setcap cap_net_raw+eip ./nfstream
//
// (libpcap documentation also asks for cap_net_admin; these sockets do not
// need it.)
//
// The package builds on every platform; elsewhere than Linux, Open and
// OpenGroup return an error wrapping ErrNotSupported.
package afpacket

import (
	"errors"
	"fmt"
	"time"
)

// Defaults used for zero Config fields.
const (
	// DefaultRingSize is libpcap's default buffer size on Linux.
	DefaultRingSize = 2 << 20
	// MaxSnapLen is the snapshot length used when Config.SnapshotLength is 0.
	MaxSnapLen = 262144
	// DefaultPollTimeout bounds how long NextTimeout waits for packets.
	DefaultPollTimeout = 100 * time.Millisecond
	// DefaultBlockTimeout is how long the kernel keeps a block that is not
	// full before handing it over.
	DefaultBlockTimeout = 10 * time.Millisecond
)

// Link types (DLT_ values) a Socket may report.
const (
	LinkTypeEthernet  = 1
	LinkTypeRaw       = 12
	LinkTypeLinuxSLL  = 113
	LinkTypeRadiotap  = 127
	linkTypeUndecided = 0
)

// ErrNotSupported is returned on platforms without AF_PACKET, and by
// DropPrivileges for what the build cannot do.
var ErrNotSupported = errors.New("afpacket: not supported")

// ErrTimeout is returned by NextTimeout when no packet arrived within the
// poll timeout. It is not a failure: call NextTimeout again.
var ErrTimeout = errors.New("afpacket: no packet before the poll timeout")

// ErrClosed is returned by NextTimeout after Close. (Next returns io.EOF,
// as a capture.Source does at the end of its input.)
var ErrClosed = errors.New("afpacket: socket closed")

// Config describes one capture socket. The zero value captures everything
// on Interface with libpcap's defaults, not in promiscuous mode.
type Config struct {
	// Interface is the name of the network interface ("eth0", "lo").
	Interface string
	// Namespace, when not empty, is the path of the network namespace the
	// interface lives in (/run/netns/NAME, /proc/PID/ns/net). Opening then
	// also needs CAP_SYS_ADMIN; the sockets work from any thread afterwards.
	Namespace string
	// SnapshotLength is the number of bytes kept of each packet; 0 means
	// MaxSnapLen. NFStream's default is 1536.
	SnapshotLength int
	// Promiscuous puts the interface in promiscuous mode for as long as the
	// socket is open.
	Promiscuous bool
	// RingSize is the size of the ring in bytes (NFStream's
	// socket_buffer_size); 0 means DefaultRingSize. It is rounded to whole
	// blocks, at least two.
	RingSize int
	// Filter is a libpcap filter expression; "" keeps every packet. It
	// needs a build with cgo (libpcap compiles it); see the package comment
	// for where it runs.
	Filter string
	// Fanout, with FanoutGroup, joins the socket to that kernel fanout group
	// in hash mode with defragmentation (see the package comment). OpenGroup
	// sets both.
	Fanout      bool
	FanoutGroup uint16
	// PollTimeout is how long NextTimeout waits for a packet; 0 means
	// DefaultPollTimeout. At least 1 ms.
	PollTimeout time.Duration
	// BlockTimeout is how long the kernel waits before handing over a block
	// that is not full; 0 means DefaultBlockTimeout. At least 1 ms. It
	// bounds the delay between a packet's arrival and its delivery at low
	// rates.
	BlockTimeout time.Duration
}

// Validate reports what is wrong with the configuration, all problems
// joined, or nil.
func (c *Config) Validate() error {
	var errs []error
	if c.Interface == "" {
		errs = append(errs, errors.New("afpacket: no interface given"))
	}
	if c.SnapshotLength < 0 {
		errs = append(errs, fmt.Errorf("afpacket: snapshot length %d is negative", c.SnapshotLength))
	}
	if c.RingSize < 0 {
		errs = append(errs, fmt.Errorf("afpacket: ring size %d is negative", c.RingSize))
	}
	if c.PollTimeout < 0 || (c.PollTimeout > 0 && c.PollTimeout < time.Millisecond) {
		errs = append(errs, fmt.Errorf("afpacket: poll timeout %v: want 0 (default) or at least 1ms", c.PollTimeout))
	}
	if c.BlockTimeout < 0 || (c.BlockTimeout > 0 && c.BlockTimeout < time.Millisecond) {
		errs = append(errs, fmt.Errorf("afpacket: block timeout %v: want 0 (default) or at least 1ms", c.BlockTimeout))
	}
	return errors.Join(errs...)
}

func (c *Config) snaplen() int {
	if c.SnapshotLength == 0 {
		return MaxSnapLen
	}
	return c.SnapshotLength
}

func (c *Config) ringSize() int {
	if c.RingSize == 0 {
		return DefaultRingSize
	}
	return c.RingSize
}

func (c *Config) pollTimeout() time.Duration {
	if c.PollTimeout == 0 {
		return DefaultPollTimeout
	}
	return c.PollTimeout
}

func (c *Config) blockTimeout() time.Duration {
	if c.BlockTimeout == 0 {
		return DefaultBlockTimeout
	}
	return c.BlockTimeout
}

// Stats are a socket's counters since it was opened.
type Stats struct {
	// Packets is the number of packets the socket accepted (they passed the
	// filter), those dropped included: the kernel's tp_packets, libpcap's
	// ps_recv.
	Packets uint64
	// Drops is the number of accepted packets lost because the ring was
	// full: the kernel's tp_drops, libpcap's ps_drop (NFStream's
	// packets_dropped_filtered_by_kernel).
	Drops uint64
	// Freezes counts the times the ring was full (TPACKET_V3's
	// tp_freeze_q_cnt).
	Freezes uint64
	// Filtered counts packets the kernel delivered but the filter rejected
	// in user space (on cooked interfaces, and VLAN-tagged frames: see the
	// package comment). They are included in Packets.
	Filtered uint64
}

// Add returns the sum of two Stats.
func (s Stats) Add(o Stats) Stats {
	return Stats{Packets: s.Packets + o.Packets, Drops: s.Drops + o.Drops, Freezes: s.Freezes + o.Freezes, Filtered: s.Filtered + o.Filtered}
}
