//go:build linux

package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nfstream-go/nfstream/capture"
	"github.com/nfstream-go/nfstream/filter"
)

// Kernel layout of the ring (linux/if_packet.h), TPACKET_V3.
const (
	// struct tpacket_block_desc: version, offset_to_priv, then
	// struct tpacket_hdr_v1.
	blockStatusOff   = 8
	blockNumPktsOff  = 12
	blockFirstPktOff = 16
	blockHeaderLen   = 48

	// struct tpacket3_hdr is 48 bytes; struct sockaddr_ll follows it at
	// TPACKET_ALIGN(sizeof(struct tpacket3_hdr)) = 48.
	tpHdrLen  = 48
	sllOff    = 48
	sllLen    = 20
	tpHdrSize = sllOff + sllLen // TPACKET3_HDRLEN = 68

	vlanTagLen   = 4
	sllHeaderLen = 16 // libpcap's DLT_LINUX_SLL pseudo-header

	// Ancillary load of the classic-BPF kernel dialect: is a VLAN tag held
	// outside the frame (SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT)?
	skfAdVlanTagPresent = 0xfffff000 + 48
)

// tpacket3Hdr is struct tpacket3_hdr.
type tpacket3Hdr struct {
	nextOffset uint32
	sec        uint32
	nsec       uint32
	snaplen    uint32
	len        uint32
	status     uint32
	mac        uint16
	net        uint16
	rxhash     uint32
	vlanTCI    uint32
	vlanTPID   uint16
	_          uint16
	_          [8]byte
}

// htons converts to network byte order, as the kernel wants protocol
// numbers in struct sockaddr_ll.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// Socket is one AF_PACKET capture socket with its ring.
//
// Next and NextTimeout must be called by one goroutine at a time. Stats,
// LinkType, Interface and Close may be called from any goroutine, also
// while a Next is in progress; Close then waits for it to return, which
// takes at most the poll timeout.
type Socket struct {
	name     string
	linkType uint16
	cooked   bool // DLT_LINUX_SLL: pseudo-header built from sockaddr_ll
	loopback bool // skip PACKET_OUTGOING copies
	snaplen  int
	pollMs   int
	blockTO  time.Duration

	// ufilter is run in user space on cooked records, and on frames whose
	// VLAN tag the kernel had removed (the kernel program lets those pass).
	ufilter *filter.Filter
	kprog   []unix.SockFilter // the program attached to the socket

	mu        sync.Mutex // held by Next and NextTimeout; Close takes it
	closed    atomic.Bool
	fd        int
	ring      []byte
	blockSize int
	blockNr   int
	cur       int  // index of the block being read, or next to be read
	held      bool // cur is ours (TP_STATUS_USER) and must be returned
	left      int  // packets of cur not yet read
	off       int  // offset in ring of the next packet of cur
	number    uint64
	filtered  atomic.Uint64
	pfd       [1]unix.PollFd

	statsMu sync.Mutex // guards total and the use of fd by Stats
	total   Stats
	statsFD int // fd for Stats; -1 once closed
}

var _ capture.Source = (*Socket)(nil)

