//go:build linux

package sysvis

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// The ebpf method: three raw tracepoints report, from the context of the
// process that owns the socket, (socket, process) pairs to a ring buffer:
//
//   - sock:inet_sock_set_state, newstate TCP_SYN_SENT (inside connect(2),
//     before the local port is chosen): the process is remembered in the
//     pending map, by socket; on the socket's next state change
//     (ESTABLISHED, or CLOSE when refused) its now complete tuple is
//     reported with that process.
//   - sock:sock_send_length and sock:sock_recv_length (end of every
//     sendmsg/recvmsg, any family): the socket's tuple with the current
//     process.
//
// Each event is checked against an LRU hash (socket pointer, tgid, tuple),
// so that a pair is reported once (again after eviction). Raw tracepoints
// need neither tracefs nor kprobes; struct offsets come from the kernel's
// BTF, read at run time (no compiled object, no CO-RE relocation).

// Layout of an event on the BPF stack and in the ring buffer. The first
// evKeySize bytes are the dedup key.
const (
	evSK      = 0  // u64 struct sock pointer
	evTgid    = 8  // u32
	evFamily  = 12 // u16 AF_INET / AF_INET6
	evProto   = 14 // u16 IPPROTO_TCP / IPPROTO_UDP
	evLport   = 16 // u16 host order (skc_num)
	evRport   = 18 // u16 network order (skc_dport)
	evLaddr   = 24 // 4 or 16 bytes
	evRaddr   = 40 // 4 or 16 bytes
	evComm    = 56 // [16]byte, the thread group leader's comm
	evSize    = 72
	evKeySize = 56

	// Frame offsets (from R10).
	fpEv      = -evSize // event
	fpTmp     = fpEv - 8
	fpNS      = fpTmp - 8 // struct bpf_pidns_info
	fpPending = fpNS - 24 // pending value: tgid u32, pad, comm[16]
	fpKey     = fpPending - 8

	tcpSynSent = 2

	// ringBufBytes holds ~13,000 events (72 bytes + an 8-byte header):
	// 6.5 million events a second at the reader's period.
	ringBufBytes = 1 << 20
	dedupEntries = 1 << 14
	pendEntries  = 1 << 13
)

// The programs queue events without waking the reader
// (BPF_RB_NO_WAKEUP), which drains the ring buffer every readerPeriod: a
// wake-up per event (two per short TCP connection) costed about 35 µs
// per connection on a 2-core host, the timed drain 500 cheap wake-ups a
// second. Attribution lags by at most readerPeriod.
const (
	ringbufFlags = 1 // BPF_RB_NO_WAKEUP
	readerPeriod = 10 * time.Millisecond
)

// initPidNSIno is the inode of the initial pid namespace
// (PROC_PID_INIT_INO).
const initPidNSIno = 0xEFFFFFFC

// offsets are the kernel struct fields the programs read, in bytes.
type offsets struct {
	family, protocol, num, dport int32
	rcvSaddr, daddr              int32
	v6RcvSaddr, v6Daddr          int32
	groupLeader, comm            int32
}

// memberOffset finds a member by name, looking into anonymous structs and
// unions, and checks that it is not a bitfield and has the given size.
func memberOffset(t btf.Type, name string, size uint32) (int32, error) {
	off, m, ok := findMember(t, name, 0)
	if !ok {
		return 0, fmt.Errorf("BTF: %s has no member %s", t.TypeName(), name)
	}
	if m.BitfieldSize != 0 || off%8 != 0 {
		return 0, fmt.Errorf("BTF: %s.%s is a bitfield", t.TypeName(), name)
	}
	if sz, err := btf.Sizeof(m.Type); err != nil || uint32(sz) != size {
		return 0, fmt.Errorf("BTF: %s.%s has size %d, want %d", t.TypeName(), name, sz, size)
	}
	return int32(off / 8), nil
}

func findMember(t btf.Type, name string, base btf.Bits) (btf.Bits, btf.Member, bool) {
	var members []btf.Member
	switch s := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		members = s.Members
	case *btf.Union:
		members = s.Members
	default:
		return 0, btf.Member{}, false
	}
	for _, m := range members {
		if m.Name == name {
			return base + m.Offset, m, true
		}
		if m.Name == "" {
			if off, mm, ok := findMember(m.Type, name, base+m.Offset); ok {
				return off, mm, true
			}
		}
	}
	return 0, btf.Member{}, false
}

