package filter

import (
	"errors"
	"strings"
	"testing"
)

func stmt(code uint16, k uint32) Instruction { return Instruction{Code: code, K: k} }

func jump(code uint16, k uint32, jt, jf uint8) Instruction {
	return Instruction{Code: code, Jt: jt, Jf: jf, K: k}
}

// TestRun checks the interpreter instruction by instruction with hand-written
// programs (the values follow libpcap's bpf_filter; libpcap_test.go checks
// them against libpcap itself).
func TestRun(t *testing.T) {
	pkt := []byte{0x45, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09}
	retA := stmt(opRetA, 0)
	tests := []struct {
		name string
		prog []Instruction
		data []byte
		wire uint32
		want uint32
	}{
		{"ret k", []Instruction{stmt(opRetK, 1234)}, pkt, 10, 1234},
		{"ld w abs", []Instruction{stmt(opLdWAbs, 6), retA}, pkt, 10, 0x06070809},
		{"ld w abs out of bounds", []Instruction{stmt(opLdWAbs, 7), retA}, pkt, 10, 0},
		{"ld w abs huge offset", []Instruction{stmt(opLdWAbs, 0xfffffffe), retA}, pkt, 10, 0},
		{"ld h abs", []Instruction{stmt(opLdHAbs, 8), retA}, pkt, 10, 0x0809},
		{"ld h abs out of bounds", []Instruction{stmt(opLdHAbs, 9), retA}, pkt, 10, 0},
		{"ld b abs", []Instruction{stmt(opLdBAbs, 9), retA}, pkt, 10, 9},
		{"ld b abs out of bounds", []Instruction{stmt(opLdBAbs, 10), retA}, pkt, 10, 0},
		{"ld b abs linux ancillary data", []Instruction{stmt(opLdBAbs, 0xfffff02c), retA}, pkt, 10, 0},
		{"ld len", []Instruction{stmt(opLdLen, 0), retA}, pkt, 1514, 1514},
		{"ldx len", []Instruction{stmt(opLdxLen, 0), stmt(opTxa, 0), retA}, pkt, 60, 60},
		{"ld w ind", []Instruction{stmt(opLdxImm, 2), stmt(opLdWInd, 4), retA}, pkt, 10, 0x06070809},
		{"ld w ind out of bounds", []Instruction{stmt(opLdxImm, 3), stmt(opLdWInd, 4), retA}, pkt, 10, 0},
		{"ld w ind overflow", []Instruction{stmt(opLdxImm, 0xffffffff), stmt(opLdWInd, 2), retA}, pkt, 10, 0},
		{"ld h ind", []Instruction{stmt(opLdxImm, 1), stmt(opLdHInd, 7), retA}, pkt, 10, 0x0809},
		{"ld h ind out of bounds", []Instruction{stmt(opLdxImm, 1), stmt(opLdHInd, 8), retA}, pkt, 10, 0},
		{"ld b ind", []Instruction{stmt(opLdxImm, 4), stmt(opLdBInd, 5), retA}, pkt, 10, 9},
		{"ld b ind out of bounds", []Instruction{stmt(opLdxImm, 5), stmt(opLdBInd, 5), retA}, pkt, 10, 0},
		{"ld b ind overflow", []Instruction{stmt(opLdxImm, 0xffffffff), stmt(opLdBInd, 1), retA}, pkt, 10, 0},
		{"ldx msh", []Instruction{stmt(opLdxMsh, 0), stmt(opTxa, 0), retA}, pkt, 10, 20},
		{"ldx msh out of bounds", []Instruction{stmt(opLdxMsh, 10), stmt(opTxa, 0), retA}, pkt, 10, 0},
		{"empty packet", []Instruction{stmt(opLdBAbs, 0), retA}, nil, 0, 0},
		{"scratch memory", []Instruction{stmt(opLdImm, 7), stmt(opSt, 15), stmt(opLdxImm, 9), stmt(opStx, 3), stmt(opLdMem, 3), stmt(opLdxMem, 15), stmt(opSubX, 0), retA}, pkt, 10, 2},
		{"memory starts at zero", []Instruction{stmt(opLdImm, 7), stmt(opLdMem, 5), retA}, pkt, 10, 0},
		{"add sub mul", []Instruction{stmt(opLdImm, 10), stmt(opAddK, 5), stmt(opMulK, 3), stmt(opSubK, 50), retA}, pkt, 10, 0xfffffffb},
		{"div mod k", []Instruction{stmt(opLdImm, 100), stmt(opDivK, 7), stmt(opModK, 5), retA}, pkt, 10, 4},
		{"div x by zero rejects", []Instruction{stmt(opLdImm, 100), stmt(opLdxImm, 0), stmt(opDivX, 0), stmt(opRetK, 1)}, pkt, 10, 0},
		{"mod x by zero rejects", []Instruction{stmt(opLdImm, 100), stmt(opLdxImm, 0), stmt(opModX, 0), stmt(opRetK, 1)}, pkt, 10, 0},
		{"div mod x", []Instruction{stmt(opLdImm, 100), stmt(opLdxImm, 7), stmt(opDivX, 0), stmt(opLdxImm, 5), stmt(opModX, 0), retA}, pkt, 10, 4},
		{"and or xor k", []Instruction{stmt(opLdImm, 0xf0f0), stmt(opAndK, 0xff00), stmt(opOrK, 0x000f), stmt(opXorK, 0x0101), retA}, pkt, 10, 0xf10e},
		{"and or xor x", []Instruction{stmt(opLdImm, 0xf0f0), stmt(opLdxImm, 0xff00), stmt(opAndX, 0), stmt(opLdxImm, 0xf), stmt(opOrX, 0), stmt(opLdxImm, 0x101), stmt(opXorX, 0), retA}, pkt, 10, 0xf10e},
		{"shifts k", []Instruction{stmt(opLdImm, 1), stmt(opLshK, 31), stmt(opRshK, 30), retA}, pkt, 10, 2},
		{"shift x by 32 gives 0", []Instruction{stmt(opLdImm, 1), stmt(opLdxImm, 32), stmt(opLshX, 0), retA}, pkt, 10, 0},
		{"shift x right by 33 gives 0", []Instruction{stmt(opLdImm, 0x80000000), stmt(opLdxImm, 33), stmt(opRshX, 0), retA}, pkt, 10, 0},
		{"shifts x", []Instruction{stmt(opLdImm, 3), stmt(opLdxImm, 4), stmt(opLshX, 0), stmt(opLdxImm, 1), stmt(opRshX, 0), retA}, pkt, 10, 24},
		{"add mul x", []Instruction{stmt(opLdImm, 3), stmt(opLdxImm, 4), stmt(opAddX, 0), stmt(opMulX, 0), retA}, pkt, 10, 28},
		{"neg", []Instruction{stmt(opLdImm, 1), stmt(opNeg, 0), retA}, pkt, 10, 0xffffffff},
		{"tax txa", []Instruction{stmt(opLdImm, 77), stmt(opTax, 0), stmt(opLdImm, 0), stmt(opTxa, 0), retA}, pkt, 10, 77},
		{"ja", []Instruction{stmt(opJA, 1), stmt(opRetK, 1), stmt(opRetK, 2)}, pkt, 10, 2},
		{"jeq k", []Instruction{stmt(opLdBAbs, 0), jump(opJeqK, 0x45, 0, 1), stmt(opRetK, 1), stmt(opRetK, 2)}, pkt, 10, 1},
		{"jgt k", []Instruction{stmt(opLdBAbs, 0), jump(opJgtK, 0x45, 0, 1), stmt(opRetK, 1), stmt(opRetK, 2)}, pkt, 10, 2},
		{"jge k", []Instruction{stmt(opLdBAbs, 0), jump(opJgeK, 0x45, 0, 1), stmt(opRetK, 1), stmt(opRetK, 2)}, pkt, 10, 1},
		{"jset k", []Instruction{stmt(opLdBAbs, 0), jump(opJsetK, 0x02, 0, 1), stmt(opRetK, 1), stmt(opRetK, 2)}, pkt, 10, 2},
		{"jeq x", []Instruction{stmt(opLdxImm, 0x45), stmt(opLdBAbs, 0), jump(opJeqX, 0, 0, 1), stmt(opRetK, 1), stmt(opRetK, 2)}, pkt, 10, 1},
		{"jgt x", []Instruction{stmt(opLdxImm, 0x44), stmt(opLdBAbs, 0), jump(opJgtX, 0, 0, 1), stmt(opRetK, 1), stmt(opRetK, 2)}, pkt, 10, 1},
		{"jge x", []Instruction{stmt(opLdxImm, 0x46), stmt(opLdBAbs, 0), jump(opJgeX, 0, 0, 1), stmt(opRetK, 1), stmt(opRetK, 2)}, pkt, 10, 2},
		{"jset x", []Instruction{stmt(opLdxImm, 0x04), stmt(opLdBAbs, 0), jump(opJsetX, 0, 0, 1), stmt(opRetK, 1), stmt(opRetK, 2)}, pkt, 10, 1},
		{
			// A loop, as libpcap compiles "protochain": count down from 5.
			"backward jump",
			[]Instruction{stmt(opLdImm, 5), jump(opJeqK, 0, 2, 0), stmt(opSubK, 1), stmt(opJA, 0xfffffffd), stmt(opRetK, 99)},
			pkt, 10, 99,
		},
		{
			"endless loop stopped",
			[]Instruction{stmt(opLdImm, 5), jump(opJeqK, 0, 2, 0), stmt(opAddK, 0), stmt(opJA, 0xfffffffd), stmt(opRetK, 99)},
			pkt, 10, 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(tt.name, tt.prog)
			if err != nil {
				t.Fatal(err)
			}
			if got := run(f.code, tt.data, tt.wire); got != tt.want {
				t.Errorf("result %#x, want %#x", got, tt.want)
			}
			if f.Match(tt.data, tt.wire) != (tt.want != 0) {
				t.Errorf("Match disagrees with the result")
			}
		})
	}
}

