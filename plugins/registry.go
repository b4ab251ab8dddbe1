// Package plugins builds NFStream's built-in plugins by name, for command
// lines and configuration files: "splt:sequence_length=10,accounting_mode=1"
// becomes a *splt.SPLT.
//
// The built-ins live in their own packages (splt, flowslicer, dhcp, mdns,
// ja4); a program that knows which plugin it wants uses them directly. A
// Registry is a value: Builtins returns a new one holding the five, and a
// program may Register its own plugins beside them. Nothing is registered
// by init functions.
package plugins

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/plugins/dhcp"
	"github.com/nfstream-go/nfstream/plugins/flowslicer"
	"github.com/nfstream-go/nfstream/plugins/ja4"
	"github.com/nfstream-go/nfstream/plugins/mdns"
	"github.com/nfstream-go/nfstream/plugins/splt"
)

// Errors of Build and Register; the errors returned wrap them.
var (
	ErrUnknown   = errors.New("unknown plugin")
	ErrParameter = errors.New("invalid plugin parameter")
	ErrDuplicate = errors.New("plugin already registered")
)

// Param describes one parameter of a plugin.
type Param struct {
	Name string // as written in a spec, e.g. "sequence_length"
	// Default is the value used when the parameter is not given; ""
	// means the parameter is required.
	Default string
	Doc     string
}

// Builtin describes a plugin a Registry can build.
type Builtin struct {
	Name    string
	Doc     string
	Params  []Param
	Columns []string // the columns it adds, e.g. "udps.splt_ps"
	// New builds the plugin from its parameters, every one of Params
	// present (defaults filled in).
	New func(params map[string]string) (flow.Plugin, error)
}

// Registry maps plugin names to their constructors. Its methods may be
// called concurrently once no more Register calls happen.
type Registry struct {
	list []Builtin
}

// Register adds a plugin. Names are case-sensitive and must be unique.
func (r *Registry) Register(b Builtin) error {
	if b.Name == "" || strings.ContainsAny(b.Name, ":,= ") || b.New == nil {
		return fmt.Errorf("plugin %q: a name without ':', ',', '=' or spaces and a constructor are required", b.Name)
	}
	if _, ok := r.Lookup(b.Name); ok {
		return fmt.Errorf("%w: %s", ErrDuplicate, b.Name)
	}
	r.list = append(r.list, b)
	return nil
}

// Lookup returns the plugin registered under name.
func (r *Registry) Lookup(name string) (Builtin, bool) {
	for _, b := range r.list {
		if b.Name == name {
			return b, true
		}
	}
	return Builtin{}, false
}

// List returns the registered plugins in registration order.
func (r *Registry) List() []Builtin { return slices.Clone(r.list) }

// Build builds a plugin from a spec: its name, optionally followed by ':'
// and comma-separated name=value parameters, e.g. "ja4",
// "splt:sequence_length=10,accounting_mode=1", "flowslicer:limit=4".
// Every call returns a new plugin value.
func (r *Registry) Build(spec string) (flow.Plugin, error) {
	name, args, hasArgs := strings.Cut(strings.TrimSpace(spec), ":")
	b, ok := r.Lookup(name)
	if !ok {
		names := make([]string, len(r.list))
		for i, b := range r.list {
			names[i] = b.Name
		}
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknown, name, strings.Join(names, ", "))
	}
	params := map[string]string{}
	if hasArgs && strings.TrimSpace(args) != "" {
		for _, kv := range strings.Split(args, ",") {
			k, v, ok := strings.Cut(kv, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || k == "" {
				return nil, fmt.Errorf("%w: %s: %q is not name=value", ErrParameter, name, kv)
			}
			if !slices.ContainsFunc(b.Params, func(p Param) bool { return p.Name == k }) {
				return nil, fmt.Errorf("%w: %s has no parameter %q%s", ErrParameter, name, k, paramList(b))
			}
			if _, dup := params[k]; dup {
				return nil, fmt.Errorf("%w: %s: %s given twice", ErrParameter, name, k)
			}
			params[k] = v
		}
	}
	for _, p := range b.Params {
		if _, ok := params[p.Name]; !ok {
			if p.Default == "" {
				return nil, fmt.Errorf("%w: %s needs %s (%s)", ErrParameter, name, p.Name, p.Doc)
			}
			params[p.Name] = p.Default
		}
	}
	pl, err := b.New(params)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return pl, nil
}

