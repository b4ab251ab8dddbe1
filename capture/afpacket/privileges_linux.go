//go:build linux

package afpacket

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DropPrivileges gives up the privileges a capture no longer needs once its
// sockets are open: open sockets keep working, new ones cannot be opened.
// It affects the whole process, every thread, for good.
//
// With a user name (or numeric uid), the process switches to that user and
// its primary group, with no supplementary groups (setgroups, setgid,
// setuid): it keeps no capability at all. This needs root (or CAP_SETUID and
// CAP_SETGID) and works in every build.
//
// With "", the process stays who it is but keeps only CAP_NET_RAW (if it
// had it), dropping every other capability from its permitted, effective,
// inheritable and ambient sets. Changing the capabilities of every thread
// is only possible in builds without cgo: in builds with cgo (nDPI, BPF
// filters) it returns an error wrapping ErrNotSupported and changes nothing;
// give a user name instead.
//
// DropPrivileges may be called from any goroutine, but nothing should open
// files or sockets meanwhile.
func DropPrivileges(username string) error {
	if username != "" {
		return switchUser(username)
	}
	return keepNetRaw()
}

func switchUser(name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		var uerr user.UnknownUserError
		if _, nerr := strconv.Atoi(name); nerr == nil || errors.As(err, &uerr) {
			if u2, err2 := user.LookupId(name); err2 == nil {
				u, err = u2, nil
			}
		}
		if err != nil {
			return fmt.Errorf("dropping privileges: %w", err)
		}
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("dropping privileges: user %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return fmt.Errorf("dropping privileges: user %s: gid %q: %w", name, u.Gid, err)
	}
	// The syscall package applies these to every thread, with or without cgo.
	if err := syscall.Setgroups([]int{}); err != nil {
		return fmt.Errorf("dropping privileges: clearing supplementary groups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("dropping privileges: setgid %d: %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("dropping privileges: setuid %d: %w", uid, err)
	}
	if os.Getuid() != uid || os.Geteuid() != uid || os.Getgid() != gid || os.Getegid() != gid {
		return fmt.Errorf("dropping privileges: still uid %d/%d gid %d/%d", os.Getuid(), os.Geteuid(), os.Getgid(), os.Getegid())
	}
	return nil
}

func keepNetRaw() error {
	hdr := &unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := new([2]unix.CapUserData)
	if err := unix.Capget(hdr, &data[0]); err != nil {
		return fmt.Errorf("dropping privileges: reading capabilities: %w", err)
	}
	const raw = 1 << unix.CAP_NET_RAW
	keep := data[0].Permitted & raw
	*data = [2]unix.CapUserData{{Effective: keep, Permitted: keep}}
	hdr.Pid = 0
	_, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	runtime.KeepAlive(hdr)
	runtime.KeepAlive(data)
	if e == syscall.ENOTSUP {
		return fmt.Errorf("dropping privileges: keeping only CAP_NET_RAW on every thread needs a build without cgo; give a user to switch to instead: %w", ErrNotSupported)
	}
	if e != 0 {
		return fmt.Errorf("dropping privileges: capset: %w", e)
	}
	// Ambient capabilities not in the permitted set are gone already; be
	// explicit for the others.
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); e != 0 && e != syscall.EINVAL {
		return fmt.Errorf("dropping privileges: clearing ambient capabilities: %w", e)
	}
	return nil
}
