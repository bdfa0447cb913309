/* Row packets of a MySQL binary-protocol result set (a prepared statement's) -> Arrow buffers.
 *
 * pymysql connects; wire.py prepares and executes the page query and reads the field
 * descriptions; the row packets that follow are handed to RowParser.feed() in large chunks, as
 * they arrive. Each column is decoded by its wire type into one of two buffer sets, without an
 * allocation per value and with the GIL released:
 *   bytes  (strings, decimals, blobs, JSON...): data + int64 offsets + validity bits;
 *   fixed  (integers, floats, dates): one 8-byte value a row + validity bits: integers as
 *          int64 (unsigned ones as their uint64 bits), floats as double, DATE as days since
 *          1970-01-01, DATETIME / TIMESTAMP as microseconds since 1970-01-01 (the session's
 *          time zone is UTC).
 * A zero or impossible date (0000-00-00, 2024-00-05, 2024-02-31) raises BadTemporal: the
 * reader then reads temporal columns as text, as the connectorx path does.
 *
 * feed() stops at the end-of-rows EOF packet (done), raises WireError on an ERR packet
 * (code, message) or on anything that is not a well-formed row of `ncols` values in sequence,
 * and raises TooLarge on a packet of 16 MiB or more (a row split over several packets): the
 * caller then reads that page another way.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static PyObject *WireError;
static PyObject *TooLarge;
static PyObject *BadTemporal;

/* Wire types of a column (set by wire.py from the field type codes). */
enum { W_BYTES = 0, W_I8, W_I16, W_I32, W_I64, W_F32, W_F64, W_DATE, W_DATETIME };

typedef struct {
    uint8_t *data;
    int64_t len, cap;
    int64_t *offsets; /* rows + 1 */
    int64_t ocap;
    uint8_t *valid;
    int64_t vcap;
    int64_t nulls;
} Column;

typedef struct {
    PyObject_HEAD
    int ncols;
    uint8_t *types;    /* W_* per column */
    uint8_t *unsigned_; /* 1 where the integer column is unsigned */
    Column *cols;
    int64_t rows;
    int done;
    unsigned seq; /* the sequence number the next packet must carry */
} RowParser;

enum { OK = 0, NOMEM = 1, BAD = 2, ERRPACKET = 3, BIG = 4, BADDATE = 5 };

static int grow(void **buf, int64_t *cap, int64_t need, size_t item) {
    if (need <= *cap) return 0;
    int64_t n = *cap ? *cap : 1024;
    while (n < need) n *= 2;
    void *p = realloc(*buf, (size_t)n * item);
    if (!p) return -1;
    *buf = p;
    *cap = n;
    return 0;
}

static int column_reset(Column *c) {
    c->len = 0;
    c->nulls = 0;
    if (grow((void **)&c->offsets, &c->ocap, 1, sizeof(int64_t))) return -1;
    c->offsets[0] = 0;
    return 0;
}

/* One value at row `row`: NULL when v is NULL. */
static int column_push(Column *c, int64_t row, const uint8_t *v, int64_t n) {
    if (grow((void **)&c->offsets, &c->ocap, row + 2, sizeof(int64_t))) return -1;
    if (grow((void **)&c->valid, &c->vcap, row / 8 + 1, 1)) return -1;
    if (row % 8 == 0) c->valid[row / 8] = 0;
    if (v == NULL) {
        c->nulls++;
    } else {
        if (grow((void **)&c->data, &c->cap, c->len + n, 1)) return -1;
        memcpy(c->data + c->len, v, (size_t)n);
        c->len += n;
        c->valid[row / 8] |= (uint8_t)(1u << (row % 8));
    }
    c->offsets[row + 1] = c->len;
    return 0;
}

/* Memory handed to Python without a copy: exported through the buffer protocol, freed with
 * the last reference (pyarrow.py_buffer keeps one). */
typedef struct {
    PyObject_HEAD
    void *ptr;
    Py_ssize_t len;
} Buf;

