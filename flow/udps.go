package flow

// Kind is the type of a user-defined value.
type Kind uint8

const (
	// KindNone is the zero Value: Python's None. Exports write an empty
	// field, as NFStream does for None.
	KindNone    Kind = iota
	KindInt          // int64
	KindFloat        // float64
	KindString       // string
	KindList         // []int64
	KindStrings      // []string
)

// Value is one user-defined value: Kind says which field holds it. The zero
// Value is None (KindNone).
//
// A Value stored in a flow's UDPS shares the List and Strings slices given
// to it: a plugin may update their elements in place (that is how SPLT
// avoids allocating per packet); they belong to the flow from then on.
type Value struct {
	Kind    Kind
	Int     int64
	Float   float64
	String  string
	List    []int64
	Strings []string
}

// None, Int, Float, String, List and Strings make Values.
func None() Value              { return Value{} }
func Int(v int64) Value        { return Value{Kind: KindInt, Int: v} }
func Float(v float64) Value    { return Value{Kind: KindFloat, Float: v} }
func String(v string) Value    { return Value{Kind: KindString, String: v} }
func List(v []int64) Value     { return Value{Kind: KindList, List: v} }
func Strings(v []string) Value { return Value{Kind: KindStrings, Strings: v} }

// UDPS holds a flow's user-defined values (NFStream's flow.udps), in the
// order they were first set: that order is the order of the udps.<name>
// columns. Deleting and setting again moves a name to the end, as in
// NFStream.
type UDPS struct {
	names  []string
	values []Value
}

// Set stores v under name.
func (u *UDPS) Set(name string, v Value) {
	for i, n := range u.names {
		if n == name {
			u.values[i] = v
			return
		}
	}
	u.names = append(u.names, name)
	u.values = append(u.values, v)
}

// Get returns the value stored under name.
func (u *UDPS) Get(name string) (Value, bool) {
	for i, n := range u.names {
		if n == name {
			return u.values[i], true
		}
	}
	return Value{}, false
}

// Delete removes name.
func (u *UDPS) Delete(name string) {
	for i, n := range u.names {
		if n == name {
			u.names = append(u.names[:i], u.names[i+1:]...)
			u.values = append(u.values[:i], u.values[i+1:]...)
			return
		}
	}
}

// Names lists the names in column order. The slice must not be modified.
func (u *UDPS) Names() []string { return u.names }

// Len is the number of values.
func (u *UDPS) Len() int { return len(u.names) }