func kernelOffsets() (offsets, error) {
	var o offsets
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return o, fmt.Errorf("kernel BTF: %w", err)
	}
	var sk, skc, task *btf.Struct
	for name, p := range map[string]**btf.Struct{"sock": &sk, "sock_common": &skc, "task_struct": &task} {
		if err := spec.TypeByName(name, p); err != nil {
			return o, fmt.Errorf("BTF: struct %s: %w", name, err)
		}
	}
	common, err := memberOffset(sk, "__sk_common", skc.Size)
	if err != nil {
		return o, err
	}
	for _, f := range []struct {
		t    btf.Type
		name string
		size uint32
		dst  *int32
		base int32
	}{
		{skc, "skc_family", 2, &o.family, common},
		{sk, "sk_protocol", 2, &o.protocol, 0},
		{skc, "skc_num", 2, &o.num, common},
		{skc, "skc_dport", 2, &o.dport, common},
		{skc, "skc_rcv_saddr", 4, &o.rcvSaddr, common},
		{skc, "skc_daddr", 4, &o.daddr, common},
		{skc, "skc_v6_rcv_saddr", 16, &o.v6RcvSaddr, common},
		{skc, "skc_v6_daddr", 16, &o.v6Daddr, common},
		{task, "group_leader", 8, &o.groupLeader, 0},
		{task, "comm", 16, &o.comm, 0},
	} {
		off, err := memberOffset(f.t, f.name, f.size)
		if err != nil {
			return o, err
		}
		*f.dst = f.base + off
	}
	return o, nil
}

// progGen generates the programs' instructions.
type progGen struct {
	o                  offsets
	dedup, pending, rb *ebpf.Map
	lost               *ebpf.Map
	useNS              bool // bpf_get_ns_current_pid_tgid (pid namespace other than the initial one)
	nsDev, nsIno       uint64
	labels             int
}

func (g *progGen) label(prefix string) string {
	g.labels++
	return fmt.Sprintf("%s_%d", prefix, g.labels)
}

// at puts a label on the first instruction of insns.
func at(label string, insns ...asm.Instruction) asm.Instructions {
	insns[0] = insns[0].WithSymbol(label)
	return insns
}

func fp(dst asm.Register, off int32) asm.Instructions {
	return asm.Instructions{asm.Mov.Reg(dst, asm.RFP), asm.Add.Imm(dst, off)}
}

// probeRead copies size bytes from srcReg+srcOff to the frame at dst
// (zeroed by the helper on failure).
func probeRead(dst int32, size int32, src asm.Register, srcOff int32) asm.Instructions {
	insns := fp(asm.R1, dst)
	return append(insns,
		asm.Mov.Imm(asm.R2, size),
		asm.Mov.Reg(asm.R3, src),
		asm.Add.Imm(asm.R3, srcOff),
		asm.FnProbeReadKernel.Call(),
	)
}

// zero clears size bytes of the frame from from (clobbers R1).
func zero(from, size int32) asm.Instructions {
	insns := asm.Instructions{asm.Mov.Imm(asm.R1, 0)}
	for off := from; off < from+size; off += 8 {
		insns = append(insns, asm.StoreMem(asm.RFP, int16(off), asm.R1, asm.DWord))
	}
	return insns
}

