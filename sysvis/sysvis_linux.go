//go:build linux

package sysvis

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// sock is one socket of the kernel's table.
type sock struct {
	local, remote netip.AddrPort
	proto         uint8
	inode         uint32
}

func (s *sock) hasRemote() bool { return s.remote.Port() != 0 }

// lister lists the host's inet sockets, appending to dst.
type lister interface {
	list(dst []sock) ([]sock, error)
	close()
}

// Start checks the privileges, picks the best method and starts polling.
// The first poll has run when Start returns.
func Start(cfg Config) (*Table, error) {
	cfg.defaults()
	if !canReadFds() {
		return nil, ErrPermission
	}
	t := &Table{t: newTable(), stop: make(chan struct{}), done: make(chan struct{})}
	var (
		l      lister
		events []eventConn
		period = cfg.Poll
	)
	// "" and "ebpf" try the eBPF programs, then pick the best poller;
	// "ebpf+POLLER" forces both.
	wantEBPF := cfg.Method == "" || cfg.Method == MethodEBPF || strings.HasPrefix(cfg.Method, MethodEBPF+"+")
	base := strings.TrimPrefix(cfg.Method, MethodEBPF+"+")
	if base == MethodEBPF {
		base = ""
	}
	switch base {
	case "", MethodSockDiag, MethodSockDiagPoll:
		d, err := openDiag(0)
		if err != nil {
			if base != "" {
				return nil, fmt.Errorf("sysvis: sock_diag: %w", err)
			}
			l, t.method = procNet{dir: cfg.Proc}, MethodProcNet
			break
		}
		l, t.method = d, MethodSockDiagPoll
		period = min(period, cfg.FastPoll)
		if base != MethodSockDiagPoll {
			tcp, err := openDiag(tcpDestroyGroups)
			var udp *diagConn
			if err == nil {
				if udp, err = openDiag(udpDestroyGroups); err != nil {
					tcp.close()
				}
			}
			if err == nil {
				events, t.method = []eventConn{{tcp, 6}, {udp, 17}}, MethodSockDiag
			} else if base == MethodSockDiag {
				d.close()
				return nil, fmt.Errorf("sysvis: sock_diag destroy events: %w", err)
			}
		}
	case MethodProcNet:
		l, t.method = procNet{dir: cfg.Proc}, MethodProcNet
	default:
		return nil, fmt.Errorf("sysvis: unknown method %q", cfg.Method)
	}
	p := &poller{t: t, l: l, events: events, res: newResolver(cfg.Proc, &t.stats), expire: cfg.Expire}
	// The programs are attached before the first poll, so that no socket
	// falls between the two.
	t.ebpfErr = errEBPFNotTried
	if wantEBPF {
		src, err := startEBPF(t, cfg.Proc)
		if err != nil {
			err = fmt.Errorf("sysvis: ebpf: %w", err)
			if cfg.Method != "" {
				p.close()
				return nil, err
			}
			t.ebpfErr = err // fall back silently to the poller alone
		} else {
			t.ebpf, t.ebpfErr = src, nil
			t.method = MethodEBPF + "+" + t.method
			// The events attribute new sockets: the poller only
			// attributes sockets without events and refreshes
			// entries, at the configured period.
			period = cfg.Poll
		}
	}
	if err := p.poll(time.Now()); err != nil {
		p.close()
		t.closeEBPF()
		return nil, err
	}
	p.t.stats.period.Store(int64(period))
	go p.run(max(period, time.Millisecond), cfg.Poll)
	return t, nil
}

// canReadFds reports whether other processes' fd tables are readable:
// root, or CAP_SYS_PTRACE in the effective set.
func canReadFds() bool {
	if os.Geteuid() == 0 {
		return true
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<unix.CAP_SYS_PTRACE) != 0
		}
	}
	return false
}

// eventConn is a destruction broadcast socket and its protocol.
type eventConn struct {
	c     *diagConn
	proto uint8
}

// poller is owned by the polling goroutine.
type poller struct {
	t      *Table
	l      lister
	events []eventConn
	res    *resolver
	expire time.Duration
	socks  []sock
	lastGC time.Time
	cost   time.Duration // of the last listing
}

func (p *poller) close() {
	p.l.close()
	for _, e := range p.events {
		e.c.close()
	}
}