// Open opens a capture socket as described by cfg. The socket is capturing
// when Open returns.
func Open(cfg Config) (*Socket, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := open(&cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Fanout {
		if _, err := s.joinFanout(cfg.FanoutGroup, false); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.start(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// fanoutCounter makes the fallback group ids of one process distinct, as
// NFStream's streamer instance counter does.
var fanoutCounter atomic.Uint32

// OpenGroup opens n sockets on cfg.Interface in one new fanout group, so
// that the kernel shares the packets among them by flow (cfg.Fanout and
// cfg.FanoutGroup are ignored). The group id is chosen by the kernel
// (PACKET_FANOUT_FLAG_UNIQUEID, Linux 4.3 and later), so that no other
// capture on the host joins it by accident; on older kernels it is derived
// from the process id as NFStream does. No socket captures anything until
// all have joined, so no packet is seen twice; while the sockets are started
// one after the other (microseconds), the share of those not started yet
// is not captured.
func OpenGroup(cfg Config, n int) ([]*Socket, error) {
	if n < 1 {
		return nil, fmt.Errorf("afpacket: group of %d sockets: want at least 1", n)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	socks := make([]*Socket, 0, n)
	fail := func(err error) ([]*Socket, error) {
		for _, s := range socks {
			s.Close()
		}
		return nil, err
	}
	var group uint16
	for i := range n {
		s, err := open(&cfg)
		if err != nil {
			return fail(err)
		}
		socks = append(socks, s)
		if i == 0 {
			group, err = s.joinFanout(0, true)
			if err != nil {
				// An old kernel without unique ids: NFStream's choice.
				id := uint16(os.Getpid()) + uint16(fanoutCounter.Add(1))
				group, err = s.joinFanout(id, false)
			}
		} else {
			_, err = s.joinFanout(group, false)
		}
		if err != nil {
			return fail(err)
		}
	}
	for _, s := range socks {
		if err := s.start(); err != nil {
			return fail(err)
		}
	}
	return socks, nil
}

// open creates the socket, its ring and its binding, with a filter that
// rejects everything: the socket captures nothing until start.
func open(cfg *Config) (s *Socket, err error) {
	s = &Socket{name: cfg.Interface, snaplen: cfg.snaplen(), fd: -1, statsFD: -1, blockTO: cfg.blockTimeout()}
	s.pollMs = int(cfg.pollTimeout() / time.Millisecond)
	defer func() {
		if err != nil {
			s.Close()
			err = fmt.Errorf("afpacket %s: %w", cfg.Interface, err)
		}
	}()
	sockType := unix.SOCK_RAW
	var ifindex int
	var hwtype uint16
	create := func() error {
		// Protocol 0: nothing is queued until bind names one.
		fd, err := unix.Socket(unix.AF_PACKET, sockType|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		s.fd = fd
		ifr, err := unix.NewIfreq(cfg.Interface)
		if err != nil {
			return err
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
			if errors.Is(err, unix.ENODEV) {
				return fmt.Errorf("no such interface: %w", err)
			}
			return fmt.Errorf("interface index: %w", err)
		}
		ifindex = int(ifr.Uint32())
		ifr, _ = unix.NewIfreq(cfg.Interface)
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
			return fmt.Errorf("interface type: %w", err)
		}
		hwtype = ifr.Uint16()
		return nil
	}
	if err := inNamespace(cfg.Namespace, create); err != nil {
		return s, err
	}
	switch hwtype {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
		s.linkType = LinkTypeEthernet
		s.loopback = hwtype == unix.ARPHRD_LOOPBACK
	case unix.ARPHRD_NONE, unix.ARPHRD_RAWIP, unix.ARPHRD_TUNNEL, unix.ARPHRD_TUNNEL6, unix.ARPHRD_SIT:
		s.linkType = LinkTypeRaw
	case unix.ARPHRD_IEEE80211_RADIOTAP:
		s.linkType = LinkTypeRadiotap
	default:
		// Unknown link-layer header: capture from the network header and
		// describe the link with libpcap's cooked pseudo-header.
		s.linkType = LinkTypeLinuxSLL
		s.cooked = true
		unix.Close(s.fd)
		s.fd = -1
		sockType = unix.SOCK_DGRAM
		if err := inNamespace(cfg.Namespace, create); err != nil {
			return s, err
		}
	}
	if err := s.compileFilter(cfg.Filter); err != nil {
		return s, err
	}
	fd := s.fd
	if err := attach(fd, []unix.SockFilter{{Code: 0x06, K: 0}}); err != nil { // ret #0
		return s, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return s, fmt.Errorf("TPACKET_V3 (Linux 3.2 or later needed): %w", err)
	}
	// Room before each frame to put a VLAN tag back in.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_RESERVE, vlanTagLen); err != nil {
		return s, fmt.Errorf("PACKET_RESERVE: %w", err)
	}
	if err := s.setupRing(cfg); err != nil {
		return s, err
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return s, fmt.Errorf("bind: %w", err)
	}
	if cfg.Promiscuous {
		mreq := &unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mreq); err != nil {
			return s, fmt.Errorf("promiscuous mode: %w", err)
		}
	}
	s.pfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN | unix.POLLERR}
	s.statsFD = fd
	return s, nil
}

// compileFilter prepares the kernel program and, where the kernel cannot
// decide alone, the user-space one.
func (s *Socket) compileFilter(expr string) error {
	ret := unix.SockFilter{Code: 0x06, K: uint32(s.snaplen)} // ret #snaplen
	if expr == "" {
		s.kprog = []unix.SockFilter{ret}
		return nil
	}
	f, err := filter.Compile(expr, s.linkType, s.snaplen)
	if err != nil {
		return err
	}
	s.ufilter = f
	if s.cooked {
		// The program reads libpcap's pseudo-header, which only exists in
		// user space: filter there.
		s.kprog = []unix.SockFilter{ret}
		return nil
	}
	// Frames whose VLAN tag the kernel holds aside are accepted here and
	// decided in user space once the tag is back; the others are decided
	// by the program itself.
	prog := f.Instructions()
	if len(prog) > 4096-3 {
		return fmt.Errorf("filter %q: program of %d instructions is too long for the kernel", expr, len(prog))
	}
	k := make([]unix.SockFilter, 0, len(prog)+3)
	k = append(k,
		unix.SockFilter{Code: 0x20, K: skfAdVlanTagPresent}, // ld vlan_avail
		unix.SockFilter{Code: 0x15, Jt: 1, Jf: 0, K: 0},     // jeq #0, program, accept
		ret,
	)
	for _, in := range prog {
		k = append(k, unix.SockFilter{Code: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K})
	}
	s.kprog = k
	return nil
}

func attach(fd int, prog []unix.SockFilter) error {
	fp := &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, fp); err != nil {
		return fmt.Errorf("attaching the filter: %w", err)
	}
	runtime.KeepAlive(prog)
	return nil
}

// setupRing sizes and maps the TPACKET_V3 ring.
func (s *Socket) setupRing(cfg *Config) error {
	// The largest frame: headers, the room PACKET_RESERVE keeps, the
	// cooked pseudo-header and the snapshot.
	frame := align16(align16(tpHdrSize) + sllHeaderLen + vlanTagLen + s.snaplen)
	page := os.Getpagesize()
	ring := cfg.ringSize()
	block := page
	for block < frame || block < ring/32 {
		block <<= 1
	}
	const maxBlock = 4 << 20
	for block > maxBlock && block/2 >= frame && block/2 >= page {
		block >>= 1
	}
	nr := max(2, ring/block)
	frame = min(frame, block)
	req := &unix.TpacketReq3{
		Block_size:     uint32(block),
		Block_nr:       uint32(nr),
		Frame_size:     uint32(frame),
		Frame_nr:       uint32((block / frame) * nr),
		Retire_blk_tov: uint32(max(1, s.blockTO/time.Millisecond)),
	}
	if err := unix.SetsockoptTpacketReq3(s.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, req); err != nil {
		return fmt.Errorf("ring of %d blocks of %d bytes: %w", nr, block, err)
	}
	mem, err := unix.Mmap(s.fd, 0, block*nr, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mapping the ring (%d bytes): %w", block*nr, err)
	}
	s.ring, s.blockSize, s.blockNr = mem, block, nr
	return nil
}

func align16(n int) int { return (n + 15) &^ 15 }

// joinFanout joins the socket to a fanout group, or, with unique, to a new
// group whose id the kernel picks; it returns the group id.
func (s *Socket) joinFanout(id uint16, unique bool) (uint16, error) {
	flags := unix.PACKET_FANOUT_HASH | unix.PACKET_FANOUT_FLAG_DEFRAG
	if unique {
		flags |= unix.PACKET_FANOUT_FLAG_UNIQUEID
		id = 0
	}
	if err := unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, int(id)|flags<<16); err != nil {
		return 0, fmt.Errorf("afpacket %s: joining fanout group %d: %w", s.name, id, err)
	}
	if unique {
		v, err := unix.GetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
		if err != nil {
			return 0, fmt.Errorf("afpacket %s: reading the fanout group: %w", s.name, err)
		}
		id = uint16(v)
	}
	return id, nil
}

