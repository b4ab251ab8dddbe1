// Package export turns flows into rows: the column set and order of NFStream
// (behaviour spec 6.1) and writers for the output formats.
package export

import (
	"net/netip"

	"github.com/nfstream-go/nfstream/dpi"
	"github.com/nfstream-go/nfstream/flow"
)

// Kind is the type of a column's values.
type Kind uint8

const (
	Int    Kind = iota // signed 64-bit integer
	Float              // float64
	String             // UTF-8 text
	List               // list of integers (SPLT sequences)
	UDPS               // a plugin's value, any flow.Kind (see UDPSColumns)
)

// Column is one output column: its NFStream name, its type and how to read
// it from a flow. Exactly one accessor matching Kind is set.
type Column struct {
	Name  string
	Kind  Kind
	Int   func(*flow.Flow) int64
	Float func(*flow.Flow) float64
	// String appends the value to b (no quoting) and returns the extended slice.
	String func(b []byte, f *flow.Flow) []byte
	// List appends the values to dst and returns the extended slice.
	List func(dst []int64, f *flow.Flow) []int64
	// UDPS returns the flow's user-defined value (None when it has none).
	UDPS func(*flow.Flow) flow.Value
}

// Schema says which column groups a run produces.
type Schema struct {
	DecodeTunnels bool // tunnel_id
	Statistical   bool // the 48 statistical_analysis columns
	SPLT          bool // splt_direction, splt_ps, splt_piat_ms
	DPI           bool // the nine application columns
	// SystemVisibility adds system_process_pid (-1 when unknown) and
	// system_process_name ("" when unknown), NFStream's, then our
	// addition system_process_cgroup (the process's cgroup path, "" when
	// unknown). They are the last columns, after the udps ones.
	SystemVisibility bool
}

func intCol(name string, fn func(*flow.Flow) int64) Column {
	return Column{Name: name, Kind: Int, Int: fn}
}

func uintCol(name string, fn func(*flow.Flow) uint64) Column {
	return Column{Name: name, Kind: Int, Int: func(f *flow.Flow) int64 { return int64(fn(f)) }}
}

func floatCol(name string, fn func(*flow.Flow) float64) Column {
	return Column{Name: name, Kind: Float, Float: fn}
}

func strCol(name string, fn func(b []byte, f *flow.Flow) []byte) Column {
	return Column{Name: name, Kind: String, String: fn}
}

func ipCol(name string, fn func(*flow.Flow) netip.Addr) Column {
	return strCol(name, func(b []byte, f *flow.Flow) []byte { return AppendIP(b, fn(f)) })
}

func macCol(name string, fn func(*flow.Flow) flow.MAC, oui bool) Column {
	return strCol(name, func(b []byte, f *flow.Flow) []byte {
		m := fn(f)
		n := 6
		if oui {
			n = 3
		}
		for i := range n {
			if i > 0 {
				b = append(b, ':')
			}
			b = append(b, hexDigits[m[i]>>4], hexDigits[m[i]&15])
		}
		return b
	})
}

const hexDigits = "0123456789abcdef"

func appInfo(f *flow.Flow) *dpi.Info {
	if f.DPI == nil {
		return &dpi.Info{}
	}
	return &f.DPI.Info
}