static void Buf_dealloc(Buf *self) {
    free(self->ptr);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Buf_getbuffer(Buf *self, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)self, self->ptr ? self->ptr : (void *)"",
                             self->len, 1, flags);
}

static PyBufferProcs Buf_as_buffer = {(getbufferproc)Buf_getbuffer, NULL};

static PyTypeObject BufType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mysql_redshift_assets.extract._wire.Buf",
    .tp_basicsize = sizeof(Buf),
    .tp_dealloc = (destructor)Buf_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "read-only memory of one column buffer",
    .tp_as_buffer = &Buf_as_buffer,
};

/* A Buf that owns *ptr (len bytes); *ptr and *cap are reset: the column starts a new buffer. */
static PyObject *hand_over(void **ptr, int64_t *cap, int64_t len) {
    Buf *b = PyObject_New(Buf, &BufType);
    if (!b) return NULL;
    b->ptr = *ptr;
    b->len = (Py_ssize_t)len;
    *ptr = NULL;
    *cap = 0;
    return (PyObject *)b;
}

/* One fixed 8-byte value at row `row` (data holds 8 bytes a row; NULL rows hold zeros). */
static int column_push_fixed(Column *c, int64_t row, const void *v) {
    if (grow((void **)&c->valid, &c->vcap, row / 8 + 1, 1)) return -1;
    if (grow((void **)&c->data, &c->cap, (row + 1) * 8, 1)) return -1;
    if (row % 8 == 0) c->valid[row / 8] = 0;
    if (v == NULL) {
        c->nulls++;
        memset(c->data + row * 8, 0, 8);
    } else {
        memcpy(c->data + row * 8, v, 8);
        c->valid[row / 8] |= (uint8_t)(1u << (row % 8));
    }
    c->len = (row + 1) * 8;
    return 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    /* Howard Hinnant's algorithm: days since 1970-01-01 of a proleptic Gregorian date. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int valid_date(unsigned y, unsigned m, unsigned d) {
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1) return 0;
    unsigned last = mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    return d <= last; /* year 0 is a date (proleptic Gregorian), as Arrow and pymysql read it */
}

/* One binary-protocol value of wire type `t` at p (end bounds it): bytes consumed, or -1
 * (malformed) / -2 (an impossible date). */
