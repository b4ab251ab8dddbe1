package export

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash"
	"strconv"

	"golang.org/x/crypto/blake2b"

	"github.com/nfstream-go/nfstream/flow"
)

// KeySize is the size of the random key drawn when none is given, and the
// largest key BLAKE2b accepts.
const KeySize = blake2b.Size

// ErrKey is wrapped by the errors about anonymisation keys.
var ErrKey = errors.New("invalid anonymisation key")

// Anonymizer replaces column values by tokens as NFStream's
// columns_to_anonymize does (behaviour spec 9.4): the token of a value is the
// lower-case hex of its keyed BLAKE2b-512 digest (128 characters), computed
// over the UTF-8 text Python's str() gives the value — the address as
// written in the CSV, "443" for a port, "[0, 1, 1]" for a list. The same key
// gives the same token for the same value in every run, file and format, so
// anonymised exports can be joined; NFStream draws a new key for every
// export, which NewAnonymizer does when given no key.
//
// Tokens hide the values, not their equality: see docs/exports.md for what
// this protects and what it does not.
//
// An Anonymizer holds hash state: it is used by one goroutine at a time.
type Anonymizer struct {
	h    hash.Hash
	text []byte  // the value's text, reused
	list []int64 // list values, reused
	sum  [blake2b.Size]byte
}

// NewAnonymizer returns an anonymiser keyed with key, which must be 1 to 64
// bytes long; a nil or empty key draws a random 64-byte key, so tokens are
// consistent within the export only (NFStream's behaviour). The key is
// copied.
func NewAnonymizer(key []byte) (*Anonymizer, error) {
	if len(key) == 0 {
		key = make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("drawing a random anonymisation key: %w", err)
		}
	}
	if len(key) > KeySize {
		return nil, fmt.Errorf("%w: %d bytes long, BLAKE2b takes at most %d", ErrKey, len(key), KeySize)
	}
	h, err := blake2b.New512(key)
	if err != nil { // cannot happen after the length check
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return &Anonymizer{h: h}, nil
}

// AppendToken appends the token of text (128 lower-case hex digits) to dst.
func (a *Anonymizer) AppendToken(dst, text []byte) []byte {
	a.h.Reset() // back to the keyed initial state
	a.h.Write(text)
	sum := a.h.Sum(a.sum[:0])
	for _, x := range sum {
		dst = append(dst, hexDigits[x>>4], hexDigits[x&15])
	}
	return dst
}

// Token returns the token of s.
func (a *Anonymizer) Token(s string) string {
	return string(a.AppendToken(make([]byte, 0, 2*blake2b.Size), []byte(s)))
}

// Column returns c with its values replaced by their tokens. The result is
// a String column, except for a udps column, which stays one: its None
// values stay None (NFStream leaves None alone) and the others become
// strings. The returned column uses a: it is used by a's goroutine only.
func (a *Anonymizer) Column(c Column) Column {
	out := Column{Name: c.Name, Kind: String}
	switch c.Kind {
	case Int:
		get := c.Int
		out.String = func(b []byte, f *flow.Flow) []byte {
			a.text = strconv.AppendInt(a.text[:0], get(f), 10)
			return a.AppendToken(b, a.text)
		}
	case Float:
		get := c.Float
		out.String = func(b []byte, f *flow.Flow) []byte {
			a.text = AppendPyFloat(a.text[:0], get(f))
			return a.AppendToken(b, a.text)
		}
	case String:
		get := c.String
		out.String = func(b []byte, f *flow.Flow) []byte {
			a.text = get(a.text[:0], f)
			return a.AppendToken(b, a.text)
		}
	case List:
		get := c.List
		out.String = func(b []byte, f *flow.Flow) []byte {
			a.list = get(a.list[:0], f)
			a.text = AppendPyValue(a.text[:0], flow.List(a.list))
			return a.AppendToken(b, a.text)
		}
	case UDPS:
		get := c.UDPS
		out.Kind = UDPS
		out.UDPS = func(f *flow.Flow) flow.Value {
			v := get(f)
			if v.Kind == flow.KindNone {
				return v
			}
			a.text = AppendPyValue(a.text[:0], v)
			return flow.String(string(a.AppendToken(nil, a.text)))
		}
	}
	return out
}
