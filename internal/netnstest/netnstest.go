//go:build linux

// Package netnstest builds throw-away network namespaces for tests that need
// real interfaces: live capture tests replay a capture into one end of a
// veth pair and capture on the other, without touching the host's network.
//
// Every namespace is named nfst-PID-N and removed by the test's cleanup,
// also when the test fails; namespaces left behind by a killed test process
// are removed by the next New.
//
// When the host cannot provide this (not root, no iproute2 or tcpreplay, no
// namespaces), tests are skipped, unless the environment variable CI is
// "true": there they fail, so that a broken CI setup is not mistaken for a
// pass.
package netnstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Net is a network namespace holding one veth pair, A and B, both up, with
// IPv6 off and no addresses, so that the kernel sends nothing on its own:
// the only packets on the pair are the ones a test sends.
type Net struct {
	Name string // the namespace's name for "ip netns"
	Path string // its file, for setns(2) or afpacket.Config.Namespace
	A, B string // the two ends of the veth pair
}

var seq atomic.Uint32

// Unavailable skips the test, or fails it when CI=true.
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("CI=true and "+format, args...)
	}
	tb.Skipf(format, args...)
}

// Require checks that the host can run network-namespace tests, with the
// given extra programs on $PATH (for example "tcpreplay"), and skips (or
// fails, with CI=true) the test otherwise.
func Require(tb testing.TB, programs ...string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Unavailable(tb, "network namespace tests need root (CAP_SYS_ADMIN and CAP_NET_ADMIN)")
	}
	for _, p := range append([]string{"ip"}, programs...) {
		if _, err := exec.LookPath(p); err != nil {
			Unavailable(tb, "%s is not installed (Debian: apt-get install -y iproute2 tcpreplay)", p)
		}
	}
}

// New creates a namespace with a veth pair for the test and removes it when
// the test ends. MTU is 65535, so that captures holding frames larger than
// Ethernet's 1514 bytes can be replayed.
func New(tb testing.TB) *Net {
	tb.Helper()
	Require(tb)
	removeStale()
	n := &Net{
		Name: fmt.Sprintf("nfst-%d-%d", os.Getpid(), seq.Add(1)),
		A:    "nfa",
		B:    "nfb",
	}
	n.Path = "/run/netns/" + n.Name
	if out, err := run("ip", "netns", "add", n.Name); err != nil {
		Unavailable(tb, "cannot create a network namespace: %v: %s", err, out)
	}
	tb.Cleanup(func() {
		if out, err := run("ip", "netns", "del", n.Name); err != nil {
			tb.Errorf("removing network namespace %s: %v: %s", n.Name, err, out)
		}
	})
	// Interfaces created from now on have no IPv6 (no router or neighbour
	// solicitations, no MLD reports).
	for _, f := range []string{"all", "default"} {
		n.Exec("sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/"+f+"/disable_ipv6")
	}
	steps := [][]string{
		{"ip", "-n", n.Name, "link", "set", "lo", "up"},
		{"ip", "-n", n.Name, "link", "add", n.A, "mtu", "65535", "type", "veth", "peer", "name", n.B, "mtu", "65535"},
		{"ip", "-n", n.Name, "link", "set", n.A, "up"},
		{"ip", "-n", n.Name, "link", "set", n.B, "up"},
	}
	for _, s := range steps {
		if out, err := run(s[0], s[1:]...); err != nil {
			Unavailable(tb, "setting up veth pair: %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return n
}

// Exec runs a command inside the namespace and returns its combined output.
func (n *Net) Exec(name string, args ...string) ([]byte, error) {
	return run("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Replay sends the capture at path into B with tcpreplay, as fast as
// possible unless args say otherwise (they come before the file, e.g.
// "--loop=3" or "--pps=1000"), and fails the test if tcpreplay does.
func (n *Net) Replay(tb testing.TB, path string, args ...string) {
	tb.Helper()
	Require(tb, "tcpreplay")
	speed := "--topspeed"
	for _, a := range args {
		if strings.HasPrefix(a, "--pps") || strings.HasPrefix(a, "--mbps") || strings.HasPrefix(a, "--multiplier") || a == "-x" || a == "-p" {
			speed = ""
		}
	}
	full := []string{"-q", "-i", n.B}
	if speed != "" {
		full = append(full, speed)
	}
	full = append(append(full, args...), path)
	out, err := n.Exec("tcpreplay", full...)
	if err != nil {
		tb.Fatalf("tcpreplay %s: %v\n%s", strings.Join(full, " "), err, out)
	}
	if bytes.Contains(out, []byte("Unable to send packet")) {
		tb.Fatalf("tcpreplay could not send every packet of %s:\n%s", path, out)
	}
}

// Promiscuity returns the interface's promiscuity counter (0: not
// promiscuous).
func (n *Net) Promiscuity(tb testing.TB, dev string) int {
	tb.Helper()
	out, err := run("ip", "-n", n.Name, "-d", "link", "show", dev)
	if err != nil {
		tb.Fatalf("ip link show %s: %v: %s", dev, err, out)
	}
	f := strings.Fields(string(out))
	for i := range len(f) - 1 {
		if f[i] == "promiscuity" {
			v, err := strconv.Atoi(f[i+1])
			if err != nil {
				tb.Fatalf("ip link show %s: promiscuity %q", dev, f[i+1])
			}
			return v
		}
	}
	tb.Fatalf("ip link show %s: no promiscuity in %q", dev, out)
	return 0
}

// Do runs fn on an OS thread that has entered the namespace. The thread is
// discarded afterwards. Sockets fn opens belong to the namespace; processes
// it starts (exec.Cmd.Start) run in it.
func (n *Net) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		f, err := os.Open(n.Path)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.Path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// removeStale deletes namespaces of earlier test processes that died
// without cleaning up.
func removeStale() {
	out, err := run("ip", "netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "nfst-") {
			continue
		}
		parts := strings.Split(f[0], "-")
		if len(parts) != 3 {
			continue
		}
		pid, err := strconv.Atoi(parts[1])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			run("ip", "netns", "del", f[0])
		}
	}
}