// BuildAll builds one plugin per spec, in order.
func (r *Registry) BuildAll(specs []string) ([]flow.Plugin, error) {
	out := make([]flow.Plugin, 0, len(specs))
	for _, s := range specs {
		p, err := r.Build(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func paramList(b Builtin) string {
	if len(b.Params) == 0 {
		return " (it takes none)"
	}
	names := make([]string, len(b.Params))
	for i, p := range b.Params {
		names[i] = p.Name
	}
	return " (it takes " + strings.Join(names, ", ") + ")"
}

// WriteList writes a human-readable list of the plugins, their parameters
// and columns (what nfstream --list-plugins prints).
func (r *Registry) WriteList(w io.Writer) error {
	var b strings.Builder
	for i, p := range r.list {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s\n    %s\n", p.Name, p.Doc)
		for _, pa := range p.Params {
			def := "required"
			if pa.Default != "" {
				def = "default " + pa.Default
			}
			fmt.Fprintf(&b, "    %s: %s (%s)\n", pa.Name, pa.Doc, def)
		}
		cols := "none"
		if len(p.Columns) > 0 {
			cols = strings.Join(p.Columns, ", ")
		}
		fmt.Fprintf(&b, "    columns: %s\n", cols)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// intParam parses an integer parameter.
func intParam(params map[string]string, name string) (int, error) {
	n, err := strconv.Atoi(params[name])
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%q is not an integer", ErrParameter, name, params[name])
	}
	return n, nil
}

// valid returns p, or its Validate error marked as ErrParameter.
func valid(p interface {
	flow.Plugin
	Validate() error
}) (flow.Plugin, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrParameter, err)
	}
	return p, nil
}

func columns(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "udps." + n
	}
	return out
}

// Builtins returns a new Registry holding NFStream's built-in plugins:
// splt, flowslicer, dhcp, mdns and ja4.
func Builtins() *Registry {
	r := &Registry{}
	must := func(err error) {
		if err != nil {
			panic(err) // the built-ins are distinct and well-formed
		}
	}
	must(r.Register(Builtin{
		Name: "splt",
		Doc:  "direction, size and inter-arrival time of the first packets (NFStream's SPLT plugin)",
		Params: []Param{
			{Name: "sequence_length", Default: "5", Doc: "number of packets recorded, 1 to 65535"},
			{Name: "accounting_mode", Default: "0", Doc: "packet size: 0 link layer, 1 IP, 2 transport, 3 payload"},
		},
		Columns: columns(splt.Direction, splt.PS, splt.PIATMs),
		New: func(params map[string]string) (flow.Plugin, error) {
			n, err := intParam(params, "sequence_length")
			if err != nil {
				return nil, err
			}
			m, err := intParam(params, "accounting_mode")
			if err != nil {
				return nil, err
			}
			return valid(&splt.SPLT{SequenceLength: n, AccountingMode: m})
		},
	}))
	must(r.Register(Builtin{
		Name:   "flowslicer",
		Doc:    "ends every flow when it reaches limit packets (expiration_id -1; NFStream's FlowSlicer)",
		Params: []Param{{Name: "limit", Doc: "packets per flow, at least 1"}},
		New: func(params map[string]string) (flow.Plugin, error) {
			n, err := intParam(params, "limit")
			if err != nil {
				return nil, err
			}
			return valid(&flowslicer.FlowSlicer{Limit: n})
		},
	}))
	must(r.Register(Builtin{
		Name: "dhcp",
		Doc:  "DHCP client fingerprinting fields of IPv4 flows to port 67 (NFStream's DHCP plugin)",
		Columns: columns(dhcp.HostName, dhcp.RequestedAddr, dhcp.ParamRequest, dhcp.MaxMessageSize, dhcp.VendorClass,
			dhcp.ClientFQDN, dhcp.OptionList, dhcp.ClientAddr, dhcp.MsgTypeName, dhcp.OUI),
		New: func(map[string]string) (flow.Plugin, error) { return &dhcp.DHCP{}, nil },
	}))
	must(r.Register(Builtin{
		Name:    "mdns",
		Doc:     "names announced in mDNS answers of IPv4 flows to port 5353 (NFStream's MDNS plugin)",
		Columns: columns(mdns.PTR),
		New:     func(map[string]string) (flow.Plugin, error) { return &mdns.MDNS{}, nil },
	}))
	must(r.Register(Builtin{
		Name: "ja4",
		Doc: "JA4 TLS client fingerprint per the JA4 specification, over TCP, QUIC and DTLS, IPv4 and IPv6 " +
			"(not NFStream's JA4 plugin, whose output is not JA4)",
		Params: []Param{{Name: "max_packets", Default: strconv.Itoa(ja4.DefaultMaxPackets),
			Doc: "packets of each flow examined for a ClientHello, at least 1"}},
		Columns: columns(ja4.Name, ja4.Raw, ja4.Original, ja4.RawOriginal),
		New: func(params map[string]string) (flow.Plugin, error) {
			n, err := intParam(params, "max_packets")
			if err != nil {
				return nil, err
			}
			if n < 1 {
				return nil, fmt.Errorf("%w: max_packets=%d is not at least 1", ErrParameter, n)
			}
			return &ja4.JA4{MaxPackets: n}, nil
		},
	}))
	return r
}