// run polls every period, stretched to costFactor times the cost of the
// last listing (so that listing takes about 1/costFactor of a CPU; the fd
// scans only run when sockets appear), but to no more than stretchCap
// while a listing costs less than stretchCap/2 (at most half a CPU then),
// and never beyond slowest.
func (p *poller) run(period, slowest time.Duration) {
	defer close(p.t.done)
	defer p.close()
	timer := time.NewTimer(period)
	defer timer.Stop()
	for {
		select {
		case <-p.t.stop:
			return
		case <-timer.C:
		}
		p.poll(time.Now()) // a failed poll is retried on the next tick
		next := max(period, min(costFactor*p.cost, stretchCap), 2*p.cost)
		next = min(next, max(period, slowest))
		p.t.stats.period.Store(int64(next))
		timer.Reset(next)
	}
}

// costFactor bounds the poller's CPU use to about 1/costFactor of a CPU.
const costFactor = 5

// stretchCap keeps the fast methods' period short enough to see sockets
// that live a few tens of milliseconds.
const stretchCap = 20 * time.Millisecond

// poll lists the sockets once, attributes the new ones and expires the old.
func (p *poller) poll(now time.Time) error {
	p.t.stats.polls.Add(1)
	var err error
	p.socks, err = p.l.list(p.socks[:0])
	p.cost = time.Since(now)
	if err != nil {
		return err
	}
	unknown := map[uint32]struct{}{}
	for i := range p.socks {
		if s := &p.socks[i]; s.inode != 0 && !p.res.known(s.inode) {
			unknown[s.inode] = struct{}{}
		}
	}
	if len(unknown) > 0 || now.Sub(p.lastGC) > time.Second {
		p.res.refresh(unknown)
	}
	tb := &p.t.t
	tb.mu.Lock()
	for i := range p.socks {
		s := &p.socks[i]
		k := makeKey(s.local, s.remote, s.proto)
		var e *entry
		if s.hasRemote() {
			e = tb.conns[k]
		} else if s.proto == 17 {
			e = tb.bound[k.Local]
		} else {
			continue // a listening TCP socket
		}
		if s.inode == 0 { // TIME_WAIT and such: no owner any more
			if e != nil {
				e.last = now
			}
			continue
		}
		proc, ok := p.res.owner(s.inode)
		if !ok {
			continue
		}
		if e != nil && e.proc == proc {
			e.last = now
			continue
		}
		e = &entry{proc: proc, last: now}
		if s.hasRemote() {
			tb.conns[k] = e
		} else {
			tb.bound[k.Local] = e
		}
	}
	tb.mu.Unlock()
	for _, e := range p.events {
		p.drainEvents(e, now)
	}
	if now.Sub(p.lastGC) > time.Second {
		p.lastGC = now
		tb.expire(now.Add(-p.expire))
	}
	return nil
}

// drainEvents reads the destruction broadcasts queued since the last poll:
// a known socket's entry is refreshed, an unknown one counted as missed.
func (p *poller) drainEvents(ev eventConn, now time.Time) {
	tb := &p.t.t
	for {
		var err error
		p.socks, err = ev.c.recvEvents(p.socks[:0], ev.proto)
		if len(p.socks) == 0 || err != nil {
			return
		}
		tb.mu.Lock()
		for i := range p.socks {
			s := &p.socks[i]
			p.t.stats.destroyed.Add(1)
			if !s.hasRemote() {
				continue
			}
			k := makeKey(s.local, s.remote, s.proto)
			if e := tb.conns[k]; e != nil {
				e.last = now
				continue
			}
			if proc, ok := p.res.owner(s.inode); ok && s.inode != 0 {
				tb.conns[k] = &entry{proc: proc, last: now}
				continue
			}
			p.t.stats.missed.Add(1)
		}
		tb.mu.Unlock()
	}
}

// resolver maps socket inodes to processes through /proc/PID/fd.
type resolver struct {
	proc   string
	stats  *counters
	inodes map[uint32]int32 // socket inode → pid
	procs  map[int32]*Process
	// failed counts the refreshes that did not find an inode: it is
	// given up after maxTries (a socket in the dump can precede its fd:
	// accept grafts the socket before it installs the descriptor).
	failed map[uint32]uint8
	seen   map[int32]bool
	born   map[int32]int // refresh count when the pid was first seen
	gen    int           // refresh count
	owners map[int32]bool
	names  []string
	link   []byte
}