// TestValidate checks that New refuses what libpcap's validator refuses.
func TestValidate(t *testing.T) {
	ret := stmt(opRetK, 1)
	tests := []struct {
		name string
		prog []Instruction
		want string
	}{
		{"empty", nil, "empty program"},
		{"no return at the end", []Instruction{stmt(opLdImm, 1)}, "the last instruction is not a return"},
		{"unknown opcode", []Instruction{stmt(0x0e, 0), ret}, "instruction 0: unknown opcode 0x000e"},
		{"ret x", []Instruction{stmt(classRET|srcX, 0)}, "unknown opcode 0x000e"},
		{"ld h imm", []Instruction{stmt(classLD|sizeH|modeIMM, 0), ret}, "unknown opcode 0x0008"},
		{"memory index", []Instruction{stmt(opLdMem, 16), ret}, "instruction 0: scratch memory M[16] does not exist"},
		{"store index", []Instruction{stmt(opStx, 100), ret}, "scratch memory M[100]"},
		{"division by zero", []Instruction{stmt(opDivK, 0), ret}, "instruction 0: division by zero"},
		{"modulo by zero", []Instruction{stmt(opModK, 0), ret}, "division by zero"},
		{"shift by 32", []Instruction{stmt(opLshK, 32), ret}, "instruction 0: shift by 32 bits"},
		{"jump past the end", []Instruction{stmt(opJA, 1), ret}, "instruction 0: jump to 2 out of the program"},
		{"jump to itself", []Instruction{stmt(opJA, 0xffffffff), ret}, "jump to 0 out of the program"},
		{"jump before the start", []Instruction{ret, stmt(opJA, 0xfffffffd), ret}, "jump to -1 out of the program"},
		{"conditional jump past the end", []Instruction{jump(opJeqK, 0, 0, 1), ret}, "instruction 0: jump out of the program"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New("x", tt.prog)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), `bpf_filter "x": `) {
				t.Errorf("error %q does not name the filter", err)
			}
		})
	}
	if _, err := New("x", nil); !errors.Is(err, errEmpty) {
		t.Errorf("New(nil) = %v, want errEmpty", err)
	}
}

// TestProgramCopied: New copies the program, Instructions returns a copy.
func TestProgramCopied(t *testing.T) {
	prog := []Instruction{stmt(opRetK, 1)}
	f, err := New("x", prog)
	if err != nil {
		t.Fatal(err)
	}
	prog[0].K = 0
	got := f.Instructions()
	got[0].K = 0
	if !f.Match(nil, 0) || f.Expr() != "x" {
		t.Error("the filter changed with the caller's slices")
	}
}

func TestMatchZeroAllocs(t *testing.T) {
	f, err := New("loop", []Instruction{stmt(opLdImm, 5), jump(opJeqK, 0, 2, 0), stmt(opSubK, 1), stmt(opJA, 0xfffffffd), stmt(opRetK, 99)})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 100)
	if allocs := testing.AllocsPerRun(1000, func() { f.Match(data, 100) }); allocs != 0 {
		t.Errorf("%v allocations per Match, want 0", allocs)
	}
}
