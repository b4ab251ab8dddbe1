package nfstream_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nfstream-go/nfstream"
	"github.com/nfstream-go/nfstream/decode"
	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
	"github.com/nfstream-go/nfstream/plugins"
	"github.com/nfstream-go/nfstream/plugins/dhcp"
	"github.com/nfstream-go/nfstream/plugins/flowslicer"
	"github.com/nfstream-go/nfstream/plugins/mdns"
	"github.com/nfstream-go/nfstream/plugins/splt"
)

// withPlugins runs a streamer over one capture (a corpus file name, or a
// path) and returns its flows, and the same flows written by the given
// export format, decoded into one map per row.
func withPlugins(t *testing.T, opts nfstream.Options, pcap string, format export.Format) ([]*nfstream.Flow, []map[string]any) {
	t.Helper()
	if !filepath.IsAbs(pcap) {
		pcap = testcorpus.Pcap(t, pcap)
	}
	s, err := nfstream.New([]string{pcap}, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w, err := export.New(&out, s.Columns(), export.Options{Format: format})
	if err != nil {
		t.Fatal(err)
	}
	var flows []*nfstream.Flow
	for f, err := range s.Flows(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		flows = append(flows, f)
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	switch format {
	case export.FormatCSV:
		recs, err := csv.NewReader(&out).ReadAll()
		if err != nil {
			t.Fatalf("CSV: %v\n%s", err, out.String())
		}
		for _, r := range recs[1:] {
			row := map[string]any{}
			for i, name := range recs[0] {
				row[name] = r[i]
			}
			rows = append(rows, row)
		}
	case export.FormatJSONL:
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			row := map[string]any{}
			if err := json.Unmarshal([]byte(line), &row); err != nil {
				t.Fatalf("JSON Lines: %v: %s", err, line)
			}
			rows = append(rows, row)
		}
	}
	if len(rows) != len(flows) {
		t.Fatalf("%d rows for %d flows", len(rows), len(flows))
	}
	return flows, rows
}

func pluginOpts(pl ...flow.Plugin) nfstream.Options {
	o := nfstream.DefaultOptions()
	o.NDissections = 0
	o.NMeters = 1
	o.Plugins = pl
	return o
}

// sortBySrcIP orders rows as pandas' sort_values("src_ip") does on the
// text of the addresses (stably).
func sortBySrcIP(rows []map[string]any) {
	sort.SliceStable(rows, func(i, j int) bool { return rows[i]["src_ip"].(string) < rows[j]["src_ip"].(string) })
}

// TestExpirationManagementPlugins is the FlowSlicer half of NFStream's
// test_expiration_management (the timeout half is TestExpirationManagement):
// google_ssl.pcap is one 28-packet TCP flow.
func TestExpirationManagementPlugins(t *testing.T) {
	for _, c := range []struct {
		limit  int
		lastID uint64
	}{{1, 27}, {4, 6}} {
		flows, rows := withPlugins(t, pluginOpts(&flowslicer.FlowSlicer{Limit: c.limit}), "google_ssl.pcap", export.FormatCSV)
		last := len(flows) - 1
		if flows[last].ID != c.lastID || rows[last]["id"] != strconv.FormatUint(c.lastID, 10) {
			t.Errorf("limit %d: %d flows, last id %d; want last id %d", c.limit, len(flows), flows[last].ID, c.lastID)
		}
		for k := range rows[0] {
			if strings.HasPrefix(k, "udps.") {
				t.Errorf("limit %d: column %s", c.limit, k)
			}
		}
		for i, f := range flows {
			if f.BidirectionalPackets != uint64(c.limit) || f.ExpirationID != -1 || rows[i]["expiration_id"] != "-1" {
				t.Errorf("limit %d: flow %d has %d packets, expiration_id %d", c.limit, i, f.BidirectionalPackets, f.ExpirationID)
			}
		}
	}
}

// TestSPLTPlugin is NFStream's test_splt, checked on the flow and in the
// CSV: the plugin's sequences equal the native ones.
func TestSPLTPlugin(t *testing.T) {
	o := pluginOpts(&splt.SPLT{SequenceLength: 5, AccountingMode: 0})
	o.SPLTAnalysis = 5
	flows, rows := withPlugins(t, o, "google_ssl.pcap", export.FormatCSV)
	if len(flows) != 1 {
		t.Fatalf("%d flows", len(flows))
	}
	want := map[string]string{
		"udps.splt_direction": "[0, 1, 0, 0, 1]",
		"udps.splt_ps":        "[58, 60, 54, 180, 60]",
		"udps.splt_piat_ms":   "[0, 34, 134, 144, 35]",
		"splt_direction":      "[0, 1, 0, 0, 1]",
		"splt_ps":             "[58, 60, 54, 180, 60]",
		"splt_piat_ms":        "[0, 34, 134, 144, 35]",
	}
	for k, v := range want {
		if rows[0][k] != v {
			t.Errorf("%s = %v, want %s", k, rows[0][k], v)
		}
	}
	// The udps columns come last, after the native ones, in creation order.
	s, _ := nfstream.New([]string{testcorpus.Pcap(t, "google_ssl.pcap")}, o)
	base := export.Names(s.Columns())
	var header []string
	for k := range rows[0] {
		header = append(header, k)
	}
	if len(header) != len(base)+3 {
		t.Errorf("%d columns, want %d + 3", len(header), len(base))
	}
	native := flows[0].SPLT
	v, _ := flows[0].UDPS.Get(splt.PS)
	for i := range native.PS {
		if int64(native.PS[i]) != v.List[i] {
			t.Errorf("splt_ps[%d]: native %d, plugin %d", i, native.PS[i], v.List[i])
		}
	}
}

// TestDHCPPlugin is NFStream's test_dhcp, through the CSV writer.
func TestDHCPPlugin(t *testing.T) {
	_, rows := withPlugins(t, pluginOpts(&dhcp.DHCP{}), "dhcp.pcap", export.FormatCSV)
	sortBySrcIP(rows)
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	if rows[0]["udps.dhcp_msg_type"] != "MsgType.DISCOVER" {
		t.Errorf("row 0: dhcp_msg_type %v", rows[0]["udps.dhcp_msg_type"])
	}
	for k, v := range map[string]string{
		"udps.dhcp_50":       "192.168.0.10",
		"udps.dhcp_55":       "1,3,6,42",
		"udps.dhcp_options":  "[53, 61, 50, 54, 55]",
		"udps.dhcp_msg_type": "MsgType.REQUEST",
		"udps.dhcp_oui":      "00:0b:82",
		"udps.dhcp_12":       "", // None: an empty field
	} {
		if rows[1][k] != v {
			t.Errorf("row 1: %s = %q, want %q", k, rows[1][k], v)
		}
	}
}

var skynet = []string{"skynet.local", "skynet [00:1a:ef:17:c3:05]._workstation._tcp.local",
	"recombinator_mpd._mpd._tcp.local", "_mpd._tcp.local", "skynet._udisks-ssh._tcp.local",
	"_udisks-ssh._tcp.local", "_workstation._tcp.local"}

// TestMDNSPlugin is NFStream's test_mdns, through the CSV writer (Python's
// list text) and the JSON Lines writer (an array).
func TestMDNSPlugin(t *testing.T) {
	_, rows := withPlugins(t, pluginOpts(&mdns.MDNS{}), "mdns.pcap", export.FormatCSV)
	sortBySrcIP(rows)
	want := "['skynet.local', 'skynet [00:1a:ef:17:c3:05]._workstation._tcp.local', 'recombinator_mpd._mpd._tcp.local', " +
		"'_mpd._tcp.local', 'skynet._udisks-ssh._tcp.local', '_udisks-ssh._tcp.local', '_workstation._tcp.local']"
	if rows[0]["udps.mdns_ptr"] != want {
		t.Errorf("row 0: udps.mdns_ptr = %v\nwant %s", rows[0]["udps.mdns_ptr"], want)
	}
	_, rows = withPlugins(t, pluginOpts(&mdns.MDNS{}), "mdns.pcap", export.FormatJSONL)
	sortBySrcIP(rows)
	var got []string
	for _, v := range rows[0]["udps.mdns_ptr"].([]any) {
		got = append(got, v.(string))
	}
	if !slices.Equal(got, skynet) {
		t.Errorf("JSON Lines row 0: %q", got)
	}
}

// TestRegistryPlugins builds plugins by name as the command does, JA4
// included, and checks their columns in the CSV.
func TestRegistryPlugins(t *testing.T) {
	pl, err := plugins.Builtins().BuildAll([]string{"ja4", "splt:sequence_length=3,accounting_mode=1"})
	if err != nil {
		t.Fatal(err)
	}
	pcap := filepath.Join(testcorpus.Root(t), "testdata", "ja4", "pcap", "tls12.pcap")
	_, rows := withPlugins(t, pluginOpts(pl...), pcap, export.FormatCSV)
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	for k, v := range map[string]string{
		"udps.ja4":            "t13d1715h2_5b57614c22b0_3d5424432f57",
		"udps.ja4_o":          "t13d1715h2_5b234860e130_014157ec0da2",
		"udps.splt_ps":        "[557, -1, -1]", // the capture holds the ClientHello only
		"udps.ja4_r":          "t13d1715h2_002f,0035,009c,009d,1301,1302,1303,c009,c00a,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0015,0017,001c,0022,0023,002b,002d,0033,ff01_0403,0503,0603,0804,0805,0806,0401,0501,0601,0203,0201",
		"udps.ja4_ro":         "t13d1715h2_1301,1303,1302,c02b,c02f,cca9,cca8,c02c,c030,c00a,c009,c013,c014,009c,009d,002f,0035_0000,0017,ff01,000a,000b,0023,0010,0005,0022,0033,002b,000d,002d,001c,0015_0403,0503,0603,0804,0805,0806,0401,0501,0601,0203,0201",
		"udps.splt_direction": "[0, -1, -1]",
	} {
		if rows[0][k] != v {
			t.Errorf("%s = %q, want %q", k, rows[0][k], v)
		}
	}
}

// emptyPlugin does nothing: the cost of the plugin machinery alone.
type emptyPlugin struct{ flow.BasePlugin }

// meterPackets returns a meter and a packet of an established flow.
func meterPackets(pl []flow.Plugin) (*flow.Meter, *decode.Packet) {
	m := flow.NewMeter(flow.Config{IdleTimeoutMs: 120_000, ActiveTimeoutMs: 1_800_000, Plugins: pl}, func(*flow.Flow) {})
	p := &decode.Packet{IPVersion: 4, Protocol: 6, SrcPort: 1234, DstPort: 443, RawSize: 60, IPSize: 46}
	p.SrcIP[0], p.DstIP[0] = 10, 11
	m.Process(p)
	return m, p
}

// TestEmptyPluginAllocs checks that the plugin hooks cost no allocation
// per packet.
func TestEmptyPluginAllocs(t *testing.T) {
	m, p := meterPackets([]flow.Plugin{&emptyPlugin{}})
	if n := testing.AllocsPerRun(1000, func() { m.Process(p) }); n != 0 {
		t.Errorf("%v allocations per packet with an empty plugin", n)
	}
}

// BenchmarkPluginOverhead meters packets of one flow without plugins and
// with one empty plugin; the difference of ns/op is the cost of a plugin
// per packet.
func BenchmarkPluginOverhead(b *testing.B) {
	for _, c := range []struct {
		name string
		pl   []flow.Plugin
	}{{"none", nil}, {"empty", []flow.Plugin{&emptyPlugin{}}}} {
		b.Run(c.name, func(b *testing.B) {
			m, p := meterPackets(c.pl)
			b.ReportAllocs()
			for b.Loop() {
				m.Process(p)
			}
		})
	}
}

// TestPluginsSharded runs every built-in with several meters: each meter
// gets its own Clone, and the output equals one meter's.
func TestPluginsSharded(t *testing.T) {
	specs := []string{"splt:sequence_length=6", "flowslicer:limit=7", "dhcp", "mdns", "ja4"}
	run := func(meters int) string {
		pls, err := plugins.Builtins().BuildAll(specs)
		if err != nil {
			t.Fatal(err)
		}
		o := nfstream.DefaultOptions()
		o.NDissections = 0
		o.NMeters = meters
		o.Plugins = pls
		s, err := nfstream.New([]string{testcorpus.Pcap(t, "quic-23.pcap"), testcorpus.Pcap(t, "dhcp.pcap"), testcorpus.Pcap(t, "mdns.pcap")}, o)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		w, err := export.New(&buf, s.Columns(), export.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for f, err := range s.Flows(context.Background()) {
			if err != nil {
				t.Fatal(err)
			}
			w.Write(f)
		}
		w.Close()
		return buf.String()
	}
	one := run(1)
	if strings.Count(one, "\n") < 10 {
		t.Fatalf("too few flows:\n%s", one)
	}
	for _, n := range []int{2, 3} {
		if got := run(n); got != one {
			t.Errorf("n_meters=%d: output differs from one meter's", n)
		}
	}
}