// readTuple reads the socket in R7 into the event: family, protocol,
// ports, addresses. It jumps to exit for other families and protocols,
// and unbound sockets.
func (g *progGen) readTuple(exit string) asm.Instructions {
	v6, proto, ports := g.label("v6"), g.label("proto"), g.label("ports")
	insns := asm.Instructions{asm.StoreMem(asm.RFP, fpEv+evSK, asm.R7, asm.DWord)}
	insns = append(insns, probeRead(fpEv+evFamily, 2, asm.R7, g.o.family)...)
	insns = append(insns,
		asm.JNE.Imm(asm.R0, 0, exit),
		asm.LoadMem(asm.R1, asm.RFP, fpEv+evFamily, asm.Half),
		asm.JEq.Imm(asm.R1, unix.AF_INET6, v6),
		asm.JNE.Imm(asm.R1, unix.AF_INET, exit),
	)
	insns = append(insns, probeRead(fpEv+evLaddr, 4, asm.R7, g.o.rcvSaddr)...)
	insns = append(insns, probeRead(fpEv+evRaddr, 4, asm.R7, g.o.daddr)...)
	insns = append(insns, asm.Ja.Label(proto))
	insns = append(insns, at(v6, probeRead(fpEv+evLaddr, 16, asm.R7, g.o.v6RcvSaddr)...)...)
	insns = append(insns, probeRead(fpEv+evRaddr, 16, asm.R7, g.o.v6Daddr)...)
	insns = append(insns, at(proto, probeRead(fpEv+evProto, 2, asm.R7, g.o.protocol)...)...)
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.RFP, fpEv+evProto, asm.Half),
		asm.JEq.Imm(asm.R1, unix.IPPROTO_TCP, ports),
		asm.JNE.Imm(asm.R1, unix.IPPROTO_UDP, exit),
	)
	insns = append(insns, at(ports, probeRead(fpEv+evLport, 2, asm.R7, g.o.num)...)...)
	insns = append(insns, probeRead(fpEv+evRport, 2, asm.R7, g.o.dport)...)
	return append(insns,
		asm.LoadMem(asm.R1, asm.RFP, fpEv+evLport, asm.Half),
		asm.JEq.Imm(asm.R1, 0, exit),
	)
}

// tgid stores the current process id (in our pid namespace) as a u32 at
// dst; exit when the task is outside that namespace.
func (g *progGen) tgid(dst int32, exit string) asm.Instructions {
	if !g.useNS {
		return asm.Instructions{
			asm.FnGetCurrentPidTgid.Call(),
			asm.RSh.Imm(asm.R0, 32),
			asm.StoreMem(asm.RFP, int16(dst), asm.R0, asm.Word),
		}
	}
	insns := asm.Instructions{
		asm.LoadImm(asm.R1, int64(g.nsDev), asm.DWord),
		asm.LoadImm(asm.R2, int64(g.nsIno), asm.DWord),
	}
	insns = append(insns, fp(asm.R3, fpNS)...)
	return append(insns,
		asm.Mov.Imm(asm.R4, 8),
		asm.FnGetNsCurrentPidTgid.Call(),
		asm.JNE.Imm(asm.R0, 0, exit),
		asm.LoadMem(asm.R1, asm.RFP, fpNS+4, asm.Word),
		asm.StoreMem(asm.RFP, int16(dst), asm.R1, asm.Word),
	)
}

// comm stores the thread group leader's comm (what /proc/PID/comm
// shows) at dst, or the current thread's when the leader cannot be read.
func (g *progGen) comm(dst int32) asm.Instructions {
	cur, done := g.label("curcomm"), g.label("commdone")
	insns := asm.Instructions{
		asm.FnGetCurrentTask.Call(),
		asm.Mov.Reg(asm.R3, asm.R0),
		asm.Add.Imm(asm.R3, g.o.groupLeader),
	}
	insns = append(insns, fp(asm.R1, fpTmp)...)
	insns = append(insns,
		asm.Mov.Imm(asm.R2, 8),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, cur),
		asm.LoadMem(asm.R3, asm.RFP, fpTmp, asm.DWord),
		asm.JEq.Imm(asm.R3, 0, cur),
		asm.Add.Imm(asm.R3, g.o.comm),
	)
	insns = append(insns, fp(asm.R1, dst)...)
	insns = append(insns,
		asm.Mov.Imm(asm.R2, 16),
		asm.FnProbeReadKernel.Call(),
		asm.JEq.Imm(asm.R0, 0, done),
	)
	insns = append(insns, at(cur, fp(asm.R1, dst)...)...)
	return append(insns,
		asm.Mov.Imm(asm.R2, 16),
		asm.FnGetCurrentComm.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(done),
	)
}

