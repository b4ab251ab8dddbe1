//go:build linux

package sysvis

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// The kernel's sock_diag broadcast groups (linux/sock_diag.h) as bind
// group bits: SKNLGRP_INET_TCP_DESTROY and SKNLGRP_INET6_TCP_DESTROY, then
// the UDP ones. TCP and UDP get a socket each, since the messages do not
// carry the protocol.
const (
	tcpDestroyGroups = 1<<0 | 1<<2
	udpDestroyGroups = 1<<1 | 1<<3
)

const (
	sizeofNlMsghdr   = 16
	sizeofDiagReqV2  = 56 // struct inet_diag_req_v2
	sizeofDiagReq    = 60 // struct inet_diag_req
	sizeofDiagMsg    = 72 // struct inet_diag_msg
	tcpListen        = 10 // TCP_LISTEN state
	tcpDiagGetSock   = 18 // TCPDIAG_GETSOCK (linux/inet_diag.h)
	allStates        = 0xffffffff
	diagMsgInodeOff  = 68
	diagMsgIDOff     = 4
	diagSockIDSport  = 0
	diagSockIDDport  = 2
	diagSockIDSrc    = 4
	diagSockIDDst    = 20
	diagRecvBufBytes = 1 << 16
)

// diagConn is a NETLINK_SOCK_DIAG socket: for dumps (groups 0) or for
// the destruction broadcasts (non-blocking).
type diagConn struct {
	fd  int
	seq uint32
	buf []byte
	req [sizeofNlMsghdr + sizeofDiagReq]byte
}

func openDiag(groups uint32) (*diagConn, error) {
	typ := unix.SOCK_RAW | unix.SOCK_CLOEXEC
	if groups != 0 {
		typ |= unix.SOCK_NONBLOCK
	}
	fd, err := unix.Socket(unix.AF_NETLINK, typ, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind: %w", err)
	}
	c := &diagConn{fd: fd, buf: make([]byte, diagRecvBufBytes)}
	if groups == 0 {
		// A dump must work here, or the method is unusable.
		if _, err := c.list(nil); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	return c, nil
}

func (c *diagConn) close() { unix.Close(c.fd) }

// list dumps the TCP sockets of both families (all states but LISTEN) and
// the UDP sockets. TCP uses the old TCPDIAG_GETSOCK request, whose dump
// walks the kernel's established hash table once for both families (a
// walk costs milliseconds on a large table, empty buckets included);
// UDP's table is small.
func (c *diagConn) list(dst []sock) ([]sock, error) {
	for _, q := range []struct {
		typ           uint16
		family, proto uint8
		states        uint32
	}{
		{tcpDiagGetSock, unix.AF_INET, unix.IPPROTO_TCP, allStates &^ (1 << tcpListen)},
		{unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET, unix.IPPROTO_UDP, allStates},
		{unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET6, unix.IPPROTO_UDP, allStates},
	} {
		var err error
		if dst, err = c.dump(dst, q.typ, q.family, q.proto, q.states); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// dump runs one dump request. SOCK_DIAG_BY_FAMILY takes struct
// inet_diag_req_v2 (family, protocol, ext, pad, states, id);
// TCPDIAG_GETSOCK takes struct inet_diag_req (family, src_len, dst_len,
// ext, id, states, dbs), whose replies are of the same type.
func (c *diagConn) dump(dst []sock, typ uint16, family, proto uint8, states uint32) ([]sock, error) {
	c.seq++
	r := c.req[:sizeofNlMsghdr+sizeofDiagReq]
	if typ == unix.SOCK_DIAG_BY_FAMILY {
		r = r[:sizeofNlMsghdr+sizeofDiagReqV2]
	}
	clear(r)
	binary.NativeEndian.PutUint32(r[0:], uint32(len(r)))
	binary.NativeEndian.PutUint16(r[4:], typ)
	binary.NativeEndian.PutUint16(r[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(r[8:], c.seq)
	r[16] = family
	if typ == unix.SOCK_DIAG_BY_FAMILY {
		r[17] = proto
		binary.NativeEndian.PutUint32(r[20:], states)
	} else {
		binary.NativeEndian.PutUint32(r[16+4+48:], states)
	}
	if err := unix.Sendto(c.fd, r, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return dst, fmt.Errorf("sock_diag request: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return dst, fmt.Errorf("sock_diag dump: %w", err)
		}
		var done bool
		dst, done, err = parseDiag(dst, c.buf[:n], proto)
		if err != nil || done {
			return dst, err
		}
	}
}

// recvEvents reads the queued destruction broadcasts, without blocking.
func (c *diagConn) recvEvents(dst []sock, proto uint8) ([]sock, error) {
	n, _, err := unix.Recvfrom(c.fd, c.buf, unix.MSG_DONTWAIT)
	if err != nil {
		if err == unix.EAGAIN || err == unix.EINTR {
			return dst, nil
		}
		if err == unix.ENOBUFS { // overrun: some events lost
			return dst, nil
		}
		return dst, err
	}
	dst, _, err = parseDiag(dst, c.buf[:n], proto)
	return dst, err
}

var errDiagShort = errors.New("sock_diag: short message")

// parseDiag parses netlink messages holding struct inet_diag_msg of
// sockets of the given protocol; done is true at the end of a dump.
func parseDiag(dst []sock, b []byte, proto uint8) (_ []sock, done bool, _ error) {
	for len(b) >= sizeofNlMsghdr {
		l := int(binary.NativeEndian.Uint32(b[0:]))
		typ := binary.NativeEndian.Uint16(b[4:])
		if l < sizeofNlMsghdr || l > len(b) {
			return dst, false, errDiagShort
		}
		msg := b[sizeofNlMsghdr:l]
		b = b[min((l+3)&^3, len(b)):]
		switch typ {
		case unix.NLMSG_DONE:
			return dst, true, nil
		case unix.NLMSG_ERROR:
			if len(msg) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(msg)); e != 0 {
					return dst, true, fmt.Errorf("sock_diag: %w", unix.Errno(-e))
				}
			}
			return dst, true, nil
		case unix.SOCK_DIAG_BY_FAMILY, tcpDiagGetSock:
		default:
			continue
		}
		if len(msg) < sizeofDiagMsg {
			return dst, false, errDiagShort
		}
		id := msg[diagMsgIDOff:]
		family := msg[0]
		var local, remote netip.Addr
		switch family {
		case unix.AF_INET:
			local = netip.AddrFrom4([4]byte(id[diagSockIDSrc:]))
			remote = netip.AddrFrom4([4]byte(id[diagSockIDDst:]))
		case unix.AF_INET6:
			local = netip.AddrFrom16([16]byte(id[diagSockIDSrc:]))
			remote = netip.AddrFrom16([16]byte(id[diagSockIDDst:]))
		default:
			continue
		}
		dst = append(dst, sock{
			local:  netip.AddrPortFrom(local, binary.BigEndian.Uint16(id[diagSockIDSport:])),
			remote: netip.AddrPortFrom(remote, binary.BigEndian.Uint16(id[diagSockIDDport:])),
			proto:  proto,
			inode:  binary.NativeEndian.Uint32(msg[diagMsgInodeOff:]),
		})
	}
	return dst, false, nil
}