// start attaches the real filter: the socket captures from now on.
func (s *Socket) start() error {
	if err := attach(s.fd, s.kprog); err != nil {
		return fmt.Errorf("afpacket %s: %w", s.name, err)
	}
	return nil
}

// LinkType is the data-link type (DLT_) of the records.
func (s *Socket) LinkType() uint16 { return s.linkType }

// Interface is the name of the interface the socket captures on.
func (s *Socket) Interface() string { return s.name }

// Next fills rec with the next packet, waiting as long as it takes. It
// returns io.EOF once the socket is closed, and an error if the socket
// fails (the interface went down or disappeared). rec.Data points into the
// ring and is valid until the next call to Next, NextTimeout or Close; rec.File
// is 0 and rec.Number counts the packets delivered. Next does not allocate.
func (s *Socket) Next(rec *capture.Record) error {
	for {
		err := s.NextTimeout(rec)
		switch err {
		case ErrTimeout:
			continue
		case ErrClosed:
			return io.EOF
		}
		return err
	}
}

// NextTimeout is Next, except that it returns ErrTimeout when no packet
// arrives within the poll timeout, and ErrClosed after Close.
func (s *Socket) NextTimeout(rec *capture.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	var deadline time.Time
	for {
		if s.left > 0 {
			if s.fill(rec) {
				return nil
			}
			continue
		}
		if s.held {
			s.release()
		}
		blk := s.cur * s.blockSize
		if atomic.LoadUint32(s.word(blk+blockStatusOff))&unix.TP_STATUS_USER != 0 {
			s.held = true
			s.left = int(*s.word(blk + blockNumPktsOff))
			s.off = blk + int(*s.word(blk + blockFirstPktOff))
			continue
		}
		if s.closed.Load() {
			return ErrClosed
		}
		// Wait for the kernel to hand over the block.
		wait := s.pollMs
		if deadline.IsZero() {
			deadline = time.Now().Add(time.Duration(s.pollMs) * time.Millisecond)
		} else {
			wait = int(time.Until(deadline) / time.Millisecond)
			if wait <= 0 {
				return ErrTimeout
			}
		}
		n, err := unix.Poll(s.pfd[:], wait)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return fmt.Errorf("afpacket %s: poll: %w", s.name, err)
		case n == 0:
			return ErrTimeout
		case s.pfd[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0:
			if e, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && e != 0 {
				return fmt.Errorf("afpacket %s: %w", s.name, unix.Errno(e))
			}
			if s.pfd[0].Revents&unix.POLLIN == 0 {
				return fmt.Errorf("afpacket %s: socket error (poll events %#x)", s.name, s.pfd[0].Revents)
			}
		}
	}
}

