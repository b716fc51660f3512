/* tuneline.analysis._word_table: `word_counts.WordCounts` in C, built with the compiled engine (native_build).

Why: a text's token count is the sum of the counts of the parts its single spaces cut it into, each part counted by
the tokenizer once per process (word_counts.py gives the argument that this is exact). In Python the cutting makes
a str object for every word (split, hash, dict lookup, free): ~8 us of a chat line's ~55 us of analysis, the largest
single piece of the profile. Here the text is walked in place, each part is hashed and looked up in a table of the
parts seen before, and a str is made only for a part not seen before, which goes to the tokenizer.

The cuts are word_counts.py's: a space at position p cuts when 0 < p < n - 1 and neither neighbour is white space
(Py_UNICODE_ISSPACE, what str.isspace tests). Every part after the first starts with its space and is remembered
with it, so the table's key is exactly the string the tokenizer counted. A text with fewer than two cuts is
counted whole; parts longer than MAX_PART characters are counted and not remembered; at most MAX_WORDS parts are
remembered, then new ones are counted and forgotten.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_PART 65          /* characters, with the leading space: word_counts._MAX_WORD + 1 */
#define MAX_WORDS (1 << 17)  /* parts remembered per table: word_counts._MAX_WORDS */
#define FIRST_SLOTS 4096     /* a power of two; the table doubles when half full */

typedef struct {
    uint64_t hash;
    uint32_t offset; /* into the arena, in code points */
    uint16_t length; /* 0: an empty slot */
    uint16_t count;
} Slot;

typedef struct {
    PyObject_HEAD
    PyObject *count; /* the tokenizer's count: str -> int */
    Slot *slots;
    size_t mask;
    size_t used;
    Py_UCS4 *arena; /* the remembered parts' code points, one after another */
    size_t arena_used;
    size_t arena_size;
} WordTable;

static inline uint64_t
part_hash(int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over code points, then a final mix */
    for (Py_ssize_t i = start; i < end; i++) {
        h ^= (uint64_t)PyUnicode_READ(kind, data, i);
        h *= 1099511628211ULL;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return h;
}

static inline int
same_part(const WordTable *self, const Slot *slot, int kind, const void *data, Py_ssize_t start, Py_ssize_t length)
{
    if (slot->length != (uint16_t)length) {
        return 0;
    }
    const Py_UCS4 *stored = self->arena + slot->offset;
    for (Py_ssize_t i = 0; i < length; i++) {
        if (stored[i] != PyUnicode_READ(kind, data, start + i)) {
            return 0;
        }
    }
    return 1;
}

/* The slot holding the part, or the empty slot where it would go. */
static inline Slot *
find(WordTable *self, uint64_t hash, int kind, const void *data, Py_ssize_t start, Py_ssize_t length)
{
    size_t i = (size_t)hash & self->mask;
    for (;;) {
        Slot *slot = &self->slots[i];
        if (slot->length == 0 || (slot->hash == hash && same_part(self, slot, kind, data, start, length))) {
            return slot;
        }
        i = (i + 1) & self->mask;
    }
}

static int
grow(WordTable *self)
{
    size_t size = self->slots == NULL ? FIRST_SLOTS : (self->mask + 1) * 2;
    Slot *slots = PyMem_Calloc(size, sizeof(Slot));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (self->slots != NULL) {
        for (size_t i = 0; i <= self->mask; i++) {
            Slot *old = &self->slots[i];
            if (old->length == 0) {
                continue;
            }
            size_t j = (size_t)old->hash & (size - 1);
            while (slots[j].length != 0) {
                j = (j + 1) & (size - 1);
            }
            slots[j] = *old;
        }
        PyMem_Free(self->slots);
    }
    self->slots = slots;
    self->mask = size - 1;
    return 0;
}

/* Remember a part's count (silently not, when the table is full or out of memory: it is only a cache). */
static void
remember(WordTable *self, uint64_t hash, int kind, const void *data, Py_ssize_t start, Py_ssize_t length, long long n)
{
    if (self->used >= MAX_WORDS || n < 0 || n > UINT16_MAX) {
        return;
    }
    if (self->slots == NULL || (self->used + 1) * 2 > self->mask + 1) {
        if (grow(self) < 0) {
            PyErr_Clear();
            return;
        }
    }
    if (self->arena_used + (size_t)length > self->arena_size) {
        size_t size = self->arena_size ? self->arena_size * 2 : 65536;
        while (size < self->arena_used + (size_t)length) {
            size *= 2;
        }
        Py_UCS4 *arena = PyMem_Realloc(self->arena, size * sizeof(Py_UCS4));
        if (arena == NULL) {
            return;
        }
        self->arena = arena;
        self->arena_size = size;
    }
    Slot *slot = find(self, hash, kind, data, start, length);
    if (slot->length != 0) {
        return; /* remembered meanwhile (the tokenizer may have let another thread run) */
    }
    for (Py_ssize_t i = 0; i < length; i++) {
        self->arena[self->arena_used + (size_t)i] = PyUnicode_READ(kind, data, start + i);
    }
    slot->hash = hash;
    slot->offset = (uint32_t)self->arena_used;
    slot->length = (uint16_t)length;
    slot->count = (uint16_t)n;
    self->arena_used += (size_t)length;
    self->used++;
}

/* The tokenizer's count of text[start:end]; -1 with an exception set. */
static long long
count_slice(WordTable *self, PyObject *text, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *part = (start == 0 && end == PyUnicode_GET_LENGTH(text)) ? Py_NewRef(text)
                                                                        : PyUnicode_Substring(text, start, end);
    if (part == NULL) {
        return -1;
    }
    PyObject *result = PyObject_CallOneArg(self->count, part);
    Py_DECREF(part);
    if (result == NULL) {
        return -1;
    }
    long long n = PyLong_AsLongLong(result);
    Py_DECREF(result);
    if (n == -1 && PyErr_Occurred()) {
        return -1;
    }
    return n;
}

static long long
count_part(WordTable *self, PyObject *text, int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    Py_ssize_t length = end - start;
    if (length > MAX_PART) {
        return count_slice(self, text, start, end);
    }
    uint64_t hash = part_hash(kind, data, start, end);
    if (self->slots != NULL) {
        Slot *slot = find(self, hash, kind, data, start, length);
        if (slot->length != 0) {
            return slot->count;
        }
    }
    long long n = count_slice(self, text, start, end);
    if (n >= 0) {
        remember(self, hash, kind, data, start, length, n);
    }
    return n;
}

/* The next cut at or after `from`, or -1. */
static inline Py_ssize_t
next_cut(int kind, const void *data, Py_ssize_t n, Py_ssize_t from)
{
    Py_ssize_t p = from < 1 ? 1 : from;
    while (p < n - 1) {
        if (kind == PyUnicode_1BYTE_KIND) {
            const char *hit = memchr((const char *)data + p, ' ', (size_t)(n - 1 - p));
            if (hit == NULL) {
                return -1;
            }
            p = hit - (const char *)data;
        }
        else if (PyUnicode_READ(kind, data, p) != ' ') {
            p++;
            continue;
        }
        if (!Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, p - 1)) && !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, p + 1))) {
            return p;
        }
        p++;
    }
    return -1;
}

