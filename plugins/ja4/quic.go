package ja4

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
)

// QUIC versions whose Initial packets are decrypted.
const (
	quicV1       = 0x00000001
	quicV2       = 0x6b3343cf
	quicDraft22  = 0xff000016
	quicDraft23  = 0xff000017
	quicDraft28  = 0xff00001c
	quicDraft29  = 0xff00001d
	quicDraft32  = 0xff000020
	mvfstDraft22 = 0xfaceb001 // Facebook's mvfst, draft 22 keys
	mvfstDraft27 = 0xfaceb002 // Facebook's mvfst, draft 27 keys
)

// Initial salts (RFC 9001 section 5.2, RFC 9369 section 3.3.1, and the
// drafts).
var (
	saltV1      = mustHex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
	saltV2      = mustHex("0dede3def700a6db819381be6e269dcbf9bd2ed9")
	saltDraft22 = mustHex("7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a")
	saltDraft23 = mustHex("c3eef712c72ebb5a11a7d2432bb46365bef9f502")
	saltDraft29 = mustHex("afbfec289993d24c9e9786f19c6111e04390a899")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

var (
	errQUICShort   = errors.New("ja4: QUIC packet truncated")
	errQUICVersion = errors.New("ja4: QUIC version without known Initial keys")
)

// initialKeys are the client's Initial packet protection keys (RFC 9001
// section 5, RFC 9369 section 3.3 for version 2).
type initialKeys struct {
	version uint32
	dcid    []byte
	aead    cipher.AEAD
	iv      [12]byte
	hp      cipher.Block
}

// expandLabel is TLS 1.3's HKDF-Expand-Label with an empty context.
func expandLabel(secret []byte, label string, n int) []byte {
	full := "tls13 " + label
	info := make([]byte, 0, 4+len(full))
	info = append(info, byte(n>>8), byte(n), byte(len(full)))
	info = append(info, full...)
	info = append(info, 0)
	out, err := hkdf.Expand(sha256.New, secret, string(info), n)
	if err != nil {
		panic(err) // n is at most 32: cannot fail
	}
	return out
}

// initialSecrets derives the client Initial key, IV and header protection
// key of a version from the Destination Connection ID of the client's first
// Initial packet.
func initialSecrets(version uint32, dcid []byte) (key, iv, hp []byte, err error) {
	var salt []byte
	prefix := "quic "
	switch {
	case version == quicV1:
		salt = saltV1
	case version == quicV2:
		salt, prefix = saltV2, "quicv2 "
	case version >= quicDraft29 && version <= quicDraft32:
		salt = saltDraft29
	case version >= quicDraft23 && version <= quicDraft28 || version == mvfstDraft27:
		salt = saltDraft23
	case version == quicDraft22 || version == mvfstDraft22:
		salt = saltDraft22
	default:
		return nil, nil, nil, errQUICVersion
	}
	initial, err := hkdf.Extract(sha256.New, dcid, salt)
	if err != nil {
		return nil, nil, nil, err
	}
	client := expandLabel(initial, "client in", 32)
	return expandLabel(client, prefix+"key", 16), expandLabel(client, prefix+"iv", 12), expandLabel(client, prefix+"hp", 16), nil
}

// newInitialKeys returns the client Initial keys of a version for a
// Destination Connection ID.
func newInitialKeys(version uint32, dcid []byte) (*initialKeys, error) {
	key, iv, hpKey, err := initialSecrets(version, dcid)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	hp, err := aes.NewCipher(hpKey)
	if err != nil {
		return nil, err
	}
	k := &initialKeys{version: version, dcid: append([]byte(nil), dcid...), aead: aead, hp: hp}
	copy(k.iv[:], iv)
	return k, nil
}

// varint reads a QUIC variable-length integer (RFC 9000 section 16).
func varint(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	n = 1 << (b[0] >> 6)
	if len(b) < n {
		return 0, 0, false
	}
	v = uint64(b[0] & 0x3f)
	for _, c := range b[1:n] {
		v = v<<8 | uint64(c)
	}
	return v, n, true
}

// longHeader is the parsed unprotected part of a long header packet.
type longHeader struct {
	version  uint32
	initial  bool
	dcid     []byte
	pnOffset int // offset of the packet number
	end      int // end of the packet in the datagram
}

// parseLongHeader parses the long header packet at the start of b. It
// reports ok = false for a short header packet, a version negotiation
// packet or a truncated header.
func parseLongHeader(b []byte) (h longHeader, ok bool) {
	if len(b) < 7 || b[0]&0x80 == 0 {
		return h, false
	}
	h.version = binary.BigEndian.Uint32(b[1:5])
	if h.version == 0 {
		return h, false // version negotiation
	}
	typ := b[0] >> 4 & 3
	if h.version == quicV2 {
		h.initial = typ == 1
	} else {
		h.initial = typ == 0
	}
	pos := 5
	dl := int(b[pos])
	pos++
	if dl > 20 || pos+dl+1 > len(b) {
		return h, false
	}
	h.dcid = b[pos : pos+dl]
	pos += dl
	sl := int(b[pos])
	pos++
	if sl > 20 || pos+sl > len(b) {
		return h, false
	}
	pos += sl
	switch {
	case h.initial:
		tl, n, ok := varint(b[pos:])
		if !ok || tl > uint64(len(b)) {
			return h, false
		}
		pos += n + int(tl)
	case typ == 3 && h.version != quicV2 || typ == 0 && h.version == quicV2:
		// Retry: no length field; it takes the rest of the datagram.
		h.pnOffset, h.end = len(b), len(b)
		return h, pos <= len(b)
	}
	if pos > len(b) {
		return h, false
	}
	length, n, ok := varint(b[pos:])
	if !ok {
		return h, false
	}
	pos += n
	if length > uint64(len(b)-pos) {
		return h, false
	}
	h.pnOffset, h.end = pos, pos+int(length)
	return h, true
}

// openInitial removes header protection and decrypts the Initial packet
// pkt (the whole packet, header included, from parseLongHeader) with k,
// working on a copy in scratch. It returns the plaintext frames, which
// alias scratch.
func (k *initialKeys) openInitial(pkt []byte, h longHeader, scratch []byte) ([]byte, []byte, error) {
	if h.pnOffset+4+16 > len(pkt) {
		return nil, scratch, errQUICShort
	}
	scratch = append(scratch[:0], pkt...)
	p := scratch
	var mask [16]byte
	k.hp.Encrypt(mask[:], p[h.pnOffset+4:h.pnOffset+20])
	p[0] ^= mask[0] & 0x0f
	pnLen := int(p[0]&3) + 1
	var pn uint64
	for i := range pnLen {
		p[h.pnOffset+i] ^= mask[1+i]
		pn = pn<<8 | uint64(p[h.pnOffset+i])
	}
	var nonce [12]byte
	copy(nonce[:], k.iv[:])
	for i := range 8 {
		nonce[11-i] ^= byte(pn >> (8 * i))
	}
	hdrEnd := h.pnOffset + pnLen
	plain, err := k.aead.Open(p[hdrEnd:hdrEnd], nonce[:], p[hdrEnd:], p[:hdrEnd])
	return plain, scratch, err
}

// cryptoFrames calls fn with the offset and data of every CRYPTO frame of
// an Initial packet's plaintext, in order. It stops at the first frame
// type an Initial packet may not carry, or at a malformed frame.
func cryptoFrames(p []byte, fn func(off uint64, data []byte)) {
	for len(p) > 0 {
		typ, n, ok := varint(p)
		if !ok {
			return
		}
		p = p[n:]
		var fields int // number of varints to skip
		switch typ {
		case 0x00, 0x01: // PADDING, PING
			continue
		case 0x02, 0x03: // ACK
			var vals [4]uint64
			for i := range vals {
				if vals[i], n, ok = varint(p); !ok {
					return
				}
				p = p[n:]
			}
			fields = 2 * int(min(vals[2], uint64(len(p))))
			if typ == 0x03 {
				fields += 3
			}
		case 0x06: // CRYPTO
			off, n, ok := varint(p)
			if !ok {
				return
			}
			p = p[n:]
			l, n, ok := varint(p)
			if !ok || l > uint64(len(p)-n) {
				return
			}
			fn(off, p[n:n+int(l)])
			p = p[n+int(l):]
			continue
		case 0x1c, 0x1d: // CONNECTION_CLOSE
			fields = 1
			if typ == 0x1c {
				fields = 2
			}
			for range fields {
				if _, n, ok = varint(p); !ok {
					return
				}
				p = p[n:]
			}
			l, n, ok := varint(p)
			if !ok || l > uint64(len(p)-n) {
				return
			}
			p = p[n+int(l):]
			continue
		default:
			return
		}
		for range fields {
			if _, n, ok = varint(p); !ok {
				return
			}
			p = p[n:]
		}
	}
}
