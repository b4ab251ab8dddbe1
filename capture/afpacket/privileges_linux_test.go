//go:build linux

package afpacket_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfstream-go/nfstream/capture"
	"github.com/nfstream-go/nfstream/capture/afpacket"
	"github.com/nfstream-go/nfstream/filter"
	"github.com/nfstream-go/nfstream/internal/netnstest"

	"golang.org/x/sys/unix"
)

// The privilege tests run in child processes (this test binary again): a
// privilege drop is for good and for the whole process.
const childEnv = "AFPACKET_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := child(mode); err != nil {
			fmt.Println("FAIL:", err)
			os.Exit(1)
		}
		fmt.Println("OK")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild runs this binary in the namespace in the given child mode, with
// the given credentials and ambient capabilities, and checks it succeeds.
func runChild(t *testing.T, n *netnstest.Net, mode string, attr *syscall.SysProcAttr, bin string) string {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	cmd.SysProcAttr = attr
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Started from a thread inside the namespace, the child lives there.
	if err := n.Do(cmd.Start); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if err != nil || !strings.HasSuffix(out.String(), "OK\n") {
		t.Fatalf("child %s: %v\n%s", mode, err, out.String())
	}
	return out.String()
}

func cgoBuild() bool {
	_, err := filter.Compile("udp", 1, 0)
	return !errors.Is(err, filter.ErrNotSupported)
}

// TestDropPrivileges checks both ways of dropping privileges after the
// socket is open: the socket still captures, no new one can be opened.
func TestDropPrivileges(t *testing.T) {
	netnstest.Require(t)
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("user", func(t *testing.T) {
		n := netnstest.New(t)
		runChild(t, n, "drop-user", nil, bin)
	})
	t.Run("keep CAP_NET_RAW", func(t *testing.T) {
		n := netnstest.New(t)
		out := runChild(t, n, "drop-caps", nil, bin)
		t.Log(strings.TrimSpace(out))
	})
}

// TestUnprivileged checks the documented way to run without root: a user
// with CAP_NET_RAW only (as "setcap cap_net_raw+eip" gives) can open a
// promiscuous fanout group with a filter, and capture.
func TestUnprivileged(t *testing.T) {
	n := netnstest.New(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the test binary that user nobody can run.
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	bin := filepath.Join(dir, "afpacket.test")
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	runChild(t, n, "unprivileged", &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}},
		AmbientCaps: []uintptr{unix.CAP_NET_RAW},
	}, bin)
}

// child is the body of the child processes; it runs inside a test
// namespace.
func child(mode string) error {
	switch mode {
	case "drop-user":
		s, err := afpacket.Open(afpacket.Config{Interface: "lo"})
		if err != nil {
			return err
		}
		if err := afpacket.DropPrivileges("nobody"); err != nil {
			return err
		}
		if os.Getuid() != 65534 || os.Geteuid() != 65534 || os.Getgid() != 65534 {
			return fmt.Errorf("uid %d euid %d gid %d after the drop", os.Getuid(), os.Geteuid(), os.Getgid())
		}
		if g, err := os.Getgroups(); err != nil || len(g) != 0 {
			return fmt.Errorf("supplementary groups %v (%v) after the drop", g, err)
		}
		if err := threadCaps(0); err != nil {
			return err
		}
		return stillCaptures(s)
	case "drop-caps":
		s, err := afpacket.Open(afpacket.Config{Interface: "lo"})
		if err != nil {
			return err
		}
		err = afpacket.DropPrivileges("")
		if cgoBuild() {
			if !errors.Is(err, afpacket.ErrNotSupported) {
				return fmt.Errorf("cgo build: DropPrivileges(\"\") = %v, want ErrNotSupported", err)
			}
			fmt.Println("cgo build: keeping only CAP_NET_RAW is not supported, as documented")
			return threadCaps(-1) // nothing changed
		}
		if err != nil {
			return err
		}
		if err := threadCaps(1 << unix.CAP_NET_RAW); err != nil {
			return err
		}
		fmt.Println("every thread keeps CAP_NET_RAW only")
		// CAP_NET_RAW is kept: opening still works.
		s2, err := afpacket.Open(afpacket.Config{Interface: "lo"})
		if err != nil {
			return fmt.Errorf("opening with CAP_NET_RAW kept: %w", err)
		}
		s2.Close()
		return capture1(s)
	case "unprivileged":
		if os.Geteuid() == 0 {
			return errors.New("running as root")
		}
		cfg := afpacket.Config{Interface: "lo", Promiscuous: true}
		if cgoBuild() {
			cfg.Filter = "udp"
		}
		socks, err := afpacket.OpenGroup(cfg, 2)
		if err != nil {
			return err
		}
		if err := sendUDP1("unprivileged"); err != nil {
			return err
		}
		deadline := time.Now().Add(2 * time.Second)
		var rec capture.Record
		for time.Now().Before(deadline) {
			for _, s := range socks {
				err := s.NextTimeout(&rec)
				if err == nil && bytes.HasSuffix(rec.Data, []byte("unprivileged")) {
					return nil
				}
				if err != nil && !errors.Is(err, afpacket.ErrTimeout) {
					return err
				}
			}
		}
		return errors.New("datagram not captured")
	}
	return fmt.Errorf("unknown child mode %q", mode)
}

// stillCaptures checks that s works after a drop and that no new socket
// can be opened.
func stillCaptures(s *afpacket.Socket) error {
	if _, err := afpacket.Open(afpacket.Config{Interface: "lo"}); !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("opening a socket after the drop: %v, want EPERM", err)
	}
	return capture1(s)
}

// capture1 sends a datagram on lo and checks s captures it.
func capture1(s *afpacket.Socket) error {
	if err := sendUDP1("after the drop"); err != nil {
		return err
	}
	var rec capture.Record
	for range 20 {
		err := s.NextTimeout(&rec)
		if err == nil && bytes.HasSuffix(rec.Data, []byte("after the drop")) {
			if _, err := s.Stats(); err != nil {
				return err
			}
			return nil
		}
		if err != nil && !errors.Is(err, afpacket.ErrTimeout) {
			return err
		}
	}
	return errors.New("datagram not captured after the drop")
}

func sendUDP1(payload string) error {
	c, err := net.Dial("udp", "127.0.0.1:9")
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(payload))
	return err
}

// threadCaps checks that every thread's effective and permitted
// capabilities are want (-1: not checked, only read).
func threadCaps(want int64) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/status")
		if err != nil {
			continue // the thread exited
		}
		for _, line := range strings.Split(string(b), "\n") {
			name, val, ok := strings.Cut(line, ":")
			if !ok || (name != "CapEff" && name != "CapPrm") {
				continue
			}
			v, err := strconv.ParseInt(strings.TrimSpace(val), 16, 64)
			if err != nil {
				return err
			}
			if want >= 0 && v != want {
				return fmt.Errorf("thread %s: %s %#x, want %#x", task.Name(), name, v, want)
			}
		}
	}
	return nil
}