static PyObject *
WordTable_call(WordTable *self, PyObject *args, PyObject *kwargs)
{
    PyObject *text;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0) {
        PyErr_SetString(PyExc_TypeError, "WordTable() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "U:WordTable", &text)) {
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) {
        return NULL;
    }
#endif
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t first = next_cut(kind, data, n, 1);
    Py_ssize_t second = first < 0 ? -1 : next_cut(kind, data, n, first + 1);
    if (second < 0) { /* one or two parts: nothing to save */
        long long whole = count_slice(self, text, 0, n);
        return whole < 0 ? NULL : PyLong_FromLongLong(whole);
    }
    long long total = 0;
    Py_ssize_t start = 0;
    for (Py_ssize_t cut = first; cut >= 0; cut = next_cut(kind, data, n, cut + 1)) {
        long long part = count_part(self, text, kind, data, start, cut);
        if (part < 0) {
            return NULL;
        }
        total += part;
        start = cut;
    }
    long long last = count_part(self, text, kind, data, start, n);
    if (last < 0) {
        return NULL;
    }
    return PyLong_FromLongLong(total + last);
}

static PyObject *
WordTable_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"count", NULL};
    PyObject *count;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:WordTable", keywords, &count)) {
        return NULL;
    }
    if (!PyCallable_Check(count)) {
        PyErr_SetString(PyExc_TypeError, "WordTable(count): count must be callable");
        return NULL;
    }
    WordTable *self = (WordTable *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->count = Py_NewRef(count);
    return (PyObject *)self;
}

static int
WordTable_traverse(WordTable *self, visitproc visit, void *arg)
{
    Py_VISIT(self->count);
    return 0;
}

static int
WordTable_clear(WordTable *self)
{
    Py_CLEAR(self->count);
    return 0;
}

static void
WordTable_dealloc(WordTable *self)
{
    PyObject_GC_UnTrack(self);
    WordTable_clear(self);
    PyMem_Free(self->slots);
    PyMem_Free(self->arena);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
WordTable_len(WordTable *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSize_t(self->used);
}

static PyObject *
WordTable_get_count(WordTable *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->count);
}

static PyMethodDef WordTable_methods[] = {
    {"remembered", (PyCFunction)WordTable_len, METH_NOARGS, "How many parts the table holds."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef WordTable_getset[] = {
    {"_count", (getter)WordTable_get_count, NULL, "The tokenizer's count this table sums.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject WordTableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tuneline.analysis._word_table.WordTable",
    .tp_doc = PyDoc_STR("WordTable(count): count(text) summed over the parts single spaces cut text into, each part "
                        "counted by `count` once (word_counts.WordCounts in C)."),
    .tp_basicsize = sizeof(WordTable),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = WordTable_new,
    .tp_call = (ternaryfunc)WordTable_call,
    .tp_traverse = (traverseproc)WordTable_traverse,
    .tp_clear = (inquiry)WordTable_clear,
    .tp_dealloc = (destructor)WordTable_dealloc,
    .tp_methods = WordTable_methods,
    .tp_getset = WordTable_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tuneline.analysis._word_table",
    .m_doc = PyDoc_STR("Token counts summed over a text's words, each word counted once (see word_counts.py)."),
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__word_table(void)
{
    if (PyType_Ready(&WordTableType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "WordTable", (PyObject *)&WordTableType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
