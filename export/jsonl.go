package export

import (
	"bufio"
	"io"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/nfstream-go/nfstream/flow"
)

// JSONObject renders flows as JSON objects whose keys are the column names
// in column order: the JSON Lines export writes one per line, and network
// exporters (Kafka) send one per record. Integers are JSON integers; floats
// are written as Python's repr() (always with a '.' or an exponent, so
// readers keep them floats), and NaN and ±Inf, which JSON lacks, as null;
// strings are JSON strings (bytes that are not UTF-8 become U+FFFD); lists
// are arrays; a udps None is null. A JSONObject is used by one goroutine.
type JSONObject struct {
	cols []Column
	keys [][]byte // `{"name":` then `,"name":`, precomputed
	raw  []byte   // a string value before escaping
	list []int64
}

// NewJSONObject returns a renderer of the given columns.
func NewJSONObject(cols []Column) *JSONObject {
	j := &JSONObject{cols: cols, keys: make([][]byte, len(cols))}
	for i, c := range cols {
		k := []byte{','}
		if i == 0 {
			k[0] = '{'
		}
		k = appendJSONString(k, c.Name)
		j.keys[i] = append(k, ':')
	}
	return j
}

// Append appends the flow as one JSON object, without a newline.
func (j *JSONObject) Append(b []byte, f *flow.Flow) []byte {
	for i := range j.cols {
		b = append(b, j.keys[i]...)
		b = j.appendValue(b, &j.cols[i], f)
	}
	if len(j.cols) == 0 {
		b = append(b, '{')
	}
	return append(b, '}')
}

func (j *JSONObject) appendValue(b []byte, col *Column, f *flow.Flow) []byte {
	switch col.Kind {
	case Int:
		return strconv.AppendInt(b, col.Int(f), 10)
	case Float:
		return appendJSONFloat(b, col.Float(f))
	case String:
		j.raw = col.String(j.raw[:0], f)
		// The string only lives during the call: no copy needed.
		return appendJSONString(b, unsafe.String(unsafe.SliceData(j.raw), len(j.raw)))
	case List:
		j.list = col.List(j.list[:0], f)
		return appendJSONInts(b, j.list)
	case UDPS:
		return appendJSONValue(b, col.UDPS(f))
	}
	return append(b, "null"...)
}

// jsonl writes JSON Lines: one JSONObject per flow and line.
type jsonl struct {
	w   *bufio.Writer
	obj *JSONObject
	buf []byte // the line
}

func newJSONL(w io.Writer, lay *layout) *jsonl {
	return &jsonl{w: bufio.NewWriterSize(w, 256<<10), obj: NewJSONObject(lay.cols)}
}

func (j *jsonl) Write(f *flow.Flow) error {
	j.buf = append(j.obj.Append(j.buf[:0], f), '\n')
	_, err := j.w.Write(j.buf)
	return err
}

func (j *jsonl) Close() error { return j.w.Flush() }

// Flush writes the buffered lines.
func (j *jsonl) Flush() error { return j.w.Flush() }

// batchEncoder and writeBatch: see CSV's.
func (j *jsonl) batchEncoder() batchEncoder {
	obj := NewJSONObject(j.obj.cols)
	return lineEncoder(func(dst []byte, f *flow.Flow) []byte { return append(obj.Append(dst, f), '\n') })
}

func (j *jsonl) writeBatch(job *encJob) error {
	_, err := j.w.Write(job.lines)
	return err
}

func appendJSONFloat(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	return AppendPyFloat(b, v)
}

func appendJSONInts(b []byte, list []int64) []byte {
	b = append(b, '[')
	for i, v := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, v, 10)
	}
	return append(b, ']')
}

func appendJSONValue(b []byte, v flow.Value) []byte {
	switch v.Kind {
	case flow.KindInt:
		return strconv.AppendInt(b, v.Int, 10)
	case flow.KindFloat:
		return appendJSONFloat(b, v.Float)
	case flow.KindString:
		return appendJSONString(b, v.String)
	case flow.KindList:
		return appendJSONInts(b, v.List)
	case flow.KindStrings:
		b = append(b, '[')
		for i, s := range v.Strings {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		return append(b, ']')
	}
	return append(b, "null"...)
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, as are U+2028 and U+2029 (for JavaScript);
// invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&15])
			i += n
			start = i
			continue
		}
		i += n
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