func (s *Socket) word(off int) *uint32 { return (*uint32)(unsafe.Pointer(&s.ring[off])) }

// release hands the current block back to the kernel and moves on.
func (s *Socket) release() {
	atomic.StoreUint32(s.word(s.cur*s.blockSize+blockStatusOff), unix.TP_STATUS_KERNEL)
	s.held = false
	s.left = 0
	s.cur++
	if s.cur == s.blockNr {
		s.cur = 0
	}
}

// fill reads the packet at s.off into rec and moves to the next one. It
// reports false for a packet that is skipped (outgoing on loopback,
// rejected by the user-space filter, or inconsistent with its block).
func (s *Socket) fill(rec *capture.Record) bool {
	s.left--
	blkEnd := (s.cur + 1) * s.blockSize
	off := s.off
	if off < 0 || off+tpHdrSize > blkEnd {
		s.left = 0 // the kernel never does this; drop the rest of the block
		return false
	}
	h := (*tpacket3Hdr)(unsafe.Pointer(&s.ring[off]))
	s.off = off + int(h.nextOffset)
	mac := off + int(h.mac)
	caplen := int(h.snaplen)
	wire := h.len
	if mac < off+tpHdrSize || mac+caplen > blkEnd {
		return false
	}
	sll := s.ring[off+sllOff : off+sllOff+sllLen]
	pkttype := sll[10]
	if s.loopback && pkttype == unix.PACKET_OUTGOING {
		return false // the same packet comes back as incoming
	}
	start := mac
	if s.cooked {
		// libpcap's struct sll_header, from the struct sockaddr_ll.
		start -= sllHeaderLen
		if start < off+tpHdrSize {
			return false
		}
		p := s.ring[start : start+sllHeaderLen]
		p[0], p[1] = 0, pkttype
		binary.BigEndian.PutUint16(p[2:], binary.NativeEndian.Uint16(sll[8:])) // sll_hatype
		p[4], p[5] = 0, sll[11]                                                // sll_halen
		copy(p[6:14], sll[12:20])                                              // sll_addr
		p[14], p[15] = sll[2], sll[3]                                          // sll_protocol, network order already
		caplen += sllHeaderLen
		wire += sllHeaderLen
	}
	tagged := false
	if s.linkType == LinkTypeEthernet || s.cooked {
		if h.vlanTCI != 0 || h.status&unix.TP_STATUS_VLAN_VALID != 0 {
			// Put the tag back after the addresses (Ethernet) or in place
			// of the protocol field (cooked), as libpcap does.
			at := 12
			if s.cooked {
				at = 14
			}
			if caplen >= at && start-vlanTagLen >= off+tpHdrSize {
				tpid := uint16(unix.ETH_P_8021Q)
				if h.vlanTPID != 0 || h.status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
					tpid = h.vlanTPID
				}
				copy(s.ring[start-vlanTagLen:], s.ring[start:start+at])
				start -= vlanTagLen
				t := s.ring[start+at : start+at+vlanTagLen]
				t[0], t[1] = byte(tpid>>8), byte(tpid)
				t[2], t[3] = byte(h.vlanTCI>>8), byte(h.vlanTCI)
				caplen += vlanTagLen
				wire += vlanTagLen
				tagged = true
			}
		}
	}
	caplen = min(caplen, s.snaplen)
	data := s.ring[start : start+caplen : start+caplen]
	if s.ufilter != nil && (s.cooked || tagged) && !s.ufilter.Match(data, wire) {
		s.filtered.Add(1)
		return false
	}
	s.number++
	*rec = capture.Record{
		Data:     data,
		WireLen:  wire,
		Sec:      uint64(h.sec),
		Nsec:     h.nsec,
		LinkType: s.linkType,
		Number:   s.number,
	}
	return true
}

