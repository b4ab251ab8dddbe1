package plugins_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/plugins"
	"github.com/nfstream-go/nfstream/plugins/dhcp"
	"github.com/nfstream-go/nfstream/plugins/flowslicer"
	"github.com/nfstream-go/nfstream/plugins/ja4"
	"github.com/nfstream-go/nfstream/plugins/mdns"
	"github.com/nfstream-go/nfstream/plugins/splt"
)

func TestBuild(t *testing.T) {
	r := plugins.Builtins()
	for _, c := range []struct {
		spec string
		want flow.Plugin
	}{
		{"splt", &splt.SPLT{SequenceLength: 5}},
		{"splt:sequence_length=10", &splt.SPLT{SequenceLength: 10}},
		{" splt: sequence_length = 10 , accounting_mode=1 ", &splt.SPLT{SequenceLength: 10, AccountingMode: 1}},
		{"flowslicer:limit=4", &flowslicer.FlowSlicer{Limit: 4}},
		{"dhcp", &dhcp.DHCP{}},
		{"mdns:", &mdns.MDNS{}},
		{"ja4", &ja4.JA4{MaxPackets: ja4.DefaultMaxPackets}},
		{"ja4:max_packets=8", &ja4.JA4{MaxPackets: 8}},
	} {
		p, err := r.Build(c.spec)
		if err != nil {
			t.Errorf("%q: %v", c.spec, err)
			continue
		}
		ok := false
		switch w := c.want.(type) {
		case *splt.SPLT:
			g, is := p.(*splt.SPLT)
			ok = is && *g == *w
		case *flowslicer.FlowSlicer:
			g, is := p.(*flowslicer.FlowSlicer)
			ok = is && *g == *w
		case *dhcp.DHCP:
			_, ok = p.(*dhcp.DHCP)
		case *mdns.MDNS:
			_, ok = p.(*mdns.MDNS)
		case *ja4.JA4:
			g, is := p.(*ja4.JA4)
			ok = is && g.MaxPackets == w.MaxPackets
		}
		if !ok {
			t.Errorf("%q: built %#v, want %#v", c.spec, p, c.want)
		}
	}
	a, _ := r.Build("dhcp")
	b, _ := r.Build("dhcp")
	if a == b {
		t.Error("two builds share one value")
	}
}

func TestBuildErrors(t *testing.T) {
	r := plugins.Builtins()
	for _, c := range []struct {
		spec string
		err  error
		text string
	}{
		{"nope", plugins.ErrUnknown, "known: splt, flowslicer, dhcp, mdns, ja4"},
		{"", plugins.ErrUnknown, ""},
		{"splt:length=3", plugins.ErrParameter, "splt has no parameter \"length\" (it takes sequence_length, accounting_mode)"},
		{"splt:sequence_length", plugins.ErrParameter, "not name=value"},
		{"splt:sequence_length=x", plugins.ErrParameter, "not an integer"},
		{"splt:sequence_length=0", splt.ErrInvalid, "sequence_length 0"},
		{"splt:sequence_length=5,sequence_length=6", plugins.ErrParameter, "given twice"},
		{"splt:accounting_mode=4", plugins.ErrParameter, "accounting_mode 4"},
		{"flowslicer", plugins.ErrParameter, "flowslicer needs limit"},
		{"flowslicer:limit=0", flowslicer.ErrInvalid, "limit 0"},
		{"dhcp:x=1", plugins.ErrParameter, "it takes none"},
		{"ja4:max_packets=0", plugins.ErrParameter, "max_packets=0"},
	} {
		_, err := r.Build(c.spec)
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%q: %v; want %v containing %q", c.spec, err, c.err, c.text)
		}
	}
	if _, err := r.BuildAll([]string{"ja4", "bad"}); !errors.Is(err, plugins.ErrUnknown) {
		t.Errorf("BuildAll: %v", err)
	}
	if ps, err := r.BuildAll([]string{"ja4", "splt:sequence_length=10"}); err != nil || len(ps) != 2 {
		t.Errorf("BuildAll: %v %v", ps, err)
	}
}

func TestRegister(t *testing.T) {
	r := plugins.Builtins()
	if err := r.Register(plugins.Builtin{Name: "ja4", New: func(map[string]string) (flow.Plugin, error) { return nil, nil }}); !errors.Is(err, plugins.ErrDuplicate) {
		t.Errorf("duplicate: %v", err)
	}
	for _, bad := range []plugins.Builtin{{Name: "a:b", New: func(map[string]string) (flow.Plugin, error) { return nil, nil }}, {Name: "x"}} {
		if err := r.Register(bad); err == nil {
			t.Errorf("%q accepted", bad.Name)
		}
	}
	type mine struct{ flow.BasePlugin }
	if err := r.Register(plugins.Builtin{Name: "mine", New: func(map[string]string) (flow.Plugin, error) { return &mine{}, nil }}); err != nil {
		t.Fatal(err)
	}
	if p, err := r.Build("mine"); err != nil || p == nil {
		t.Errorf("mine: %v", err)
	}
	if len(plugins.Builtins().List()) != 5 {
		t.Error("Builtins shares state between registries")
	}
}

func TestWriteList(t *testing.T) {
	var b strings.Builder
	if err := plugins.Builtins().WriteList(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"splt\n", "    sequence_length: number of packets recorded, 1 to 65535 (default 5)\n",
		"    columns: udps.splt_direction, udps.splt_ps, udps.splt_piat_ms\n",
		"flowslicer\n", "    limit: packets per flow, at least 1 (required)\n    columns: none\n",
		"udps.dhcp_12, udps.dhcp_50", "udps.mdns_ptr",
		"    columns: udps.ja4, udps.ja4_r, udps.ja4_o, udps.ja4_ro\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("list lacks %q:\n%s", want, b.String())
		}
	}
}
