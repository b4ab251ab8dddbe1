package ipfix

import (
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/flowtest"
)

// decoded is a data record: values by element ("ID" or "PEN/ID").
type decoded struct {
	template uint16
	values   map[string][]byte
	lists    map[string][]int64
}

type spec struct {
	el     Element
	length uint16
}

// decoder is a minimal IPFIX reader for the tests: it checks every length
// and keeps the templates across messages.
type decoder struct {
	templates map[uint16][]spec
	seq       uint32
	records   []decoded
}

func (d *decoder) message(m []byte) error {
	if len(m) < 16 {
		return fmt.Errorf("message of %d bytes", len(m))
	}
	if v := binary.BigEndian.Uint16(m); v != 10 {
		return fmt.Errorf("version %d", v)
	}
	if l := int(binary.BigEndian.Uint16(m[2:])); l != len(m) {
		return fmt.Errorf("length field %d, message %d", l, len(m))
	}
	if s := binary.BigEndian.Uint32(m[8:]); s != d.seq {
		return fmt.Errorf("sequence %d, want %d", s, d.seq)
	}
	for b := m[16:]; len(b) > 0; {
		if len(b) < 4 {
			return fmt.Errorf("set header of %d bytes", len(b))
		}
		id, l := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if l < 4 || l > len(b) {
			return fmt.Errorf("set length %d of %d", l, len(b))
		}
		body := b[4:l]
		b = b[l:]
		if id == 2 {
			if err := d.templateSet(body); err != nil {
				return err
			}
			continue
		}
		tmpl, ok := d.templates[id]
		if !ok {
			return fmt.Errorf("data set %d before its template", id)
		}
		for len(body) > 0 {
			r := decoded{template: id, values: map[string][]byte{}, lists: map[string][]int64{}}
			for _, s := range tmpl {
				n := int(s.length)
				if s.length == varLen {
					if len(body) < 1 {
						return fmt.Errorf("short varlen")
					}
					n, body = int(body[0]), body[1:]
					if n == 255 {
						if len(body) < 2 {
							return fmt.Errorf("short varlen")
						}
						n, body = int(binary.BigEndian.Uint16(body)), body[2:]
					}
				}
				if n > len(body) {
					return fmt.Errorf("field %v of %d bytes, %d left", s.el, n, len(body))
				}
				v := body[:n]
				body = body[n:]
				if s.el.ID == ieBasicList && s.el.PEN == 0 {
					key, items, err := basicList(v)
					if err != nil {
						return err
					}
					r.lists[key] = items
					continue
				}
				r.values[s.el.String()] = v
			}
			d.records = append(d.records, r)
			d.seq++
		}
	}
	return nil
}

func readSpec(b []byte) (Element, uint16, []byte, error) {
	if len(b) < 4 {
		return Element{}, 0, nil, fmt.Errorf("short field specifier")
	}
	el := Element{ID: binary.BigEndian.Uint16(b) &^ 0x8000}
	l := binary.BigEndian.Uint16(b[2:])
	ent := b[0]&0x80 != 0
	b = b[4:]
	if ent {
		if len(b) < 4 {
			return Element{}, 0, nil, fmt.Errorf("short PEN")
		}
		el.PEN, b = binary.BigEndian.Uint32(b), b[4:]
	}
	return el, l, b, nil
}

func (d *decoder) templateSet(b []byte) error {
	for len(b) >= 4 {
		id, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		b = b[4:]
		var specs []spec
		for range n {
			el, l, rest, err := readSpec(b)
			if err != nil {
				return err
			}
			specs, b = append(specs, spec{el, l}), rest
		}
		d.templates[id] = specs
	}
	if len(b) != 0 {
		return fmt.Errorf("%d bytes after the templates", len(b))
	}
	return nil
}

func basicList(v []byte) (string, []int64, error) {
	if len(v) < 1 {
		return "", nil, fmt.Errorf("empty basicList")
	}
	el, l, items, err := readSpec(v[1:])
	if err != nil {
		return "", nil, err
	}
	if l == 0 || len(items)%int(l) != 0 {
		return "", nil, fmt.Errorf("basicList of %d bytes, items of %d", len(items), l)
	}
	var out []int64
	for ; len(items) > 0; items = items[l:] {
		var u uint64
		for _, c := range items[:l] {
			u = u<<8 | uint64(c)
		}
		shift := 64 - 8*uint(l)
		out = append(out, int64(u<<shift)>>shift)
	}
	return el.String(), out, nil
}

func u(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// listen returns a loopback UDP socket whose datagrams are fed to a
// decoder until the returned function is called, which returns it.
func listen(t *testing.T) (string, func() *decoder) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &decoder{templates: map[uint16][]spec{}}
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 65535)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				done <- nil
				return
			}
			if err := d.message(append([]byte(nil), buf[:n]...)); err != nil {
				done <- err
				return
			}
		}
	}()
	return pc.LocalAddr().String(), func() *decoder {
		time.Sleep(100 * time.Millisecond) // the last datagrams
		pc.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return d
	}
}