func newResolver(proc string, st *counters) *resolver {
	return &resolver{
		proc: proc, stats: st,
		inodes: make(map[uint32]int32), procs: make(map[int32]*Process),
		failed: make(map[uint32]uint8), seen: make(map[int32]bool),
		born: make(map[int32]int), owners: make(map[int32]bool),
		link: make([]byte, 64),
	}
}

func (r *resolver) known(ino uint32) bool {
	if _, ok := r.inodes[ino]; ok {
		return true
	}
	return r.failed[ino] >= maxTries
}

// youngRefreshes is for how many refreshes a new pid is scanned first.
const youngRefreshes = 50

// maxTries is how many refreshes look for an inode before giving up.
const maxTries = 3

func (r *resolver) owner(ino uint32) (Process, bool) {
	pid, ok := r.inodes[ino]
	if !ok {
		return Process{}, false
	}
	p := r.procs[pid]
	if p == nil {
		return Process{}, false
	}
	return *p, true
}

// refresh forgets dead processes, reads the fd tables of new ones and,
// while some of the unknown inodes are still not found, those of the
// others: young processes first (seen in the last few refreshes: a child
// scanned before it exec'd and opened its sockets), then those that
// already own sockets, then the rest.
func (r *resolver) refresh(unknown map[uint32]struct{}) {
	r.gen++
	d, err := os.Open(r.proc)
	if err != nil {
		return
	}
	r.names, _ = d.Readdirnames(-1)
	d.Close()
	clear(r.seen)
	var fresh, young, owners, old []int32
	clear(r.owners)
	for _, pid := range r.inodes {
		r.owners[pid] = true
	}
	for _, n := range r.names {
		pid, err := strconv.ParseInt(n, 10, 32)
		if err != nil {
			continue
		}
		r.seen[int32(pid)] = true
		switch _, ok := r.procs[int32(pid)]; {
		case !ok:
			fresh = append(fresh, int32(pid))
			r.born[int32(pid)] = r.gen
		case r.gen-r.born[int32(pid)] < youngRefreshes:
			young = append(young, int32(pid))
		case r.owners[int32(pid)]:
			owners = append(owners, int32(pid))
		default:
			old = append(old, int32(pid))
		}
	}
	for pid := range r.procs {
		if !r.seen[pid] {
			delete(r.procs, pid)
			delete(r.born, pid)
		}
	}
	for ino, pid := range r.inodes {
		if !r.seen[pid] {
			delete(r.inodes, ino)
		}
	}
	for _, pid := range fresh {
		r.scan(pid, unknown)
	}
	for _, group := range [][]int32{young, owners, old} {
		for _, pid := range group {
			if len(unknown) == 0 {
				break
			}
			r.scan(pid, unknown)
		}
	}
	if len(r.failed) > 1<<16 {
		clear(r.failed)
	}
	for ino := range unknown {
		r.failed[ino]++
	}
}

// scan reads /proc/PID/fd, recording every socket inode.
func (r *resolver) scan(pid int32, unknown map[uint32]struct{}) {
	r.stats.fdScans.Add(1)
	dir := r.proc + "/" + strconv.Itoa(int(pid)) + "/fd"
	f, err := os.Open(dir)
	if err != nil {
		if _, ok := r.procs[pid]; !ok {
			r.procs[pid] = nil // unreadable or gone: do not retry as new
		}
		return
	}
	fds, _ := f.Readdirnames(-1)
	f.Close()
	found := false
	for _, fd := range fds {
		n, err := unix.Readlink(dir+"/"+fd, r.link)
		if err != nil {
			continue
		}
		l, ok := bytes.CutPrefix(r.link[:n], []byte("socket:["))
		if !ok || len(l) < 2 {
			continue
		}
		ino, err := strconv.ParseUint(string(l[:len(l)-1]), 10, 32)
		if err != nil {
			continue
		}
		if old, ok := r.inodes[uint32(ino)]; !ok || old != pid {
			found = true
		}
		r.inodes[uint32(ino)] = pid
		delete(unknown, uint32(ino))
		delete(r.failed, uint32(ino))
	}
	if found || r.procs[pid] == nil {
		// (Re)read the name: the process may have exec'd since it was
		// first seen.
		p := readProcess(r.proc, pid)
		r.procs[pid] = &p
	}
}