static int64_t push_binary(Column *c, int64_t row, uint8_t t, int uns, const uint8_t *p,
                           const uint8_t *end) {
    int64_t avail = end - p;
    union { int64_t i; uint64_t u; double d; } v;
    switch (t) {
    case W_I8:
        if (avail < 1) return -1;
        v.i = uns ? (int64_t)p[0] : (int64_t)(int8_t)p[0];
        return column_push_fixed(c, row, &v) ? -3 : 1;
    case W_I16: {
        if (avail < 2) return -1;
        uint16_t x = (uint16_t)(p[0] | (p[1] << 8));
        v.i = uns ? (int64_t)x : (int64_t)(int16_t)x;
        return column_push_fixed(c, row, &v) ? -3 : 2;
    }
    case W_I32: {
        if (avail < 4) return -1;
        uint32_t x = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
                     ((uint32_t)p[3] << 24);
        v.i = uns ? (int64_t)x : (int64_t)(int32_t)x;
        return column_push_fixed(c, row, &v) ? -3 : 4;
    }
    case W_I64: {
        if (avail < 8) return -1;
        uint64_t x = 0;
        for (int k = 0; k < 8; k++) x |= (uint64_t)p[k] << (8 * k);
        v.u = x;
        return column_push_fixed(c, row, &v) ? -3 : 8;
    }
    case W_F32: {
        if (avail < 4) return -1;
        float f;
        memcpy(&f, p, 4); /* little-endian hosts only (x86-64, arm64): checked at import */
        v.d = (double)f;
        return column_push_fixed(c, row, &v) ? -3 : 4;
    }
    case W_F64:
        if (avail < 8) return -1;
        memcpy(&v.d, p, 8);
        return column_push_fixed(c, row, &v) ? -3 : 8;
    case W_DATE:
    case W_DATETIME: {
        if (avail < 1) return -1;
        unsigned n = p[0];
        if (n != 0 && n != 4 && n != 7 && n != 11) return -1;
        if (avail < 1 + (int64_t)n) return -1;
        if (n == 0) return -2; /* the zero date */
        unsigned y = (unsigned)(p[1] | (p[2] << 8)), m = p[3], d = p[4];
        unsigned hh = n >= 7 ? p[5] : 0, mi = n >= 7 ? p[6] : 0, ss = n >= 7 ? p[7] : 0;
        uint32_t us = n == 11 ? ((uint32_t)p[8] | ((uint32_t)p[9] << 8) |
                                 ((uint32_t)p[10] << 16) | ((uint32_t)p[11] << 24)) : 0;
        if (!valid_date(y, m, d) || hh > 23 || mi > 59 || ss > 59 || us > 999999) return -2;
        int64_t days = days_from_civil(y, m, d);
        v.i = t == W_DATE ? days
                          : ((days * 86400 + hh * 3600 + mi * 60 + ss) * 1000000 + us);
        return column_push_fixed(c, row, &v) ? -3 : 1 + (int64_t)n;
    }
    default: { /* length-encoded bytes */
        if (avail < 1) return -1;
        uint8_t h = p[0];
        int w = h < 0xfb ? 0 : h == 0xfc ? 2 : h == 0xfd ? 3 : h == 0xfe ? 8 : -1;
        if (w < 0 || avail - 1 < w) return -1;
        uint64_t len = h;
        if (w) {
            len = 0;
            for (int k = 0; k < w; k++) len |= (uint64_t)p[1 + k] << (8 * k);
        }
        if (len > (uint64_t)(avail - 1 - w)) return -1;
        return column_push(c, row, p + 1 + w, (int64_t)len) ? -3 : 1 + w + (int64_t)len;
    }
    }
}

