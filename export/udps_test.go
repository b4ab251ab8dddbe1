package export

import (
	"math"
	"strings"
	"testing"

	"github.com/nfstream-go/nfstream/flow"
)

func TestAppendPyRepr(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "''"},
		{"skynet.local", "'skynet.local'"},
		{"it's", `"it's"`},
		{`say "hi"`, `'say "hi"'`},
		{`it's "x"`, `'it\'s "x"'`},
		{`back\slash`, `'back\\slash'`},
		{"tab\tnl\ncr\r", `'tab\tnl\ncr\r'`},
		{"\x00\x1f\x7f", `'\x00\x1f\x7f'`},
		{"café ü €", "'café ü €'"},
		{"\u00a0\u00ad", `'\xa0\xad'`},
		{"\u2028", `'\u2028'`},
		{"\U000e0001", `'\U000e0001'`},
		{"😀", "'😀'"},
		{"bad\xffbyte", "'bad\ufffdbyte'"},
	} {
		if got := string(AppendPyRepr(nil, c.in)); got != c.want {
			t.Errorf("AppendPyRepr(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestAppendPyValue(t *testing.T) {
	for _, c := range []struct {
		v    flow.Value
		want string
	}{
		{flow.None(), ""},
		{flow.Int(-3), "-3"},
		{flow.Float(0.5), "0.5"},
		{flow.Float(1), "1.0"},
		{flow.Float(math.NaN()), "nan"},
		{flow.String("MsgType.DISCOVER"), "MsgType.DISCOVER"},
		{flow.List(nil), "[]"},
		{flow.List([]int64{0, 1, -1}), "[0, 1, -1]"},
		{flow.Strings([]string{}), "[]"},
		{flow.Strings([]string{"a.local", "b's"}), `['a.local', "b's"]`},
	} {
		if got := string(AppendPyValue(nil, c.v)); got != c.want {
			t.Errorf("%+v: %q, want %q", c.v, got, c.want)
		}
	}
}

func udpsFlow(id uint64, set func(u *flow.UDPS)) *flow.Flow {
	f := &flow.Flow{ID: id, UDPS: &flow.UDPS{}}
	set(f.UDPS)
	return f
}

// TestCSVUDPS writes udps columns: names from the first flow, in creation
// order, after the other columns; a missing name or None is an empty field;
// names only later flows have are not written; text is quoted with RFC 4180
// doubling.
func TestCSVUDPS(t *testing.T) {
	cols := []Column{uintCol("id", func(f *flow.Flow) uint64 { return f.ID })}
	var out strings.Builder
	w := NewCSV(&out, cols)
	flows := []*flow.Flow{
		udpsFlow(0, func(u *flow.UDPS) {
			u.Set("tmp", flow.Int(1))
			u.Set("n", flow.Int(7))
			u.Set("x", flow.Float(2.5))
			u.Set("s", flow.String(`say "hi", ok`))
			u.Set("l", flow.List([]int64{0, 1, -1}))
			u.Set("names", flow.Strings([]string{"a.local", `q"uote`, "it's"}))
			u.Set("none", flow.None())
			u.Delete("tmp")
		}),
		udpsFlow(1, func(u *flow.UDPS) {
			u.Set("names", flow.Strings(nil))
			u.Set("extra", flow.Int(9))
			u.Set("n", flow.Int(8))
		}),
		{ID: 2},
	}
	for _, f := range flows {
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "id,udps.n,udps.x,udps.s,udps.l,udps.names,udps.none\n" +
		`0,7,2.5,"say ""hi"", ok","[0, 1, -1]","['a.local', 'q""uote', ""it's""]",` + "\n" +
		`1,8,,,,"[]",` + "\n" +
		"2,,,,,,\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	if len(cols) != 1 {
		t.Error("NewCSV's columns were modified")
	}
}

// A first flow without udps values gives no udps columns.
func TestCSVNoUDPS(t *testing.T) {
	var out strings.Builder
	w := NewCSV(&out, []Column{uintCol("id", func(f *flow.Flow) uint64 { return f.ID })})
	_ = w.Write(&flow.Flow{ID: 0, UDPS: &flow.UDPS{}})
	_ = w.Write(udpsFlow(1, func(u *flow.UDPS) { u.Set("late", flow.Int(1)) }))
	_ = w.Flush()
	if out.String() != "id\n0\n1\n" {
		t.Errorf("%q", out.String())
	}
}