// Columns returns the columns of the schema in NFStream's order.
func (s Schema) Columns() []Column {
	cols := []Column{
		uintCol("id", func(f *flow.Flow) uint64 { return f.ID }),
		intCol("expiration_id", func(f *flow.Flow) int64 { return int64(f.ExpirationID) }),
		ipCol("src_ip", func(f *flow.Flow) netip.Addr { return f.SrcIP }),
		macCol("src_mac", func(f *flow.Flow) flow.MAC { return f.SrcMAC }, false),
		macCol("src_oui", func(f *flow.Flow) flow.MAC { return f.SrcMAC }, true),
		uintCol("src_port", func(f *flow.Flow) uint64 { return uint64(f.SrcPort) }),
		ipCol("dst_ip", func(f *flow.Flow) netip.Addr { return f.DstIP }),
		macCol("dst_mac", func(f *flow.Flow) flow.MAC { return f.DstMAC }, false),
		macCol("dst_oui", func(f *flow.Flow) flow.MAC { return f.DstMAC }, true),
		uintCol("dst_port", func(f *flow.Flow) uint64 { return uint64(f.DstPort) }),
		uintCol("protocol", func(f *flow.Flow) uint64 { return uint64(f.Protocol) }),
		uintCol("ip_version", func(f *flow.Flow) uint64 { return uint64(f.IPVersion) }),
		uintCol("vlan_id", func(f *flow.Flow) uint64 { return uint64(f.VlanID) }),
	}
	if s.DecodeTunnels {
		cols = append(cols, uintCol("tunnel_id", func(f *flow.Flow) uint64 { return uint64(f.TunnelID) }))
	}
	cols = append(cols,
		uintCol("bidirectional_first_seen_ms", func(f *flow.Flow) uint64 { return f.BidirectionalFirstSeenMs }),
		uintCol("bidirectional_last_seen_ms", func(f *flow.Flow) uint64 { return f.BidirectionalLastSeenMs }),
		uintCol("bidirectional_duration_ms", (*flow.Flow).BidirectionalDurationMs),
		uintCol("bidirectional_packets", func(f *flow.Flow) uint64 { return f.BidirectionalPackets }),
		uintCol("bidirectional_bytes", func(f *flow.Flow) uint64 { return f.BidirectionalBytes }),
		uintCol("src2dst_first_seen_ms", (*flow.Flow).Src2DstFirstSeenMs),
		uintCol("src2dst_last_seen_ms", func(f *flow.Flow) uint64 { return f.Src2DstLastSeenMs }),
		uintCol("src2dst_duration_ms", (*flow.Flow).Src2DstDurationMs),
		uintCol("src2dst_packets", func(f *flow.Flow) uint64 { return f.Src2DstPackets }),
		uintCol("src2dst_bytes", func(f *flow.Flow) uint64 { return f.Src2DstBytes }),
		uintCol("dst2src_first_seen_ms", func(f *flow.Flow) uint64 { return f.Dst2SrcFirstSeenMs }),
		uintCol("dst2src_last_seen_ms", func(f *flow.Flow) uint64 { return f.Dst2SrcLastSeenMs }),
		uintCol("dst2src_duration_ms", (*flow.Flow).Dst2SrcDurationMs),
		uintCol("dst2src_packets", func(f *flow.Flow) uint64 { return f.Dst2SrcPackets }),
		uintCol("dst2src_bytes", func(f *flow.Flow) uint64 { return f.Dst2SrcBytes }),
	)
	if s.Statistical {
		cols = append(cols, statColumns()...)
	}
	if s.SPLT {
		cols = append(cols,
			Column{Name: "splt_direction", Kind: List, List: func(dst []int64, f *flow.Flow) []int64 {
				for _, v := range f.SPLT.Direction {
					dst = append(dst, int64(v))
				}
				return dst
			}},
			Column{Name: "splt_ps", Kind: List, List: func(dst []int64, f *flow.Flow) []int64 {
				for _, v := range f.SPLT.PS {
					dst = append(dst, int64(v))
				}
				return dst
			}},
			Column{Name: "splt_piat_ms", Kind: List, List: func(dst []int64, f *flow.Flow) []int64 {
				return append(dst, f.SPLT.PIATMs...)
			}},
		)
	}
	if s.DPI {
		str := func(name string, fn func(*dpi.Info) string) Column {
			return strCol(name, func(b []byte, f *flow.Flow) []byte { return append(b, fn(appInfo(f))...) })
		}
		cols = append(cols,
			str("application_name", func(i *dpi.Info) string { return i.ApplicationName }),
			str("application_category_name", func(i *dpi.Info) string { return i.ApplicationCategoryName }),
			intCol("application_is_guessed", func(f *flow.Flow) int64 { return int64(appInfo(f).ApplicationIsGuessed) }),
			intCol("application_confidence", func(f *flow.Flow) int64 { return int64(appInfo(f).ApplicationConfidence) }),
			str("requested_server_name", func(i *dpi.Info) string { return i.RequestedServerName }),
			str("client_fingerprint", func(i *dpi.Info) string { return i.ClientFingerprint }),
			str("server_fingerprint", func(i *dpi.Info) string { return i.ServerFingerprint }),
			str("user_agent", func(i *dpi.Info) string { return i.UserAgent }),
			str("content_type", func(i *dpi.Info) string { return i.ContentType }),
		)
	}
	if s.SystemVisibility {
		cols = append(cols, systemColumns()...)
	}
	return cols
}

// systemColumnCount is the number of columns SystemVisibility adds.
const systemColumnCount = 3

func systemColumns() []Column {
	return []Column{
		intCol("system_process_pid", func(f *flow.Flow) int64 {
			if f.System == nil {
				return -1
			}
			return f.System.PID
		}),
		strCol("system_process_name", func(b []byte, f *flow.Flow) []byte {
			if f.System == nil {
				return b
			}
			return append(b, f.System.Name...)
		}),
		strCol("system_process_cgroup", func(b []byte, f *flow.Flow) []byte {
			if f.System == nil {
				return b
			}
			return append(b, f.System.Cgroup...)
		}),
	}
}

// isSystemTail reports whether cols ends with the SystemVisibility
// columns, which go after the udps ones.
func isSystemTail(cols []Column) bool {
	n := len(cols)
	return n >= systemColumnCount && cols[n-systemColumnCount].Name == "system_process_pid"
}

func statColumns() []Column {
	type dir struct {
		name string
		get  func(*flow.Stats) *flow.DirStats
	}
	dirs := []dir{
		{"bidirectional", func(s *flow.Stats) *flow.DirStats { return &s.Bidirectional }},
		{"src2dst", func(s *flow.Stats) *flow.DirStats { return &s.Src2Dst }},
		{"dst2src", func(s *flow.Stats) *flow.DirStats { return &s.Dst2Src }},
	}
	var cols []Column
	dist := func(prefix string, get func(*flow.DirStats) *flow.Dist) {
		for _, d := range dirs {
			d := d
			cols = append(cols,
				uintCol(d.name+"_min_"+prefix, func(f *flow.Flow) uint64 { return get(d.get(f.Stats)).Min }),
				floatCol(d.name+"_mean_"+prefix, func(f *flow.Flow) float64 { return get(d.get(f.Stats)).Mean() }),
				floatCol(d.name+"_stddev_"+prefix, func(f *flow.Flow) float64 { return get(d.get(f.Stats)).Stddev() }),
				uintCol(d.name+"_max_"+prefix, func(f *flow.Flow) uint64 { return get(d.get(f.Stats)).Max }),
			)
		}
	}
	dist("ps", func(d *flow.DirStats) *flow.Dist { return &d.PS })
	dist("piat_ms", func(d *flow.DirStats) *flow.Dist { return &d.PIAT })
	flags := []string{"syn", "cwr", "ece", "urg", "ack", "psh", "rst", "fin"}
	for _, d := range dirs {
		for i, fl := range flags {
			cols = append(cols, uintCol(d.name+"_"+fl+"_packets", func(f *flow.Flow) uint64 { return d.get(f.Stats).Flags[i] }))
		}
	}
	return cols
}

// Names lists the column names.
func Names(cols []Column) []string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return names
}