// output sends the event to the ring buffer and records it in the dedup
// map, or counts it as lost when the ring buffer is full.
func (g *progGen) output(exit string) asm.Instructions {
	lost := g.label("lost")
	insns := asm.Instructions{asm.LoadMapPtr(asm.R1, g.rb.FD())}
	insns = append(insns, fp(asm.R2, fpEv)...)
	insns = append(insns,
		asm.Mov.Imm(asm.R3, evSize),
		asm.Mov.Imm(asm.R4, ringbufFlags),
		asm.FnRingbufOutput.Call(),
		asm.JNE.Imm(asm.R0, 0, lost),
		asm.StoreImm(asm.RFP, fpTmp, 1, asm.Word),
		asm.LoadMapPtr(asm.R1, g.dedup.FD()),
	)
	insns = append(insns, fp(asm.R2, fpEv)...)
	insns = append(insns, fp(asm.R3, fpTmp)...)
	insns = append(insns,
		asm.Mov.Imm(asm.R4, 0),
		asm.FnMapUpdateElem.Call(),
		asm.Ja.Label(exit),
	)
	insns = append(insns, at(lost, asm.StoreImm(asm.RFP, fpTmp, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, g.lost.FD()))...)
	insns = append(insns, fp(asm.R2, fpTmp)...)
	return append(insns,
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, exit),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Ja.Label(exit),
	)
}

func epilogue(exit string) asm.Instructions {
	return asm.Instructions{asm.Mov.Imm(asm.R0, 0).WithSymbol(exit), asm.Return()}
}

// sendRecvProg is attached to sock_send_length and sock_recv_length
// (struct sock *sk, int ret, int flags).
func (g *progGen) sendRecvProg() asm.Instructions {
	exit := g.label("exit")
	insns := asm.Instructions{
		asm.LoadMem(asm.R7, asm.R1, 0, asm.DWord),
		asm.JEq.Imm(asm.R7, 0, exit),
	}
	insns = append(insns, zero(fpEv, evSize)...)
	insns = append(insns, g.readTuple(exit)...)
	insns = append(insns, g.tgid(fpEv+evTgid, exit)...)
	insns = append(insns, asm.LoadMapPtr(asm.R1, g.dedup.FD()))
	insns = append(insns, fp(asm.R2, fpEv)...)
	insns = append(insns,
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, exit),
	)
	insns = append(insns, g.comm(fpEv+evComm)...)
	insns = append(insns, g.output(exit)...)
	return append(insns, epilogue(exit)...)
}

// stateProg is attached to inet_sock_set_state (const struct sock *sk,
// int oldstate, int newstate).
func (g *progGen) stateProg() asm.Instructions {
	exit, notSyn := g.label("exit"), g.label("notsyn")
	insns := asm.Instructions{
		asm.LoadMem(asm.R7, asm.R1, 0, asm.DWord),
		asm.LoadMem(asm.R8, asm.R1, 8, asm.DWord),
		asm.LoadMem(asm.R9, asm.R1, 16, asm.DWord),
		asm.JEq.Imm(asm.R7, 0, exit),
		asm.StoreMem(asm.RFP, fpKey, asm.R7, asm.DWord),
		asm.JNE.Imm32(asm.R9, tcpSynSent, notSyn),
	}
	// connect(2): remember the process.
	insns = append(insns, zero(fpPending, 24)...)
	insns = append(insns, g.tgid(fpPending, exit)...)
	insns = append(insns, g.comm(fpPending+8)...)
	insns = append(insns, asm.LoadMapPtr(asm.R1, g.pending.FD()))
	insns = append(insns, fp(asm.R2, fpKey)...)
	insns = append(insns, fp(asm.R3, fpPending)...)
	insns = append(insns,
		asm.Mov.Imm(asm.R4, 0),
		asm.FnMapUpdateElem.Call(),
		asm.Ja.Label(exit),
	)
	// Leaving SYN_SENT: the tuple is complete; report it with the
	// remembered process.
	insns = append(insns, at(notSyn,
		asm.JNE.Imm32(asm.R8, tcpSynSent, exit),
		asm.LoadMapPtr(asm.R1, g.pending.FD()))...)
	insns = append(insns, fp(asm.R2, fpKey)...)
	insns = append(insns,
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, exit),
		asm.Mov.Reg(asm.R9, asm.R0),
	)
	insns = append(insns, zero(fpEv, evSize)...)
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.R9, 0, asm.Word),
		asm.StoreMem(asm.RFP, fpEv+evTgid, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.R9, 8, asm.DWord),
		asm.StoreMem(asm.RFP, fpEv+evComm, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.R9, 16, asm.DWord),
		asm.StoreMem(asm.RFP, fpEv+evComm+8, asm.R1, asm.DWord),
		asm.LoadMapPtr(asm.R1, g.pending.FD()),
	)
	insns = append(insns, fp(asm.R2, fpKey)...)
	insns = append(insns, asm.FnMapDeleteElem.Call())
	insns = append(insns, g.readTuple(exit)...)
	insns = append(insns, g.output(exit)...)
	return append(insns, epilogue(exit)...)
}

