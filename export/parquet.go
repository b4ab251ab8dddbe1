package export

import (
	"errors"
	"io"
	"math"
	"reflect"
	"strconv"

	"github.com/parquet-go/parquet-go"

	"github.com/nfstream-go/nfstream/flow"
)

// parquetKind is the physical layout of one column.
type parquetKind uint8

const (
	pqInt parquetKind = iota
	pqFloat
	pqString
	pqList
	pqStrings
)

type parquetCol struct {
	kind     parquetKind
	optional bool // a udps column: one definition level more
}

// parquetBatch is how many rows are handed to the library at once.
const parquetBatch = 64

// parquetWriter writes Parquet with native column types (the mapping is
// also in docs/exports.md):
//
//	Int                INT64, required               → pandas int64
//	Float              DOUBLE, required (NaN kept)   → float64
//	String             BYTE_ARRAY STRING, required   → object (str)
//	List               LIST<INT64>, required         → object (arrays)
//	udps int / float   INT64 / DOUBLE, optional      → int64 (float64 with nulls) / float64
//	udps str, None     BYTE_ARRAY STRING, optional   → object
//	udps list of ints  LIST<INT64>, optional
//	udps list of str   LIST<STRING>, optional
//
// A udps column is typed by its value in the first flow (None gives a string
// column). A later value of another kind is converted when that loses
// nothing (int into a float column, an integral float into an int column,
// anything into a string column as Python's str() writes it) and is null
// otherwise.
//
// Rows are buffered by row group (Options.RowGroupRows flows) and written
// compressed with Snappy, so memory depends on the row group length and the
// number of columns, not on the number of flows. Building rows from flows
// and encoding them (dictionaries, pages, compression) run on two
// goroutines: Write builds batches of parquetBatch rows and hands them to
// the encoding goroutine, in order, so the file is the same.
type parquetWriter struct {
	w       *parquet.Writer
	cols    []Column
	pcols   []parquetCol
	maxRows int
	inGroup int // rows handed over in the current row group

	cur  *pqBatch // the batch being built
	list []int64

	work chan *pqBatch // batches to encode
	free chan *pqBatch // encoded batches, for reuse
	done chan struct{} // closed when the encoding goroutine has returned
	err  firstError    // of the encoding goroutine
}

// pqBatch is a batch of rows and the string bytes they point into.
type pqBatch struct {
	rows     []parquet.Row
	scratch  [][]byte // string bytes of each row
	endGroup bool     // the row group ends with this batch
}

// pqBatches is how many batches exist: one being built, two in flight.
const pqBatches = 3

func newParquet(w io.Writer, lay *layout, rowGroupRows int) *parquetWriter {
	if rowGroupRows <= 0 {
		rowGroupRows = DefaultRowGroupRows
	}
	p := &parquetWriter{
		cols:    lay.cols,
		pcols:   make([]parquetCol, len(lay.cols)),
		maxRows: rowGroupRows,
		work:    make(chan *pqBatch, pqBatches),
		free:    make(chan *pqBatch, pqBatches),
		done:    make(chan struct{}),
	}
	for range pqBatches {
		p.free <- &pqBatch{rows: make([]parquet.Row, 0, parquetBatch), scratch: make([][]byte, parquetBatch)}
	}
	p.cur = <-p.free
	fields := make([]parquet.Field, len(lay.cols))
	for i, c := range lay.cols {
		var node parquet.Node
		pc := parquetCol{}
		switch c.Kind {
		case Int:
			pc.kind = pqInt
		case Float:
			pc.kind = pqFloat
		case String:
			pc.kind = pqString
		case List:
			pc.kind = pqList
		case UDPS:
			pc.optional = true
			switch lay.udps[i] {
			case flow.KindInt:
				pc.kind = pqInt
			case flow.KindFloat:
				pc.kind = pqFloat
			case flow.KindList:
				pc.kind = pqList
			case flow.KindStrings:
				pc.kind = pqStrings
			default:
				pc.kind = pqString
			}
		}
		switch pc.kind {
		case pqInt:
			node = parquet.Leaf(parquet.Int64Type)
		case pqFloat:
			node = parquet.Leaf(parquet.DoubleType)
		case pqString:
			node = parquet.Encoded(parquet.String(), &parquet.RLEDictionary)
		case pqList:
			node = parquet.List(parquet.Leaf(parquet.Int64Type))
		case pqStrings:
			node = parquet.List(parquet.String())
		}
		if pc.optional {
			node = parquet.Optional(node)
		}
		p.pcols[i] = pc
		fields[i] = &orderedField{Node: node, name: c.Name}
	}
	schema := parquet.NewSchema("nfstream", orderedGroup{fields: fields})
	p.w = parquet.NewWriter(w, schema,
		parquet.Compression(&parquet.Snappy),
		parquet.PageBufferSize(64<<10),
	)
	go p.encode()
	return p
}

