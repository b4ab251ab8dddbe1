package ndpicompare

import (
	"sort"
)

// Difference is one column of one paired flow whose values differ.
type Difference struct {
	Capture string `json:"capture"`
	Key     Key    `json:"key"`
	Column  string `json:"column"`
	Ours    string `json:"ours"`
	Theirs  string `json:"ndpireader"`
	Kind    string `json:"kind"`
	// OursLabel and TheirsLabel give each side's name, confidence and
	// packet count, for context.
	OursLabel   string `json:"ours_flow"`
	TheirsLabel string `json:"ndpireader_flow"`

	ours, theirs *Flow
}

// PacketCountDiff is a paired flow whose packet counts differ.
type PacketCountDiff struct {
	Capture string `json:"capture"`
	Key     Key    `json:"key"`
	Ours    uint64 `json:"ours"`
	Theirs  uint64 `json:"ndpireader"`
	Reason  string `json:"reason"`
}

// Unmatched is a flow found on one side only.
type Unmatched struct {
	Capture string `json:"capture"`
	Side    string `json:"side"` // "ours" or "ndpireader"
	Key     Key    `json:"key"`
	Label   string `json:"flow"`
	Reason  string `json:"reason"`

	f *Flow
}

// Pair is a paired flow.
type Pair struct {
	Key          Key
	Ours, Theirs *Flow
}

// CaptureResult is the comparison of one capture.
type CaptureResult struct {
	Capture      string `json:"capture"`
	Error        string `json:"error,omitempty"`
	OurFlows     int    `json:"our_flows"`
	ReaderFlows  int    `json:"ndpireader_flows"`
	Paired       int    `json:"paired"`
	Identical    int    `json:"identical"`
	DuplicateOur int    `json:"duplicate_key_our_flows"`
	DuplicateRdr int    `json:"duplicate_key_ndpireader_flows"`
	// Compared and Equal count cells per column (ColumnNames order).
	Compared [NumColumns]int `json:"compared"`
	Equal    [NumColumns]int `json:"equal"`
	// PacketCountDiffers counts paired flows whose packet counts differ
	// (information only: a sign of different decoding, not a compared
	// column); PacketCountDiffs lists them.
	PacketCountDiffers int               `json:"packet_count_differs"`
	PacketCountDiffs   []PacketCountDiff `json:"packet_count_diffs,omitempty"`
	Differences        []Difference      `json:"differences,omitempty"`
	Unmatched          []Unmatched       `json:"unmatched,omitempty"`

	pairs []Pair
}

// Compare pairs the flows of one capture and compares them. Differences and
// unmatched flows get the kind "unclassified"; Classify refines them.
func Compare(capture string, ours, theirs []Flow) *CaptureResult {
	r := &CaptureResult{Capture: capture, OurFlows: len(ours), ReaderFlows: len(theirs)}
	byKey := func(fs []Flow) map[Key][]*Flow {
		m := make(map[Key][]*Flow, len(fs))
		for i := range fs {
			k := fs[i].Key()
			m[k] = append(m[k], &fs[i])
		}
		return m
	}
	om, tm := byKey(ours), byKey(theirs)
	keys := make([]Key, 0, len(om)+len(tm))
	for k := range om {
		keys = append(keys, k)
	}
	for k := range tm {
		if _, ok := om[k]; !ok {
			keys = append(keys, k)
		}
	}
	sortKeys(keys)
	for _, k := range keys {
		o, t := om[k], tm[k]
		switch {
		case len(o) > 1 || len(t) > 1:
			r.DuplicateOur += len(o)
			r.DuplicateRdr += len(t)
		case len(o) == 1 && len(t) == 1:
			r.pairs = append(r.pairs, Pair{Key: k, Ours: o[0], Theirs: t[0]})
		case len(o) == 1:
			r.Unmatched = append(r.Unmatched, Unmatched{Capture: capture, Side: "ours", Key: k, Label: o[0].Label(), Reason: KindUnclassified, f: o[0]})
		default:
			r.Unmatched = append(r.Unmatched, Unmatched{Capture: capture, Side: "ndpireader", Key: k, Label: t[0].Label(), Reason: KindUnclassified, f: t[0]})
		}
	}
	r.Paired = len(r.pairs)
	for _, p := range r.pairs {
		if p.Ours.Packets != p.Theirs.Packets {
			r.PacketCountDiffers++
			r.PacketCountDiffs = append(r.PacketCountDiffs, PacketCountDiff{Capture: capture, Key: p.Key, Ours: p.Ours.Packets, Theirs: p.Theirs.Packets, Reason: KindUnclassified})
		}
		same := true
		for c := 0; c < NumColumns; c++ {
			r.Compared[c]++
			if equalCell(c, p.Ours.Values[c], p.Theirs.Values[c]) {
				r.Equal[c]++
				continue
			}
			same = false
			r.Differences = append(r.Differences, Difference{
				Capture: capture, Key: p.Key, Column: ColumnNames[c],
				Ours: p.Ours.Values[c], Theirs: p.Theirs.Values[c], Kind: KindUnclassified,
				OursLabel: p.Ours.Label(), TheirsLabel: p.Theirs.Label(),
				ours: p.Ours, theirs: p.Theirs,
			})
		}
		if same {
			r.Identical++
		}
	}
	return r
}

func sortKeys(keys []Key) {
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.Proto != b.Proto {
			return a.Proto < b.Proto
		}
		if a.Vlan != b.Vlan {
			return a.Vlan < b.Vlan
		}
		if a.A != b.A {
			return a.A.less(b.A)
		}
		return a.B.less(b.B)
	})
}

// Pairs returns the paired flows.
func (r *CaptureResult) Pairs() []Pair { return r.pairs }
