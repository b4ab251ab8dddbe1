//go:build cgo && !nondpi

package ndpi

/*
#cgo pkg-config: libndpi
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "ndpi_api.h"

// Extract reads struct ndpi_flow_struct's fields directly, so the layout of
// the headers must be the library's (checked at run time by nfs_abi_ok) and
// the one optional layout-changing macro must stay undefined.
#ifdef TLS_HANDLE_SIGNATURE_ALGORITMS
#error "TLS_HANDLE_SIGNATURE_ALGORITMS changes struct ndpi_flow_struct; dpi/ndpi is written for the default nDPI 4.2 layout"
#endif

static int nfs_abi_ok(void) {
	return sizeof(struct ndpi_flow_struct) == ndpi_detection_get_sizeof_ndpi_flow_struct();
}

static unsigned nfs_flow_size(void) { return (unsigned)sizeof(struct ndpi_flow_struct); }

// nfs_init creates one module with default preferences and every protocol
// enabled (NDPI_BITMASK_SET_ALL is a macro, hence this helper).
static struct ndpi_detection_module_struct *nfs_init(void) {
	struct ndpi_detection_module_struct *m = ndpi_init_detection_module(ndpi_no_prefs);
	if (m == NULL) return NULL;
	NDPI_PROTOCOL_BITMASK all;
	NDPI_BITMASK_SET_ALL(all);
	ndpi_set_protocol_detection_bitmask2(m, &all);
	ndpi_finalize_initialization(m);
	return m;
}

// nfs_flow is one flow's state with the engine's bookkeeping: the list of
// live flows (to free them at Close without a Go map lookup per packet) and
// a tag that tells a live flow from a freed one.
#define NFS_LIVE 0x6e66736c69766521ULL
typedef struct nfs_flow {
	struct ndpi_flow_struct f; // first: a handle is also the nDPI flow's address
	struct nfs_flow *prev, *next;
	uint64_t tag;
} nfs_flow;

// nfs_pool is a module's live flows and its spare, freed ones: freeing a
// flow keeps its memory for the next (nDPI's own allocations inside the flow
// are released at once).
typedef struct {
	nfs_flow *live;
	nfs_flow *spare;
	unsigned nspare;
} nfs_pool;

#define NFS_MAX_SPARE 4096

static nfs_flow *nfs_flow_new(nfs_pool *p) {
	nfs_flow *w = p->spare;
	if (w != NULL) {
		p->spare = w->next;
		p->nspare--;
	} else {
		w = (nfs_flow *)malloc(sizeof(nfs_flow));
		if (w == NULL) return NULL;
	}
	memset(w, 0, sizeof(nfs_flow));
	w->tag = NFS_LIVE;
	w->next = p->live;
	if (p->live != NULL) p->live->prev = w;
	p->live = w;
	return w;
}

// nfs_get returns the nDPI flow of a handle, or NULL when the handle is
// zero or freed. The tag check is a guard against mistakes, not a licence:
// a freed flow's memory stays in the pool (tag cleared) only up to
// NFS_MAX_SPARE spare flows; past that it goes back to malloc, so a handle
// must never be used after Free (the Dissector clears its copy).
static inline struct ndpi_flow_struct *nfs_get(uintptr_t h) {
	nfs_flow *w = (nfs_flow *)h;
	if (w == NULL || w->tag != NFS_LIVE) return NULL;
	return &w->f;
}

static void nfs_flow_free(nfs_pool *p, nfs_flow *w) {
	ndpi_free_flow_data(&w->f);
	w->tag = 0;
	if (w->prev != NULL) w->prev->next = w->next; else p->live = w->next;
	if (w->next != NULL) w->next->prev = w->prev;
	if (p->nspare < NFS_MAX_SPARE) {
		w->next = p->spare;
		p->spare = w;
		p->nspare++;
	} else {
		free(w);
	}
}

// nfs_free frees a live handle's flow and returns 1, or returns 0.
static int nfs_free(nfs_pool *p, uintptr_t h) {
	if (nfs_get(h) == NULL) return 0;
	nfs_flow_free(p, (nfs_flow *)h);
	return 1;
}

static void nfs_pool_free(nfs_pool *p) {
	while (p->live != NULL) nfs_flow_free(p, p->live);
	while (p->spare != NULL) {
		nfs_flow *w = p->spare;
		p->spare = w->next;
		free(w);
	}
	p->nspare = 0;
}

typedef struct {
	uint16_t master, app;
	uint32_t category;
	uint8_t flag; // process: extra dissection possible; giveup: was guessed
	uint8_t bad;  // the handle is not a live flow: nothing was done
} nfs_result;

static nfs_result nfs_to_result(ndpi_protocol p, uint8_t flag) {
	nfs_result r;
	r.master = p.master_protocol;
	r.app = p.app_protocol;
	r.category = (uint32_t)p.category;
	r.flag = flag;
	r.bad = 0;
	return r;
}

// nfs_process dissects one packet (already copied into C memory) and asks
// whether nDPI could use more packets: one cgo crossing per packet.
static const nfs_result nfs_bad = {0, 0, 0, 0, 1};

static nfs_result nfs_process(struct ndpi_detection_module_struct *m, uintptr_t h,
                              const unsigned char *pkt, unsigned short len, uint64_t time_ms) {
	struct ndpi_flow_struct *f = nfs_get(h);
	if (f == NULL) return nfs_bad;
	ndpi_protocol p = ndpi_detection_process_packet(m, f, pkt, len, time_ms);
	return nfs_to_result(p, ndpi_extra_dissection_possible(m, f) ? 1 : 0);
}

static nfs_result nfs_giveup(struct ndpi_detection_module_struct *m, uintptr_t h) {
	struct ndpi_flow_struct *f = nfs_get(h);
	if (f == NULL) return nfs_bad;
	u_int8_t guessed = 0;
	ndpi_protocol p = ndpi_detection_giveup(m, f, 1, &guessed);
	return nfs_to_result(p, guessed ? 1 : 0);
}

// Branches of NFStream's information extraction (spec 7.4), first match wins.
enum { NFS_NONE = 0, NFS_DHCP = 1, NFS_HTTP = 2, NFS_SSH = 3, NFS_TLS = 4 };

// nfs_info is filled by nfs_extract; its sizes are NFStream's column limits.
typedef struct {
	char name[40];      // application_name: at most 39 characters
	char category[25];  // application_category_name: first 24 bytes
	char sni[80];       // requested_server_name: at most 79
	char cfp[48];       // client_fingerprint
	char sfp[48];       // server_fingerprint
	char ua[256];       // user_agent: at most 255
	char ct[64];        // content_type: at most 63
	uint8_t branch;
	uint8_t confidence; // raw nDPI 4.2 ndpi_confidence_t
} nfs_info;

// nfs_copy copies at most min(dst_size-1, src_size) bytes of the string src
// (NULL is the empty string) and terminates dst.
static void nfs_copy(char *dst, size_t dst_size, const char *src, size_t src_size) {
	size_t n = 0;
	if (src != NULL) {
		size_t max = dst_size - 1;
		if (src_size < max) max = src_size;
		n = strnlen(src, max);
		memcpy(dst, src, n);
	}
	dst[n] = '\0';
}

static void nfs_lower(char *s) {
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z') *s += 'a' - 'A';
}

static int nfs_is(ndpi_protocol p, uint16_t id) {
	return p.master_protocol == id || p.app_protocol == id;
}

#define NFS_COPY_ARR(dst, src) nfs_copy((dst), sizeof(dst), (src), sizeof(src))
#define NFS_COPY_STR(dst, src) nfs_copy((dst), sizeof(dst), (src), (size_t)-1)

static int nfs_extra(struct ndpi_detection_module_struct *m, uintptr_t h) {
	struct ndpi_flow_struct *f = nfs_get(h);
	return f != NULL && ndpi_extra_dissection_possible(m, f);
}

// nfs_extract returns 0 when the handle is not a live flow. With names 0
// it leaves name and category empty: the caller knows them (they depend
// only on the protocol pair and the category, and formatting the name
// costs a snprintf).
static int nfs_extract(struct ndpi_detection_module_struct *m, uintptr_t h,
                       uint16_t master, uint16_t app, uint32_t category, int names, nfs_info *o) {
	struct ndpi_flow_struct *f = nfs_get(h);
	if (f == NULL) return 0;
	ndpi_protocol p;
	memset(&p, 0, sizeof(p));
	p.master_protocol = master;
	p.app_protocol = app;
	p.category = (ndpi_protocol_category_t)category;

	o->name[0] = o->category[0] = '\0';
	if (names) {
		ndpi_protocol2name(m, p, o->name, sizeof(o->name));
		NFS_COPY_STR(o->category, ndpi_category_get_name(m, p.category));
	}
	NFS_COPY_ARR(o->sni, f->host_server_name);
	o->confidence = (uint8_t)f->confidence;
	o->cfp[0] = o->sfp[0] = o->ua[0] = o->ct[0] = '\0';

	if (nfs_is(p, NDPI_PROTOCOL_DHCP)) {
		o->branch = NFS_DHCP;
		NFS_COPY_ARR(o->cfp, f->protos.dhcp.fingerprint);
	} else if (nfs_is(p, NDPI_PROTOCOL_HTTP)) {
		o->branch = NFS_HTTP;
		NFS_COPY_STR(o->ua, f->http.user_agent);
		NFS_COPY_STR(o->ct, f->http.content_type);
	} else if (nfs_is(p, NDPI_PROTOCOL_SSH)) {
		o->branch = NFS_SSH;
		NFS_COPY_ARR(o->cfp, f->protos.ssh.hassh_client);
		NFS_COPY_ARR(o->sfp, f->protos.ssh.hassh_server);
		nfs_lower(o->cfp); // nDPI 4.2 prints hassh in upper case, NFStream's nDPI in lower case
		nfs_lower(o->sfp);
	} else if (nfs_is(p, NDPI_PROTOCOL_TLS) || nfs_is(p, NDPI_PROTOCOL_DTLS) ||
	           nfs_is(p, NDPI_PROTOCOL_MAIL_SMTPS) || nfs_is(p, NDPI_PROTOCOL_MAIL_IMAPS) ||
	           nfs_is(p, NDPI_PROTOCOL_MAIL_POPS) || nfs_is(p, NDPI_PROTOCOL_QUIC)) {
		o->branch = NFS_TLS;
		NFS_COPY_ARR(o->cfp, f->protos.tls_quic.ja3_client);
		NFS_COPY_ARR(o->sfp, f->protos.tls_quic.ja3_server);
		NFS_COPY_STR(o->ua, f->http.user_agent);
	} else {
		o->branch = NFS_NONE;
	}
	return 1;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/nfstream-go/nfstream/dpi"
)

// bufSize is the size of the per-engine packet buffer: nDPI's packet length
// is an unsigned short, so no packet it sees is longer.
const bufSize = 65535

// Available reports whether nDPI is compiled into this build (New can work).
const Available = true

// ErrABI is returned by New when the nDPI headers this package was compiled
// against do not describe the installed library (a different nDPI version).
var ErrABI = errors.New("ndpi: the nDPI headers do not match the library (struct ndpi_flow_struct size differs)")

// ErrClosed is returned by NewFlow after Close.
var ErrClosed = errors.New("ndpi: engine is closed")

// moduleMu serialises ndpi_init_detection_module and
// ndpi_exit_detection_module, which nDPI forbids to run in parallel.
var moduleMu sync.Mutex

// Engine is one nDPI 4.2 detection module. It implements dpi.Engine.
//
// An Engine is used by one goroutine at a time (Close included); Handles
// belong to the Engine that made them.
type Engine struct {
	mod  *C.struct_ndpi_detection_module_struct
	cbuf *C.uchar    // C.malloc'd, bufSize bytes
	buf  []byte      // Go view of cbuf
	out  *C.nfs_info // C.malloc'd extraction scratch
	pool *C.nfs_pool // C.malloc'd: live and spare flows
	live int         // flows allocated by NewFlow and not freed
	// arenas are the bounds of the C memory given out by Arena: packets
	// in it are handed to nDPI where they are, without a copy.
	arenas []arena
	// names interns application and category names: a few hundred
	// distinct values shared by every flow, so labels cost no allocation.
	names map[string]string
	// labels caches the names of each (master, app, category): nDPI's
	// names are fixed once the module is initialised.
	labels map[uint64]label
}

type label struct{ name, category string }

var _ dpi.Engine = (*Engine)(nil)

// New creates a detection module: default preferences, every protocol
// enabled, initialisation finalised. It takes tens of milliseconds and about
// 5 MB of C memory, released by Close. It fails with ErrABI when the compiled
// headers do not match the installed library.
//
// New may be called from any goroutine.
func New() (*Engine, error) {
	if C.nfs_abi_ok() == 0 {
		return nil, fmt.Errorf("%w: headers %d bytes, library %d bytes", ErrABI,
			uint(C.nfs_flow_size()), uint(C.ndpi_detection_get_sizeof_ndpi_flow_struct()))
	}
	moduleMu.Lock()
	mod := C.nfs_init()
	moduleMu.Unlock()
	if mod == nil {
		return nil, errors.New("ndpi: ndpi_init_detection_module failed")
	}
	cbuf := (*C.uchar)(C.malloc(bufSize))
	out := (*C.nfs_info)(C.malloc(C.sizeof_nfs_info))
	pool := (*C.nfs_pool)(C.calloc(1, C.sizeof_nfs_pool))
	if cbuf == nil || out == nil || pool == nil {
		C.free(unsafe.Pointer(cbuf))
		C.free(unsafe.Pointer(out))
		C.free(unsafe.Pointer(pool))
		moduleMu.Lock()
		C.ndpi_exit_detection_module(mod)
		moduleMu.Unlock()
		return nil, errors.New("ndpi: out of C memory")
	}
	return &Engine{
		mod:  mod,
		cbuf: cbuf,
		buf:  unsafe.Slice((*byte)(unsafe.Pointer(cbuf)), bufSize),
		out:  out,
		pool: pool,
	}, nil
}

type arena struct {
	base   unsafe.Pointer
	lo, hi uintptr
}

// Arena returns n bytes of C memory that the engine owns until Close. A
// packet passed to Process from this memory is dissected where it is,
// without being copied first. It returns nil after Close or when C memory
// is exhausted.
func (e *Engine) Arena(n int) []byte {
	if e.mod == nil || n <= 0 {
		return nil
	}
	p := C.malloc(C.size_t(n))
	if p == nil {
		return nil
	}
	e.arenas = append(e.arenas, arena{p, uintptr(p), uintptr(p) + uintptr(n)})
	return unsafe.Slice((*byte)(p), n)
}

// inArena reports whether b lies in memory from Arena.
func (e *Engine) inArena(b []byte) bool {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for _, a := range e.arenas {
		if p >= a.lo && p+uintptr(len(b)) <= a.hi {
			return true
		}
	}
	return false
}

// badHandle panics: using a Handle that is zero or freed is a programming
// error. The C side checks each handle's tag before touching nDPI, which
// catches a freed handle while its memory is among the pool's spare flows
// (up to 4096); past that the memory goes back to malloc and the check is
// best effort. A handle of another Engine is not detected.
func badHandle(h dpi.Handle) {
	panic(fmt.Sprintf("ndpi: use of unknown or freed flow handle %#x", uintptr(h)))
}

// NewFlow allocates zeroed flow state (reusing a freed flow's memory).
func (e *Engine) NewFlow() (dpi.Handle, error) {
	if e.mod == nil {
		return 0, ErrClosed
	}
	w := C.nfs_flow_new(e.pool)
	if w == nil {
		return 0, errors.New("ndpi: out of C memory for a flow")
	}
	e.live++
	return dpi.Handle(uintptr(unsafe.Pointer(w))), nil
}

// Process copies ip (at most its first 65535 bytes) into the engine's C
// buffer, unless it lies in memory from Arena, and dissects it with ndpi_detection_process_packet; it also returns
// ndpi_extra_dissection_possible for the flow. ip is not kept. It does not
// allocate.
func (e *Engine) Process(h dpi.Handle, ip []byte, timeMs uint64) (dpi.Protocol, bool) {
	pkt := e.cbuf
	var n int
	if len(ip) <= bufSize && len(ip) > 0 && e.inArena(ip) {
		pkt, n = (*C.uchar)(unsafe.Pointer(unsafe.SliceData(ip))), len(ip)
	} else {
		n = copy(e.buf, ip)
	}
	r := C.nfs_process(e.mod, C.uintptr_t(h), pkt, C.ushort(n), C.uint64_t(timeMs))
	if r.bad != 0 {
		badHandle(h)
	}
	return dpi.Protocol{Master: uint16(r.master), App: uint16(r.app), Category: uint32(r.category)}, r.flag != 0
}

// extraPossible asks ndpi_extra_dissection_possible for the flow's current
// state. The Dissector uses the answer Process returned instead (the function
// only reads the flow state, which does not change between packets); tests
// use this to check NFStream's algorithm literally.
func (e *Engine) extraPossible(h dpi.Handle) bool {
	return C.nfs_extra(e.mod, C.uintptr_t(h)) != 0
}

// GiveUp calls ndpi_detection_giveup with guessing enabled.
func (e *Engine) GiveUp(h dpi.Handle) (dpi.Protocol, bool) {
	r := C.nfs_giveup(e.mod, C.uintptr_t(h))
	if r.bad != 0 {
		badHandle(h)
	}
	return dpi.Protocol{Master: uint16(r.master), App: uint16(r.app), Category: uint32(r.category)}, r.flag != 0
}

// Extract fills info following NFStream's rules (spec 7.4), in one cgo call:
//
//   - ApplicationName: ndpi_protocol2name of p ("TLS.Facebook", "Unknown"),
//     at most 39 characters; ApplicationCategoryName: the first 24 bytes of
//     ndpi_category_get_name; ApplicationConfidence: flow->confidence mapped
//     as the package documentation says; RequestedServerName:
//     flow->host_server_name (copied even when empty, as NFStream does).
//   - The first branch whose id is p's master or app id, in this order:
//     DHCP (18): ClientFingerprint = DHCP fingerprint;
//     HTTP (7): UserAgent and ContentType (response) = the HTTP headers, or
//     "" when absent; SSH (92): Client/ServerFingerprint = hassh, lower-cased;
//     TLS 91, DTLS 30, MAIL_SMTPS 29, MAIL_IMAPS 51, MAIL_POPS 23, QUIC 188:
//     Client/ServerFingerprint = JA3/JA3S, UserAgent = nDPI's user agent
//     slot or "". Fields of branches that do not apply are left unchanged.
//
// ApplicationIsGuessed is not touched. Strings equal to the current values
// are not reallocated.
func (e *Engine) Extract(h dpi.Handle, p dpi.Protocol, info *dpi.Info) {
	o := e.out
	key := uint64(p.Master)<<48 | uint64(p.App)<<32 | uint64(p.Category)
	l, known := e.labels[key]
	names := C.int(0)
	if !known {
		names = 1
	}
	if C.nfs_extract(e.mod, C.uintptr_t(h), C.uint16_t(p.Master), C.uint16_t(p.App), C.uint32_t(p.Category), names, o) == 0 {
		badHandle(h)
	}
	if !known {
		e.setName(&l.name, o.name[:])
		e.setName(&l.category, o.category[:])
		if e.labels == nil {
			e.labels = make(map[uint64]label)
		}
		e.labels[key] = l
	}
	info.ApplicationName, info.ApplicationCategoryName = l.name, l.category
	setString(&info.RequestedServerName, o.sni[:])
	info.ApplicationConfidence = mapConfidence(uint8(o.confidence))
	switch o.branch {
	case C.NFS_DHCP:
		setString(&info.ClientFingerprint, o.cfp[:])
	case C.NFS_HTTP:
		setString(&info.UserAgent, o.ua[:])
		setString(&info.ContentType, o.ct[:])
	case C.NFS_SSH:
		setString(&info.ClientFingerprint, o.cfp[:])
		setString(&info.ServerFingerprint, o.sfp[:])
	case C.NFS_TLS:
		setString(&info.ClientFingerprint, o.cfp[:])
		setString(&info.ServerFingerprint, o.sfp[:])
		setString(&info.UserAgent, o.ua[:])
	}
}

// cBytes returns the NUL-terminated C string in arr, without copying.
func cBytes(arr []C.char) []byte {
	b := unsafe.Slice((*byte)(unsafe.Pointer(&arr[0])), len(arr))
	n := 0
	for n < len(b) && b[n] != 0 {
		n++
	}
	return b[:n]
}

// setString stores the NUL-terminated C string in arr into *dst, allocating
// only when the value changes.
func setString(dst *string, arr []C.char) {
	if b := cBytes(arr); *dst != string(b) {
		*dst = string(b)
	}
}

// setName is setString for names from a small set, interned.
func (e *Engine) setName(dst *string, arr []C.char) {
	b := cBytes(arr)
	if *dst == string(b) {
		return
	}
	v, ok := e.names[string(b)]
	if !ok {
		if e.names == nil {
			e.names = make(map[string]string)
		}
		v = string(b)
		e.names[v] = v
	}
	*dst = v
}

// Free releases a flow's state (ndpi_free_flow_data; the flow's own memory
// is kept for a later NewFlow, up to 4096 spare flows). A zero Handle is
// ignored, and so is a second Free while the memory is still a spare; a
// Handle must not be used at all after Free (see badHandle).
func (e *Engine) Free(h dpi.Handle) {
	if e.mod == nil || C.nfs_free(e.pool, C.uintptr_t(h)) == 0 {
		return
	}
	e.live--
}

// LiveFlows is the number of flows allocated by NewFlow and not yet freed.
func (e *Engine) LiveFlows() int { return e.live }

// Close frees every flow still allocated and the detection module. Further
// calls return nil; after Close, NewFlow returns ErrClosed.
func (e *Engine) Close() error {
	if e.mod == nil {
		return nil
	}
	C.nfs_pool_free(e.pool)
	C.free(unsafe.Pointer(e.pool))
	e.pool, e.live = nil, 0
	for _, a := range e.arenas {
		C.free(a.base)
	}
	e.arenas = nil
	moduleMu.Lock()
	C.ndpi_exit_detection_module(e.mod)
	moduleMu.Unlock()
	e.mod = nil
	C.free(unsafe.Pointer(e.cbuf))
	C.free(unsafe.Pointer(e.out))
	e.cbuf, e.out, e.buf = nil, nil, nil
	return nil
}
