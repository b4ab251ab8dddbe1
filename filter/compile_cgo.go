//go:build cgo

package filter

/*
#cgo LDFLAGS: -lpcap
#include <stdlib.h>
#include <string.h>
#include <pcap/pcap.h>

// nf_compile compiles expr for a link type with pcap_open_dead and
// pcap_compile (optimised, netmask 255.255.255.0, as NFStream does). On
// success it returns 0 and leaves the program in *prog, to be freed with
// pcap_freecode; on failure it returns -1 with libpcap's message in errbuf.
static int nf_compile(int linktype, int snaplen, const char *expr, struct bpf_program *prog, char *errbuf, size_t errlen) {
	pcap_t *p = pcap_open_dead(linktype, snaplen);
	if (p == NULL) {
		strncpy(errbuf, "pcap_open_dead failed", errlen - 1);
		errbuf[errlen - 1] = 0;
		return -1;
	}
	if (pcap_compile(p, prog, expr, 1, 0xffffff00) != 0) {
		strncpy(errbuf, pcap_geterr(p), errlen - 1);
		errbuf[errlen - 1] = 0;
		pcap_close(p);
		return -1;
	}
	pcap_close(p);
	return 0;
}
*/
import "C"

import (
	"sync"
	"unsafe"
)

// compileMu serialises calls into libpcap's compiler, whose thread safety
// varies between versions. Compiling is rare; matching needs no lock.
var compileMu sync.Mutex

// compile has libpcap compile expr and copies the program into Go memory.
func compile(expr string, linkType uint16, snaplen int) ([]Instruction, error) {
	cexpr := C.CString(expr)
	defer C.free(unsafe.Pointer(cexpr))
	var prog C.struct_bpf_program
	var errbuf [C.PCAP_ERRBUF_SIZE]C.char

	compileMu.Lock()
	rc := C.nf_compile(C.int(linkType), C.int(snaplen), cexpr, &prog, &errbuf[0], C.size_t(len(errbuf)))
	compileMu.Unlock()
	if rc != 0 {
		return nil, &CompileError{Expr: expr, LinkType: linkType, Msg: C.GoString(&errbuf[0])}
	}
	defer C.pcap_freecode(&prog)
	n := int(prog.bf_len)
	insns := unsafe.Slice(prog.bf_insns, n)
	out := make([]Instruction, n)
	for i := range insns {
		out[i] = Instruction{Code: uint16(insns[i].code), Jt: uint8(insns[i].jt), Jf: uint8(insns[i].jf), K: uint32(insns[i].k)}
	}
	return out, nil
}