// encode is the encoding goroutine: it writes the batches in order, and
// after an error only hands them back.
func (p *parquetWriter) encode() {
	defer close(p.done)
	for b := range p.work {
		if p.err.get() == nil {
			_, err := p.w.WriteRows(b.rows)
			if err == nil && b.endGroup {
				err = p.w.Flush()
			}
			if err != nil {
				p.err.set(err)
			}
		}
		b.rows, b.endGroup = b.rows[:0], false
		p.free <- b
	}
}

func (p *parquetWriter) Write(f *flow.Flow) error {
	b := p.cur
	n := len(b.rows)
	b.rows = b.rows[:n+1]
	b.rows[n] = p.appendRow(b, b.rows[n][:0], n, f)
	if len(b.rows) == cap(b.rows) || p.inGroup+len(b.rows) >= p.maxRows {
		return p.handOver()
	}
	return nil
}

// handOver gives the current batch to the encoding goroutine (ending the
// row group when it is full) and takes a free one.
func (p *parquetWriter) handOver() error {
	b := p.cur
	if p.work == nil {
		b.rows = b.rows[:0]
		return errors.New("export: parquet write after Close")
	}
	if err := p.err.get(); err != nil {
		b.rows = b.rows[:0]
		return err
	}
	if len(b.rows) == 0 {
		return nil
	}
	p.inGroup += len(b.rows)
	if p.inGroup >= p.maxRows {
		b.endGroup = true
		p.inGroup = 0
	}
	p.work <- b
	p.cur = <-p.free
	return nil
}

// settle waits until every batch handed over has been encoded: the
// writer's memory is then that of the rows it holds, whatever the pace of
// the encoding goroutine (TestParquetMemoryFlat measures it there). All
// batches but the current one are then free.
func (p *parquetWriter) settle() {
	var taken [pqBatches - 1]*pqBatch
	for i := range taken {
		taken[i] = <-p.free
	}
	for _, b := range taken {
		p.free <- b
	}
}

// Close writes the rows left and the footer; it does not close the
// underlying writer.
func (p *parquetWriter) Close() error {
	if p.work == nil {
		return p.err.get()
	}
	err := p.handOver()
	close(p.work)
	<-p.done
	p.work = nil
	if err != nil {
		return err
	}
	if err := p.err.get(); err != nil {
		return err
	}
	return p.w.Close()
}

// appendRow appends f's values, column by column, to row; slot is the
// row's place in batch b, whose scratch buffer holds its string bytes
// until the batch is written.
func (p *parquetWriter) appendRow(b *pqBatch, row parquet.Row, slot int, f *flow.Flow) parquet.Row {
	str := b.scratch[slot][:0]
	for i := range p.cols {
		c := &p.cols[i]
		// Values of the required columns have levels 0: only the column
		// index is set (SetColumnIndex inlines; Value.Level does not, and
		// cost a fifth of the time per flow).
		var v parquet.Value
		switch c.Kind {
		case Int:
			v = parquet.Int64Value(c.Int(f))
		case Float:
			v = parquet.DoubleValue(c.Float(f))
		case String:
			start := len(str)
			str = c.String(str, f)
			v = parquet.ByteArrayValue(str[start:len(str):len(str)])
		case List:
			p.list = c.List(p.list[:0], f)
			row = appendInt64List(row, p.list, 0, i)
			continue
		case UDPS:
			row, str = p.appendUDPS(row, str, p.pcols[i].kind, c.UDPS(f), i)
			continue
		}
		v.SetColumnIndex(i)
		row = append(row, v)
	}
	b.scratch[slot] = str
	return row
}