func TestEncodeDecode(t *testing.T) {
	for _, name := range []string{"steam.pcap", "http_ipv6.pcap"} {
		t.Run(name, func(t *testing.T) {
			flows, cols := flowtest.Capture(t, name)
			addr, stop := listen(t)
			w, err := New(Config{Addr: addr, ObservationDomainID: 7}, cols)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range flows {
				if err := w.Write(f); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			d := stop()
			if len(d.records) != len(flows) {
				t.Fatalf("%d records, want %d", len(d.records), len(flows))
			}
			if c := w.Counters(); c.Records != uint64(len(flows)) || c.Dropped != 0 {
				t.Errorf("counters %+v", c)
			}
			for i, f := range flows {
				checkRecord(t, f, cols, d.records[i])
			}
		})
	}
}

func checkRecord(t *testing.T, f *flow.Flow, cols []export.Column, r decoded) {
	t.Helper()
	v6 := f.IPVersion == 6
	if want := map[bool]uint16{false: TemplateIPv4, true: TemplateIPv6}[v6]; r.template != want {
		t.Errorf("flow %d: template %d, want %d", f.ID, r.template, want)
	}
	src, dst := "8", "12"
	if v6 {
		src, dst = "27", "28"
	}
	if a, _ := netip.AddrFromSlice(r.values[src]); a != f.SrcIP.Unmap() && a != f.SrcIP {
		t.Errorf("flow %d: source %v, want %v", f.ID, a, f.SrcIP)
	}
	if a, _ := netip.AddrFromSlice(r.values[dst]); a != f.DstIP.Unmap() && a != f.DstIP {
		t.Errorf("flow %d: destination %v, want %v", f.ID, a, f.DstIP)
	}
	if string(r.values["56"]) != string(f.SrcMAC[:]) || string(r.values["80"]) != string(f.DstMAC[:]) {
		t.Errorf("flow %d: MACs", f.ID)
	}
	if got := u(r.values["136"]); got != endReason(int64(f.ExpirationID)) {
		t.Errorf("flow %d: flowEndReason %d", f.ID, got)
	}
	// Every other exported column, by its accessor.
	for _, c := range cols {
		el, ok := ElementOf(c.Name)
		if !ok || c.Name == "src_ip" || c.Name == "dst_ip" || c.Name == "src_mac" || c.Name == "dst_mac" || c.Name == "expiration_id" {
			continue
		}
		key := el.String()
		switch el.Type {
		case Unsigned:
			if got := u(r.values[key]); got != uint64(c.Int(f)) {
				t.Errorf("flow %d: %s (%s) = %d, want %d", f.ID, c.Name, key, got, c.Int(f))
			}
		case Float64:
			got := math.Float64frombits(u(r.values[key]))
			if want := c.Float(f); got != want && !(math.IsNaN(got) && math.IsNaN(want)) {
				t.Errorf("flow %d: %s = %v, want %v", f.ID, c.Name, got, want)
			}
		case Text:
			if got, want := string(r.values[key]), string(c.String(nil, f)); got != want {
				t.Errorf("flow %d: %s = %q, want %q", f.ID, c.Name, got, want)
			}
		case BasicList:
			got, want := r.lists[el.List.String()], c.List(nil, f)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("flow %d: %s = %v, want %v", f.ID, c.Name, got, want)
			}
		}
	}
}

// TestTemplateRefresh: over UDP the templates come again every N messages.
func TestTemplateRefresh(t *testing.T) {
	flows, cols := flowtest.Capture(t, "steam.pcap")
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	w, err := New(Config{Addr: pc.LocalAddr().String(), TemplateRefreshMessages: 2, MaxMessageSize: 512}, cols[:13])
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flows {
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	msgs := int(w.Counters().Messages)
	withTmpl, since, most := 0, 0, 0
	buf := make([]byte, 65535)
	pc.SetReadDeadline(time.Now().Add(2 * time.Second))
	for range msgs {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if n > 20 && binary.BigEndian.Uint16(buf[16:]) == 2 {
			withTmpl, since = withTmpl+1, 0
			continue
		}
		since++
		most = max(most, since)
	}
	// Messages without templates come at most two in a row.
	if msgs < 6 || withTmpl < 3 || most > 2 {
		t.Errorf("%d messages, %d with templates, up to %d in a row without", msgs, withTmpl, most)
	}
}

func TestTCP(t *testing.T) {
	flows, cols := flowtest.Capture(t, "steam.pcap")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan *decoder, 1)
	go func() {
		d := &decoder{templates: map[uint16][]spec{}}
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		for {
			var h [4]byte
			if _, err := readFull(c, h[:]); err != nil {
				got <- d
				return
			}
			m := make([]byte, binary.BigEndian.Uint16(h[2:]))
			copy(m, h[:])
			if _, err := readFull(c, m[4:]); err != nil {
				got <- nil
				return
			}
			if err := d.message(m); err != nil {
				t.Error(err)
				got <- nil
				return
			}
		}
	}()
	w, err := New(Config{Addr: ln.Addr().String(), Transport: "tcp"}, cols)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flows {
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	d := <-got
	if d == nil || len(d.records) != len(flows) {
		t.Fatalf("decoded %v", d)
	}
	for i, f := range flows {
		checkRecord(t, f, cols, d.records[i])
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := c.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestValidate(t *testing.T) {
	c := Config{Addr: "nohostport", Transport: "sctp", MaxMessageSize: 10}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"nohostport", "sctp", "max message size 10"} {
		if !contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub))
}