// readProcess reads a process's name and cgroup path.
func readProcess(proc string, pid int32) Process {
	dir := proc + "/" + strconv.Itoa(int(pid))
	comm := ""
	if b, err := os.ReadFile(dir + "/comm"); err == nil {
		comm = strings.TrimSuffix(string(b), "\n")
	}
	return processFromComm(proc, pid, comm)
}

// processFromComm completes a process's comm into its name and reads its
// cgroup path, while /proc/PID exists (else the name stays comm and the
// cgroup is "").
func processFromComm(proc string, pid int32, comm string) Process {
	dir := proc + "/" + strconv.Itoa(int(pid))
	p := Process{PID: int64(pid), Name: comm}
	if len(p.Name) >= 15 {
		// comm is truncated to 15 bytes: psutil then takes the
		// command line's first word when it extends the name.
		if b, err := os.ReadFile(dir + "/cmdline"); err == nil {
			arg0, _, _ := bytes.Cut(b, []byte{0})
			if base := filepath.Base(string(arg0)); strings.HasPrefix(base, p.Name) {
				p.Name = base
			}
		}
	}
	if b, err := os.ReadFile(dir + "/cgroup"); err == nil {
		p.Cgroup = cgroupPath(b)
	}
	return p
}

// cgroupPath picks the cgroup v2 path ("0::PATH") unless it is the root,
// else the first v1 hierarchy's path that is not the root.
func cgroupPath(b []byte) string {
	v2, v1 := "", ""
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSuffix(line, "\n")
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2 = parts[2]
		} else if v1 == "" && parts[2] != "/" {
			v1 = parts[2]
		}
	}
	switch {
	case v2 != "" && v2 != "/":
		return v2
	case v1 != "":
		return v1
	}
	return v2
}

// procNet lists sockets from /proc/net/{tcp,tcp6,udp,udp6}.
type procNet struct{ dir string }

func (procNet) close() {}

func (p procNet) list(dst []sock) ([]sock, error) {
	var firstErr error
	for _, f := range []struct {
		name  string
		proto uint8
	}{{"tcp", 6}, {"tcp6", 6}, {"udp", 17}, {"udp6", 17}} {
		b, err := os.ReadFile(p.dir + "/net/" + f.name)
		if err != nil {
			if firstErr == nil && !errors.Is(err, os.ErrNotExist) {
				firstErr = err
			}
			continue
		}
		dst = parseProcNet(dst, b, f.proto)
	}
	return dst, firstErr
}

// parseProcNet parses one /proc/net/{tcp,udp}[6] table. Listening TCP
// sockets (state 0A) are skipped.
func parseProcNet(dst []sock, b []byte, proto uint8) []sock {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		if proto == 6 && fs[3] == "0A" {
			continue
		}
		local, ok1 := parseHexAddr(fs[1])
		remote, ok2 := parseHexAddr(fs[2])
		ino, err := strconv.ParseUint(fs[9], 10, 32)
		if !ok1 || !ok2 || err != nil {
			continue
		}
		dst = append(dst, sock{local: local, remote: remote, proto: proto, inode: uint32(ino)})
	}
	return dst
}

// parseHexAddr parses "0100007F:1F90": the address as the kernel's
// 32-bit words printed in host order (little-endian here), the port in hex.
func parseHexAddr(s string) (netip.AddrPort, bool) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, false
	}
	for i := 0; i < len(raw); i += 4 {
		w := binary.BigEndian.Uint32(raw[i:])
		binary.NativeEndian.PutUint32(raw[i:], w)
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr, uint16(port)), true
}

func (t *Table) closeEBPF() {
	if t.ebpf != nil {
		t.ebpf.close()
	}
}

func (t *Table) lostEvents() uint64 {
	if t.ebpf != nil {
		return t.ebpf.lostEvents()
	}
	return 0
}

func check() error {
	if !canReadFds() {
		return ErrPermission
	}
	return nil
}
