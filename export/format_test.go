package export

import (
	"net/netip"
	"testing"
)

func TestAppendPyFloat(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want string
	}{
		{0, "0.0"},
		{1, "1.0"},
		{-2.5, "-2.5"},
		{80.49999999999999, "80.49999999999999"},
		{310.57142857142856, "310.57142857142856"},
		{1e-05, "1e-05"},
		{0.0001, "0.0001"},
		{1.5e16, "1.5e+16"},
		{1e16, "1e+16"},
		{1e15, "1000000000000000.0"},
		{123456789012345.6, "123456789012345.6"},
		{1.2345e-7, "1.2345e-07"},
		{1e100, "1e+100"},
		{0.5, "0.5"},
	} {
		if got := string(AppendPyFloat(nil, c.in)); got != c.want {
			t.Errorf("AppendPyFloat(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestAppendIP(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"192.168.1.1", "192.168.1.1"},
		{"::", "::"},
		{"::1", "::1"},
		{"::10.1.2.3", "::10.1.2.3"},
		{"::ffff:10.1.2.3", "::ffff:10.1.2.3"},
		{"2001:db8::1", "2001:db8::1"},
		{"2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"},
		{"2001:0:0:1:0:0:1:1", "2001::1:0:0:1:1"},
		{"fe80:0:0:1::", "fe80:0:0:1::"},
		{"fe80::1:0:0:0", "fe80::1:0:0:0"},
		{"1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"},
		{"::2:3:4:5:6:7", "::2:3:4:5:6:7"},
		{"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"},
	} {
		a := netip.MustParseAddr(c.in)
		if got := string(AppendIP(nil, a)); got != c.want {
			t.Errorf("AppendIP(%s) = %q, want %q", c.in, got, c.want)
		}
	}
}
