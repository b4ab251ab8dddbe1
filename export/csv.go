package export

import (
	"bufio"
	"bytes"
	"io"
	"strconv"

	"github.com/nfstream-go/nfstream/flow"
)

// CSV writes flows as NFStream's to_csv does — same header, same column
// order, same number and list formats — but with standard RFC 4180 quoting
// (a quote inside a string is doubled, where NFStream writes \" which pandas
// misreads). Strings and lists are always quoted; numbers never are, so
// pandas infers the same dtypes as for NFStream's files.
//
// A CSV is used by one goroutine. Call Flush at the end.
type CSV struct {
	w      *bufio.Writer
	cols   []Column
	buf    []byte
	list   []int64
	header bool
	fixed  bool // the columns are final: the first flow adds no udps columns (set by New and Create)
}

// NewCSV returns a writer of the given columns to w.
func NewCSV(w io.Writer, cols []Column) *CSV {
	return &CSV{w: bufio.NewWriterSize(w, 256<<10), cols: cols}
}

// WriteHeader writes the header line if it has not been written yet.
// Write calls it for the first flow.
func (c *CSV) WriteHeader() error {
	if c.header {
		return nil
	}
	c.header = true
	b := c.buf[:0]
	for i, col := range c.cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, col.Name...)
	}
	b = append(b, '\n')
	c.buf = b
	_, err := c.w.Write(b)
	return err
}

// Write writes one flow as a line. The first flow written also decides
// the udps.<name> columns, as in NFStream (see UDPSColumns).
func (c *CSV) Write(f *flow.Flow) error {
	if !c.header && !c.fixed {
		c.cols = WithUDPS(c.cols, f)
	}
	if err := c.WriteHeader(); err != nil {
		return err
	}
	c.buf = appendCSVLine(c.buf[:0], c.cols, f, &c.list)
	_, err := c.w.Write(c.buf)
	return err
}

// batchEncoder returns a function that encodes a job's lines, for one
// goroutine; several may run at once. Only once the columns are final
// (after the first Write).
func (c *CSV) batchEncoder() batchEncoder {
	var list []int64
	return lineEncoder(func(dst []byte, f *flow.Flow) []byte { return appendCSVLine(dst, c.cols, f, &list) })
}

// writeBatch writes the lines of a job made by batchEncoder functions.
func (c *CSV) writeBatch(j *encJob) error {
	if err := c.WriteHeader(); err != nil {
		return err
	}
	_, err := c.w.Write(j.lines)
	return err
}

// appendCSVLine appends f's line; list is scratch space for list columns.
func appendCSVLine(b []byte, cols []Column, f *flow.Flow, list *[]int64) []byte {
	for i := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCSVValue(b, &cols[i], f, list)
	}
	return append(b, '\n')
}

func appendCSVValue(b []byte, col *Column, f *flow.Flow, list *[]int64) []byte {
	switch col.Kind {
	case Int:
		v := col.Int(f)
		if uint64(v) < 10 { // most counters of most flows
			return append(b, byte('0'+v))
		}
		return strconv.AppendInt(b, v, 10)
	case Float:
		return AppendPyFloat(b, col.Float(f))
	case List:
		*list = col.List((*list)[:0], f)
		b = append(b, '"', '[')
		for i, v := range *list {
			if i > 0 {
				b = append(b, ',', ' ')
			}
			b = strconv.AppendInt(b, v, 10)
		}
		return append(b, ']', '"')
	case UDPS:
		v := col.UDPS(f)
		switch v.Kind {
		case flow.KindNone:
			return b // None: empty field
		case flow.KindInt, flow.KindFloat:
			return AppendPyValue(b, v)
		}
		start := len(b)
		b = append(b, '"')
		b = AppendPyValue(b, v)
		return closeQuote(b, start)
	}
	// String: quote, doubling quotes inside.
	start := len(b)
	b = append(b, '"')
	b = col.String(b, f)
	return closeQuote(b, start)
}

// closeQuote doubles every quote after the opening one at b[start] and
// appends the closing quote (RFC 4180).
func closeQuote(b []byte, start int) []byte {
	if bytes.IndexByte(b[start+1:], '"') < 0 {
		return append(b, '"')
	}
	for i := start + 1; i < len(b); i++ {
		if b[i] == '"' {
			b = append(b, 0)
			copy(b[i+1:], b[i:])
			i++
		}
	}
	return append(b, '"')
}

// Flush writes buffered data to the underlying writer.
func (c *CSV) Flush() error { return c.w.Flush() }

// Close writes the header if no flow was written, then flushes. It does not
// close the underlying writer. Close makes CSV an export Writer.
func (c *CSV) Close() error {
	if err := c.WriteHeader(); err != nil {
		return err
	}
	return c.Flush()
}