static void RowParser_dealloc(RowParser *self) {
    if (self->cols) {
        for (int i = 0; i < self->ncols; i++) {
            free(self->cols[i].data);
            free(self->cols[i].offsets);
            free(self->cols[i].valid);
        }
        free(self->cols);
    }
    free(self->types);
    free(self->unsigned_);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int RowParser_init(RowParser *self, PyObject *args, PyObject *kwds) {
    unsigned seq;
    Py_buffer types, uns;
    if (!PyArg_ParseTuple(args, "Iy*y*", &seq, &types, &uns)) return -1;
    int ncols = (int)types.len;
    int bad = ncols <= 0 || uns.len != types.len;
    for (int i = 0; !bad && i < ncols; i++) bad = ((uint8_t *)types.buf)[i] > W_DATETIME;
    if (bad) {
        PyBuffer_Release(&types);
        PyBuffer_Release(&uns);
        PyErr_SetString(PyExc_ValueError, "one wire type and one unsigned flag a column");
        return -1;
    }
    self->cols = calloc((size_t)ncols, sizeof(Column));
    self->types = malloc((size_t)ncols);
    self->unsigned_ = malloc((size_t)ncols);
    if (!self->cols || !self->types || !self->unsigned_) {
        PyBuffer_Release(&types);
        PyBuffer_Release(&uns);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(self->types, types.buf, (size_t)ncols);
    memcpy(self->unsigned_, uns.buf, (size_t)ncols);
    PyBuffer_Release(&types);
    PyBuffer_Release(&uns);
    self->ncols = ncols;
    self->seq = seq & 0xff;
    for (int i = 0; i < ncols; i++) {
        if (column_reset(&self->cols[i])) {
            PyErr_NoMemory();
            return -1;
        }
    }
    return 0;
}

/* Parse the complete packets in buf[0:n]; *used is set to the bytes consumed. */
static int parse(RowParser *self, const uint8_t *b, int64_t n, int64_t *used,
                 const uint8_t **err, int64_t *errlen) {
    int64_t pos = 0;
    int status = OK;
    while (pos + 4 <= n) {
        int64_t plen = (int64_t)b[pos] | ((int64_t)b[pos + 1] << 8) | ((int64_t)b[pos + 2] << 16);
        unsigned seq = b[pos + 3];
        if (plen == 0xffffff) { status = BIG; break; }
        if (pos + 4 + plen > n) break; /* the rest of this packet has not arrived yet */
        if (seq != self->seq) { status = BAD; break; }
        const uint8_t *p = b + pos + 4, *end = p + plen;
        if (plen == 0) { status = BAD; break; }
        if (p[0] == 0xfe && plen < 9) { /* EOF: the end of the rows */
            self->seq = (self->seq + 1) & 0xff;
            pos += 4 + plen;
            self->done = 1;
            break;
        }
        if (p[0] == 0xff) { /* ERR: the server gave up on the query */
            *err = p;
            *errlen = plen;
            status = ERRPACKET;
            break;
        }
        if (p[0] != 0x00) { status = BAD; break; }
        p++;
        int64_t nullmap = (self->ncols + 7 + 2) / 8;
        if (end - p < nullmap) { status = BAD; break; }
        const uint8_t *nulls = p;
        p += nullmap;
        int64_t row = self->rows;
        for (int i = 0; i < self->ncols; i++) {
            int bit = i + 2;
            if (nulls[bit / 8] & (1u << (bit % 8))) {
                int r = self->types[i] == W_BYTES ? column_push(&self->cols[i], row, NULL, 0)
                                                  : column_push_fixed(&self->cols[i], row, NULL);
                if (r) { status = NOMEM; goto out; }
                continue;
            }
            int64_t k = push_binary(&self->cols[i], row, self->types[i], self->unsigned_[i], p, end);
            if (k == -1) { status = BAD; goto out; }
            if (k == -2) { status = BADDATE; goto out; }
            if (k == -3) { status = NOMEM; goto out; }
            p += k;
        }
        if (p != end) { status = BAD; break; }
        self->rows++;
        self->seq = (self->seq + 1) & 0xff;
        pos += 4 + plen;
    }
out:
    *used = pos;
    return status;
}

static PyObject *RowParser_feed(RowParser *self, PyObject *arg) {
    Py_buffer view;
    if (self->done) {
        PyErr_SetString(WireError, "rows after the end of the result");
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    int64_t used = 0, errlen = 0;
    const uint8_t *err = NULL;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = parse(self, (const uint8_t *)view.buf, (int64_t)view.len, &used, &err, &errlen);
    Py_END_ALLOW_THREADS
    PyObject *result = NULL;
    if (status == OK) {
        result = PyLong_FromLongLong(used);
    } else if (status == NOMEM) {
        PyErr_NoMemory();
    } else if (status == BADDATE) {
        PyErr_Format(BadTemporal, "a zero or impossible date in row %lld", (long long)self->rows);
    } else if (status == BIG) {
        PyErr_SetString(TooLarge, "a row of 16 MiB or more (split over several packets)");
    } else if (status == ERRPACKET) {
        int code = errlen >= 3 ? err[1] | (err[2] << 8) : 0;
        const uint8_t *msg = err + 3;
        int64_t mlen = errlen - 3;
        if (mlen >= 6 && msg[0] == '#') { msg += 6; mlen -= 6; } /* #SQLSTATE */
        if (mlen < 0) mlen = 0;
        PyObject *text = PyUnicode_DecodeUTF8((const char *)msg, mlen, "replace");
        if (text) {
            PyObject *exc_args = Py_BuildValue("(iN)", code, text);
            if (exc_args) {
                PyErr_SetObject(WireError, exc_args);
                Py_DECREF(exc_args);
            }
        }
    } else {
        PyErr_Format(WireError, "malformed row packet after row %lld", (long long)self->rows);
    }
    PyBuffer_Release(&view);
    return result;
}

/* The rows parsed so far, as (rows, [(validity or None, offsets, data, nulls), ...]): the
 * column buffers themselves (no copy); the parser goes on with new ones. */
static PyObject *RowParser_take(RowParser *self, PyObject *Py_UNUSED(ignored)) {
    int64_t rows = self->rows;
    PyObject *cols = PyList_New(self->ncols);
    if (!cols) return NULL;
    for (int i = 0; i < self->ncols; i++) {
        Column *c = &self->cols[i];
        PyObject *valid = c->nulls ? hand_over((void **)&c->valid, &c->vcap, (rows + 7) / 8)
                                   : (Py_INCREF(Py_None), Py_None);
        int fixed = self->types[i] != W_BYTES;
        PyObject *offsets = fixed ? (Py_INCREF(Py_None), Py_None)
                                  : hand_over((void **)&c->offsets, &c->ocap,
                                              (rows + 1) * (int64_t)sizeof(int64_t));
        PyObject *data = hand_over((void **)&c->data, &c->cap, fixed ? rows * 8 : c->len);
        PyObject *item = (valid && offsets && data)
            ? Py_BuildValue("(NNNL)", valid, offsets, data, (long long)c->nulls)
            : NULL;
        if (!item) {
            Py_XDECREF(valid);
            Py_XDECREF(offsets);
            Py_XDECREF(data);
            Py_DECREF(cols);
            return NULL;
        }
        PyList_SET_ITEM(cols, i, item);
        if (column_reset(c)) {
            Py_DECREF(cols);
            return PyErr_NoMemory();
        }
    }
    self->rows = 0;
    return Py_BuildValue("(LN)", (long long)rows, cols);
}

static PyObject *RowParser_get_done(RowParser *self, void *closure) {
    return PyBool_FromLong(self->done);
}

static PyObject *RowParser_get_rows(RowParser *self, void *closure) {
    return PyLong_FromLongLong(self->rows);
}

static PyMethodDef RowParser_methods[] = {
    {"feed", (PyCFunction)RowParser_feed, METH_O,
     "feed(buffer) -> bytes consumed (complete packets only; the rest is to be fed again)"},
    {"take", (PyCFunction)RowParser_take, METH_NOARGS,
     "take() -> (rows, [(validity or None, int64 offsets or None, data, nulls) per column])"},
    {NULL},
};

static PyGetSetDef RowParser_getset[] = {
    {"done", (getter)RowParser_get_done, NULL, "the end-of-rows packet was read", NULL},
    {"rows", (getter)RowParser_get_rows, NULL, "rows parsed and not yet taken", NULL},
    {NULL},
};

static PyTypeObject RowParserType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mysql_redshift_assets.extract._wire.RowParser",
    .tp_basicsize = sizeof(RowParser),
    .tp_dealloc = (destructor)RowParser_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "RowParser(first_sequence_id, wire_types, unsigned_flags): binary row packets -> columns",
    .tp_methods = RowParser_methods,
    .tp_getset = RowParser_getset,
    .tp_init = (initproc)RowParser_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_wire", "MySQL binary-protocol rows -> Arrow buffers", -1, NULL,
};

PyMODINIT_FUNC PyInit__wire(void) {
    if (PyType_Ready(&RowParserType) < 0 || PyType_Ready(&BufType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    WireError = PyErr_NewException("mysql_redshift_assets.extract._wire.WireError", NULL, NULL);
    TooLarge = PyErr_NewException("mysql_redshift_assets.extract._wire.TooLarge", WireError, NULL);
    BadTemporal =
        PyErr_NewException("mysql_redshift_assets.extract._wire.BadTemporal", WireError, NULL);
    Py_INCREF(&RowParserType);
    if (!WireError || !TooLarge || !BadTemporal
        || PyModule_AddObject(m, "BadTemporal", BadTemporal) < 0
        || PyModule_AddObject(m, "RowParser", (PyObject *)&RowParserType) < 0
        || PyModule_AddObject(m, "WireError", WireError) < 0
        || PyModule_AddObject(m, "TooLarge", TooLarge) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