// Stats returns the socket's counters since it was opened. After Close it
// returns the final counters.
func (s *Socket) Stats() (Stats, error) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	err := s.pollStats()
	st := s.total
	st.Filtered = s.filtered.Load()
	return st, err
}

// pollStats adds the kernel's counters (which reading resets) to the total.
// statsMu is held.
func (s *Socket) pollStats() error {
	if s.statsFD < 0 {
		return nil
	}
	k, err := unix.GetsockoptTpacketStatsV3(s.statsFD, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return fmt.Errorf("afpacket %s: statistics: %w", s.name, err)
	}
	s.total.Packets += uint64(k.Packets)
	s.total.Drops += uint64(k.Drops)
	s.total.Freezes += uint64(k.Freeze_q_cnt)
	return nil
}

// Close closes the socket, which also leaves promiscuous mode and the
// fanout group. It waits for a Next in progress to return (within the poll
// timeout). Calling it again is harmless.
func (s *Socket) Close() error {
	s.closed.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statsMu.Lock()
	s.pollStats()
	s.statsFD = -1
	s.statsMu.Unlock()
	var err error
	if s.ring != nil {
		err = unix.Munmap(s.ring)
		s.ring = nil
	}
	if s.fd >= 0 {
		if e := unix.Close(s.fd); err == nil {
			err = e
		}
		s.fd = -1
	}
	s.left, s.held = 0, false
	return err
}

// inNamespace runs fn on a thread that has entered the network namespace
// at path (fn runs on the calling goroutine when path is empty). That
// thread is left to die with its goroutine rather than be reused in the
// wrong namespace.
func inNamespace(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		ns, err := os.Open(path)
		if err != nil {
			errc <- fmt.Errorf("network namespace: %w", err)
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering network namespace %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