// ebpfSource is the loaded programs, their maps and the ring buffer
// reader's goroutine.
type ebpfSource struct {
	closers  []interface{ Close() error }
	progs    []*ebpf.Program
	links    []link.Link
	rd       *ringbuf.Reader
	lost     *ebpf.Map
	done     chan struct{}
	proc     string
	stats    *counters
	cache    map[int32]cachedProc
	cacheAt  time.Time
	once     sync.Once
	stopping atomic.Bool
}

type cachedProc struct {
	comm string
	p    Process
}

// errEBPFNotTried is EBPFError's answer when Config.Method named a
// method without ebpf.
var errEBPFNotTried = errors.New("sysvis: ebpf not requested (Config.Method)")

// testUseNS forces bpf_get_ns_current_pid_tgid (tests).
var testUseNS bool

// startEBPF loads and attaches the programs and starts feeding t.
func startEBPF(t *Table, proc string) (_ *ebpfSource, err error) {
	o, err := kernelOffsets()
	if err != nil {
		return nil, err
	}
	g := &progGen{o: o}
	var st unix.Stat_t
	if err := unix.Stat(proc+"/self/ns/pid", &st); err != nil {
		return nil, fmt.Errorf("pid namespace: %w", err)
	}
	if st.Ino != initPidNSIno || testUseNS {
		g.useNS = true
		g.nsDev = uint64(unix.Major(st.Dev))<<20 | uint64(unix.Minor(st.Dev))
		g.nsIno = st.Ino
	}
	s := &ebpfSource{proc: proc, stats: &t.stats, done: make(chan struct{}), cache: make(map[int32]cachedProc)}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	newMap := func(spec *ebpf.MapSpec) (*ebpf.Map, error) {
		m, err := ebpf.NewMap(spec)
		if errors.Is(err, unix.EPERM) && raiseMemlock() {
			m, err = ebpf.NewMap(spec) // kernels before 5.11 charge RLIMIT_MEMLOCK
		}
		if err != nil {
			return nil, fmt.Errorf("map %s: %w", spec.Name, err)
		}
		s.closers = append(s.closers, m)
		return m, nil
	}
	if g.rb, err = newMap(&ebpf.MapSpec{Name: "sysvis_events", Type: ebpf.RingBuf, MaxEntries: ringBufBytes}); err != nil {
		return nil, err
	}
	if g.dedup, err = newMap(&ebpf.MapSpec{Name: "sysvis_seen", Type: ebpf.LRUHash, KeySize: evKeySize, ValueSize: 1, MaxEntries: dedupEntries}); err != nil {
		return nil, err
	}
	if g.pending, err = newMap(&ebpf.MapSpec{Name: "sysvis_connect", Type: ebpf.LRUHash, KeySize: 8, ValueSize: 24, MaxEntries: pendEntries}); err != nil {
		return nil, err
	}
	if g.lost, err = newMap(&ebpf.MapSpec{Name: "sysvis_lost", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1}); err != nil {
		return nil, err
	}
	s.lost = g.lost
	load := func(name string, insns asm.Instructions) (*ebpf.Program, error) {
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name:         name,
			Type:         ebpf.RawTracepoint,
			Instructions: insns,
			License:      "Dual MIT/GPL", // bpf_probe_read_kernel is GPL-only
		})
		if err != nil {
			return nil, fmt.Errorf("program %s: %w", name, err)
		}
		s.closers = append(s.closers, p)
		s.progs = append(s.progs, p)
		return p, nil
	}
	state, err := load("sysvis_state", g.stateProg())
	if err != nil {
		return nil, err
	}
	sendRecv, err := load("sysvis_sendrecv", g.sendRecvProg())
	if err != nil {
		return nil, err
	}
	if s.rd, err = ringbuf.NewReader(g.rb); err != nil {
		return nil, fmt.Errorf("ring buffer: %w", err)
	}
	for _, a := range []struct {
		tp string
		p  *ebpf.Program
	}{{"inet_sock_set_state", state}, {"sock_send_length", sendRecv}, {"sock_recv_length", sendRecv}} {
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: a.tp, Program: a.p})
		if err != nil {
			return nil, fmt.Errorf("raw tracepoint %s: %w", a.tp, err)
		}
		s.closers = append(s.closers, l)
		s.links = append(s.links, l)
	}
	go s.run(&t.t)
	return s, nil
}

