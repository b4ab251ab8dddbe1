package ja4

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
)

// Errors of ParseClientHello.
var (
	ErrNotClientHello = errors.New("ja4: not a ClientHello handshake message")
	ErrMalformed      = errors.New("ja4: malformed ClientHello")
)

// Transport says how the ClientHello travelled: the first character of
// the fingerprint.
type Transport byte

const (
	TCP  Transport = 't' // TLS over TCP
	QUIC Transport = 'q' // TLS inside QUIC CRYPTO frames
	DTLS Transport = 'd' // DTLS over UDP
)

// Extension types JA4 looks into.
const (
	extSNI               = 0x0000
	extSignatureAlgs     = 0x000d
	extALPN              = 0x0010
	extSupportedVersions = 0x002b
)

// ClientHello holds what JA4 reads from a TLS or DTLS ClientHello. Every
// list keeps the message's order and its GREASE values.
type ClientHello struct {
	// Version is the legacy_version field.
	Version uint16
	// CipherSuites and Extensions (types) in message order.
	CipherSuites []uint16
	Extensions   []uint16
	// SupportedVersions is the content of the supported_versions
	// extension (0x002b), nil without it.
	SupportedVersions []uint16
	// SignatureAlgorithms is the content of the signature_algorithms
	// extension (0x000d), nil without it.
	SignatureAlgorithms []uint16
	// ALPN is the first protocol of the ALPN extension (0x0010), nil when
	// there is none.
	ALPN []byte
	// ServerName is the first host name of the SNI extension, "" without.
	ServerName string
}

// reader reads big-endian fields with a length check before every read.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if r.bad || n < 0 || n > len(r.b) {
		r.bad = true
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() int {
	if v := r.bytes(1); v != nil {
		return int(v[0])
	}
	return 0
}

func (r *reader) u16() int {
	if v := r.bytes(2); v != nil {
		return int(binary.BigEndian.Uint16(v))
	}
	return 0
}

func (r *reader) u24() int {
	if v := r.bytes(3); v != nil {
		return int(v[0])<<16 | int(v[1])<<8 | int(v[2])
	}
	return 0
}