// appendInt64List appends a list whose enclosing levels are defined up to
// def: an empty list is one null at def, elements are at def+1.
func appendInt64List(row parquet.Row, list []int64, def, col int) parquet.Row {
	if len(list) == 0 {
		return append(row, parquet.NullValue().Level(0, def, col))
	}
	for k, x := range list {
		v := parquet.Int64Value(x)
		if k > 0 {
			v.SetRepetitionLevel(1)
		}
		v.SetDefinitionLevel(def + 1)
		v.SetColumnIndex(col)
		row = append(row, v)
	}
	return row
}

// appendUDPS appends a udps value to an optional column of the given kind
// (see the conversion rules above).
func (p *parquetWriter) appendUDPS(row parquet.Row, str []byte, kind parquetKind, v flow.Value, col int) (parquet.Row, []byte) {
	null := parquet.NullValue().Level(0, 0, col)
	if v.Kind == flow.KindNone {
		return append(row, null), str
	}
	switch kind {
	case pqInt:
		switch {
		case v.Kind == flow.KindInt:
			return append(row, parquet.Int64Value(v.Int).Level(0, 1, col)), str
		case v.Kind == flow.KindFloat && v.Float == math.Trunc(v.Float) && math.Abs(v.Float) < 1<<63:
			return append(row, parquet.Int64Value(int64(v.Float)).Level(0, 1, col)), str
		}
	case pqFloat:
		switch v.Kind {
		case flow.KindFloat:
			return append(row, parquet.DoubleValue(v.Float).Level(0, 1, col)), str
		case flow.KindInt:
			return append(row, parquet.DoubleValue(float64(v.Int)).Level(0, 1, col)), str
		}
	case pqString:
		start := len(str)
		str = AppendPyValue(str, v)
		return append(row, parquet.ByteArrayValue(str[start:len(str):len(str)]).Level(0, 1, col)), str
	case pqList:
		if v.Kind == flow.KindList {
			return appendInt64List(row, v.List, 1, col), str
		}
	case pqStrings:
		if v.Kind == flow.KindStrings {
			if len(v.Strings) == 0 {
				return append(row, parquet.NullValue().Level(0, 1, col)), str
			}
			for k, s := range v.Strings {
				rep := 1
				if k == 0 {
					rep = 0
				}
				start := len(str)
				str = append(str, s...)
				row = append(row, parquet.ByteArrayValue(str[start:len(str):len(str)]).Level(rep, 2, col))
			}
			return row, str
		}
	}
	return append(row, null), str
}

// orderedGroup is a parquet group whose fields keep the order given
// (parquet.Group sorts them by name, and NFStream's column order matters).
type orderedGroup struct {
	parquet.Group // for the methods other than Fields; empty
	fields        []parquet.Field
}

func (g orderedGroup) Fields() []parquet.Field { return g.fields }

func (g orderedGroup) String() string {
	s := "message {"
	for _, f := range g.fields {
		s += " " + strconv.Quote(f.Name()) + ";"
	}
	return s + " }"
}

// GoType is only used to read or write Go values by reflection, which this
// package does not do.
func (g orderedGroup) GoType() reflect.Type { return reflect.TypeFor[map[string]any]() }

type orderedField struct {
	parquet.Node
	name string
}

func (f *orderedField) Name() string { return f.name }

func (f *orderedField) Value(base reflect.Value) reflect.Value {
	if base.Kind() == reflect.Map {
		return base.MapIndex(reflect.ValueOf(f.name))
	}
	return reflect.Value{}
}