// raiseMemlock lifts RLIMIT_MEMLOCK for old kernels that charge BPF maps
// to it; it reports whether the limit changed.
func raiseMemlock() bool {
	var r unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &r) != nil || r.Cur == unix.RLIM_INFINITY {
		return false
	}
	return unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}) == nil
}

func (s *ebpfSource) closeAll() {
	if s.rd != nil {
		s.rd.Close()
	}
	for i := len(s.closers) - 1; i >= 0; i-- { // links first
		s.closers[i].Close()
	}
}

// close detaches the programs, lets the reader drain what they queued
// and waits for it.
func (s *ebpfSource) close() {
	s.once.Do(func() {
		for _, l := range s.links {
			l.Close()
		}
		s.stopping.Store(true)
		<-s.done
		s.closeAll()
	})
}

// lostEvents reads the programs' count of events the full ring buffer
// refused.
func (s *ebpfSource) lostEvents() uint64 {
	var n uint64
	if s.lost.Lookup(uint32(0), &n) != nil {
		return 0
	}
	return n
}

// run reads the ring buffer until it is closed.
func (s *ebpfSource) run(tb *table) {
	defer close(s.done)
	var rec ringbuf.Record
	for {
		s.rd.SetDeadline(time.Now().Add(readerPeriod))
		if err := s.rd.ReadInto(&rec); err != nil {
			if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				time.Sleep(readerPeriod)
			} else if s.stopping.Load() {
				return // a drain after the programs were detached
			}
			continue
		}
		s.handle(tb, rec.RawSample, time.Now())
	}
}

// handle adds one event's socket to the table.
func (s *ebpfSource) handle(tb *table, b []byte, now time.Time) {
	if len(b) < evSize {
		return
	}
	s.stats.events.Add(1)
	var local, remote netip.Addr
	switch binary.NativeEndian.Uint16(b[evFamily:]) {
	case unix.AF_INET:
		local = netip.AddrFrom4([4]byte(b[evLaddr:]))
		remote = netip.AddrFrom4([4]byte(b[evRaddr:]))
	case unix.AF_INET6:
		local = netip.AddrFrom16([16]byte(b[evLaddr:]))
		remote = netip.AddrFrom16([16]byte(b[evRaddr:]))
	default:
		return
	}
	proto := uint8(binary.NativeEndian.Uint16(b[evProto:]))
	lport := binary.NativeEndian.Uint16(b[evLport:])
	rport := binary.BigEndian.Uint16(b[evRport:])
	if lport == 0 || (rport == 0 && proto != unix.IPPROTO_UDP) {
		return
	}
	comm := b[evComm : evComm+16]
	if i := bytes.IndexByte(comm, 0); i >= 0 {
		comm = comm[:i]
	}
	proc := s.process(int32(binary.NativeEndian.Uint32(b[evTgid:])), string(comm), now)
	k := makeKey(netip.AddrPortFrom(local, lport), netip.AddrPortFrom(remote, rport), proto)
	tb.mu.Lock()
	defer tb.mu.Unlock()
	m, key := tb.conns, k
	if rport == 0 {
		m, key = nil, Key{}
	}
	if m != nil {
		if e := m[key]; e != nil && e.proc == proc {
			e.last = now
		} else {
			m[key] = &entry{proc: proc, last: now}
		}
		return
	}
	if e := tb.bound[k.Local]; e != nil && e.proc == proc {
		e.last = now
	} else {
		tb.bound[k.Local] = &entry{proc: proc, last: now}
	}
}

// process names an event's process: its comm, completed from the command
// line when truncated (as readProcess), and the cgroup path while
// /proc/PID exists. Answers are cached for a second.
func (s *ebpfSource) process(pid int32, comm string, now time.Time) Process {
	if now.Sub(s.cacheAt) > time.Second {
		clear(s.cache)
		s.cacheAt = now
	}
	if c, ok := s.cache[pid]; ok && c.comm == comm {
		return c.p
	}
	p := processFromComm(s.proc, pid, comm)
	s.cache[pid] = cachedProc{comm, p}
	return p
}