func u16s(b []byte) []uint16 {
	out := make([]uint16, len(b)/2)
	for i := range out {
		out[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return out
}

// ParseClientHello parses msg, a complete handshake message (the 4-byte
// handshake header and the ClientHello body, as carried by TLS records or
// QUIC CRYPTO frames). With dtls, msg is the reassembled DTLS message: the
// 12-byte DTLS handshake header and a body with a cookie field. Bytes after
// the message are ignored. ParseClientHello checks every length before
// reading and copies what it keeps: the result does not alias msg.
func ParseClientHello(msg []byte, dtls bool) (*ClientHello, error) {
	r := reader{b: msg}
	if r.u8() != 1 {
		return nil, ErrNotClientHello
	}
	n := r.u24()
	if dtls {
		r.bytes(8) // message_seq, fragment_offset, fragment_length
	}
	body := r.bytes(n)
	if r.bad {
		return nil, ErrMalformed
	}
	r = reader{b: body}
	h := &ClientHello{Version: uint16(r.u16())}
	r.bytes(32)     // random
	r.bytes(r.u8()) // session id
	if dtls {
		r.bytes(r.u8()) // cookie
	}
	cs := r.bytes(r.u16())
	r.bytes(r.u8()) // compression methods
	if r.bad || len(cs)%2 != 0 {
		return nil, ErrMalformed
	}
	h.CipherSuites = u16s(cs)
	if len(r.b) == 0 {
		return h, nil // no extensions block
	}
	exts := reader{b: r.bytes(r.u16())}
	if r.bad {
		return nil, ErrMalformed
	}
	h.Extensions = []uint16{}
	for len(exts.b) > 0 {
		typ := uint16(exts.u16())
		data := exts.bytes(exts.u16())
		if exts.bad {
			return nil, ErrMalformed
		}
		h.Extensions = append(h.Extensions, typ)
		d := reader{b: data}
		switch typ {
		case extSNI:
			list := reader{b: d.bytes(d.u16())}
			if list.u8() == 0 { // host_name
				if name := list.bytes(list.u16()); !list.bad && h.ServerName == "" {
					h.ServerName = string(name)
				}
			}
		case extALPN:
			list := reader{b: d.bytes(d.u16())}
			if p := list.bytes(list.u8()); !list.bad && len(p) > 0 && h.ALPN == nil {
				h.ALPN = slices.Clone(p)
			}
		case extSignatureAlgs:
			if v := d.bytes(d.u16()); !d.bad && h.SignatureAlgorithms == nil {
				h.SignatureAlgorithms = u16s(v)
			}
		case extSupportedVersions:
			if v := d.bytes(d.u8()); !d.bad && h.SupportedVersions == nil {
				h.SupportedVersions = u16s(v)
			}
		}
	}
	return h, nil
}

// IsGREASE reports whether v is one of the GREASE values of RFC 8701
// (0x0a0a, 0x1a1a, ..., 0xfafa).
func IsGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

func withoutGREASE(vs []uint16) []uint16 {
	out := make([]uint16, 0, len(vs))
	for _, v := range vs {
		if !IsGREASE(v) {
			out = append(out, v)
		}
	}
	return out
}

// Fingerprint is the JA4 fingerprint of a ClientHello in its four
// renderings (JA4 technical specification, "Raw Output").
type Fingerprint struct {
	// JA4 is the fingerprint: sorted lists, hashed.
	JA4 string
	// Raw (ja4_r) has the sorted lists in clear.
	Raw string
	// Original (ja4_o) hashes the lists in message order, with the SNI and
	// ALPN extensions kept.
	Original string
	// RawOriginal (ja4_ro) has the lists of Original in clear.
	RawOriginal string
}

// versionCode is the two-character version of part a.
func versionCode(v uint16) string {
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0002:
		return "s2"
	case 0xfeff:
		return "d1"
	case 0xfefd:
		return "d2"
	case 0xfefc:
		return "d3"
	}
	return "00"
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// alpnCode is the two-character ALPN part: first and last characters of
// the first protocol, or, when either is not ASCII alphanumeric, the first
// and last hex digits of the protocol's bytes; "00" without a protocol.
func alpnCode(p []byte) string {
	if len(p) == 0 {
		return "00"
	}
	first, last := p[0], p[len(p)-1]
	if isAlnum(first) && isAlnum(last) {
		return string([]byte{first, last})
	}
	return string([]byte{hexDigits[first>>4], hexDigits[last&15]})
}

const hexDigits = "0123456789abcdef"

func appendCount(b []byte, n int) []byte {
	n = min(n, 99)
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

func appendList(b []byte, vs []uint16) []byte {
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, hexDigits[v>>12], hexDigits[v>>8&15], hexDigits[v>>4&15], hexDigits[v&15])
	}
	return b
}

// hash12 is the first 12 hex digits of the SHA-256 of s, or twelve zeros
// when the list it stands for is empty.
func hash12(s []byte, empty bool) string {
	if empty {
		return "000000000000"
	}
	sum := sha256.Sum256(s)
	return hex.EncodeToString(sum[:6])
}

// Fingerprint computes the JA4 fingerprint of h sent over t, following the
// JA4 technical specification: GREASE values ignored everywhere; version
// from supported_versions when present (its highest value) else from
// legacy_version; 'd' when the SNI extension is present; counts capped at
// 99; ALPN characters as alpnCode says; cipher suites sorted; extensions
// sorted without SNI and ALPN, then '_' and the signature algorithms in
// their order (no '_' when there are none); an empty list hashes to twelve
// zeros.
//
// Original keeps message order and the SNI and ALPN extensions; its last
// part is twelve zeros exactly when JA4's is (the behaviour of the JA4
// project's reference output).
func (h *ClientHello) Fingerprint(t Transport) Fingerprint {
	ciphers := withoutGREASE(h.CipherSuites)
	exts := withoutGREASE(h.Extensions)
	sigs := withoutGREASE(h.SignatureAlgorithms)
	version := h.Version
	if h.SupportedVersions != nil {
		if vs := withoutGREASE(h.SupportedVersions); len(vs) > 0 {
			version = slices.Max(vs)
		}
	}
	a := make([]byte, 0, 10)
	a = append(a, byte(t))
	a = append(a, versionCode(version)...)
	if slices.Contains(exts, extSNI) {
		a = append(a, 'd')
	} else {
		a = append(a, 'i')
	}
	a = appendCount(a, len(ciphers))
	a = appendCount(a, len(exts))
	a = append(a, alpnCode(h.ALPN)...)

	sortedCiphers := slices.Sorted(slices.Values(ciphers))
	var sortedExts []uint16
	for _, e := range exts {
		if e != extSNI && e != extALPN {
			sortedExts = append(sortedExts, e)
		}
	}
	slices.Sort(sortedExts)
	withSigs := func(b []byte) []byte {
		if len(sigs) > 0 {
			b = append(b, '_')
			b = appendList(b, sigs)
		}
		return b
	}
	bRaw := appendList(nil, sortedCiphers)
	cRaw := withSigs(appendList(nil, sortedExts))
	boRaw := appendList(nil, ciphers)
	coRaw := withSigs(appendList(nil, exts))
	noCiphers, noExts := len(ciphers) == 0, len(sortedExts) == 0

	join := func(b, c string) string { return string(a) + "_" + b + "_" + c }
	return Fingerprint{
		JA4:         join(hash12(bRaw, noCiphers), hash12(cRaw, noExts)),
		Raw:         join(string(bRaw), string(cRaw)),
		Original:    join(hash12(boRaw, noCiphers), hash12(coRaw, noExts)),
		RawOriginal: join(string(boRaw), string(coRaw)),
	}
}
