/* tuneline.neardup._word_ids: the static model's token ids of printable-ASCII texts, word by word, in C.

Why: the default model embeds a text as the mean of its WordPiece ids' rows, and WordPiece works on each of BERT's
pre-tokens alone, so static_embedder.py remembers each word's ids and gives a text the ids of its words in order.
In numpy that took a dozen passes over each batch (word edges, punctuation, owners, hashes, truncation ranks) and a
dictionary look-up per word made into a Python int: most of the ~4.7 s the 100k bench texts took to embed. Here
each text is walked once and each word looked up in a table of the words seen before.

The words and their keys are static_embedder.py's, which stays the reference (tests hold the two equal):
- printable ASCII is lowercased; a word is a run of [a-z0-9] or any other printable character but the space, alone;
  spaces and newlines only separate (BERT's normaliser and pre-tokeniser on such text);
- a word's key is `word_scan.word_hash` of its bytes (the length, then each 8-byte little-endian chunk, zero
  padded, through splitmix64's finaliser), and its ids are learnt by the caller from the Rust tokenizer (`add`);
- a text's ids are its words' ids in order, cut at `limit` (negative: no cut).
The caller walks twice: `missing` gives the words not yet known among those the ids can reach (at most `limit`
words a text: every word has an id at least), the caller learns them, then `ids` gives the flat ids and each
text's count.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "word_hash.h"

#define FIRST_SLOTS 4096 /* a power of two */

typedef struct {
    uint64_t hash;
    uint32_t start; /* into pieces */
    uint32_t length;
    uint32_t used;
} Slot;

typedef struct {
    Slot *slots;
    size_t mask;
    size_t used;
} Table; /* open addressing by hash, doubling when half full */

typedef struct {
    PyObject_HEAD
    Table words;
    int32_t *pieces;
    size_t pieces_used;
    size_t pieces_size;
} WordIds;

static inline int
alnum(int c) /* after lowercasing */
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* The next word of s[*at:n] as [*start, *end); 0 when there is none. */
static inline int
next_word(const unsigned char *s, Py_ssize_t n, Py_ssize_t *at, Py_ssize_t *start, Py_ssize_t *end)
{
    Py_ssize_t i = *at;
    while (i < n && (s[i] == ' ' || s[i] == '\n')) {
        i++;
    }
    if (i >= n) {
        *at = i;
        return 0;
    }
    *start = i;
    if (alnum(lower(s[i]))) {
        while (i < n && alnum(lower(s[i]))) {
            i++;
        }
    }
    else {
        i++;
    }
    *end = *at = i;
    return 1;
}

static Slot *
find(const Table *table, uint64_t hash)
{
    size_t i = (size_t)hash & table->mask;
    while (table->slots[i].used) {
        if (table->slots[i].hash == hash) {
            return &table->slots[i];
        }
        i = (i + 1) & table->mask;
    }
    return &table->slots[i]; /* the empty slot where it would go */
}

static int
table_init(Table *table)
{
    table->slots = PyMem_Calloc(FIRST_SLOTS, sizeof(Slot));
    table->mask = FIRST_SLOTS - 1;
    table->used = 0;
    if (table->slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* Count a slot `find` gave and just filled; the table doubles when half full. */
static int
table_filled(Table *table)
{
    if (++table->used * 2 <= table->mask) {
        return 0;
    }
    size_t size = (table->mask + 1) * 2;
    Slot *old = table->slots;
    size_t old_size = table->mask + 1;
    Slot *slots = PyMem_Calloc(size, sizeof(Slot));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    table->slots = slots;
    table->mask = size - 1;
    for (size_t i = 0; i < old_size; i++) {
        if (old[i].used) {
            *find(table, old[i].hash) = old[i];
        }
    }
    PyMem_Free(old);
    return 0;
}

static int
reset(WordIds *self)
{
    PyMem_Free(self->words.slots);
    self->pieces_used = 0;
    return table_init(&self->words);
}

static PyObject *
WordIds_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "WordIds() takes no arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, ":WordIds")) {
        return NULL;
    }
    WordIds *self = (WordIds *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    if (reset(self) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void
WordIds_dealloc(WordIds *self)
{
    PyMem_Free(self->words.slots);
    PyMem_Free(self->pieces);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* A printable-ASCII str's bytes, or NULL with an exception set. */
static const unsigned char *
plain_bytes(PyObject *text, Py_ssize_t *n)
{
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "texts must be a list of str");
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) {
        return NULL;
    }
#endif
    if (PyUnicode_IS_ASCII(text)) {
        const unsigned char *s = PyUnicode_1BYTE_DATA(text);
        *n = PyUnicode_GET_LENGTH(text);
        if (printable(s, *n)) {
            return s;
        }
    }
    PyErr_SetString(PyExc_ValueError, "texts must be printable ASCII and newlines (word_scan.plain_ascii)");
    return NULL;
}

static PyObject *
WordIds_missing(WordIds *self, PyObject *args)
{
    PyObject *texts;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "O!n:missing", &PyList_Type, &texts, &limit)) {
        return NULL;
    }
    PyObject *out = PyList_New(0);
    Table seen; /* the new words of this call */
    if (out == NULL || table_init(&seen) < 0) {
        Py_XDECREF(out);
        return NULL;
    }
    for (Py_ssize_t t = 0; t < PyList_GET_SIZE(texts); t++) {
        Py_ssize_t n, at = 0, start, end, words = 0;
        const unsigned char *s = plain_bytes(PyList_GET_ITEM(texts, t), &n);
        if (s == NULL) {
            goto fail;
        }
        while ((limit < 0 || words < limit) && next_word(s, n, &at, &start, &end)) {
            words++;
            uint64_t hash = word_hash(s + start, end - start);
            if (find(&self->words, hash)->used) {
                continue;
            }
            Slot *slot = find(&seen, hash);
            if (slot->used) {
                continue;
            }
            slot->used = 1;
            slot->hash = hash;
            if (table_filled(&seen) < 0) {
                goto fail;
            }
            PyObject *word = PyUnicode_New(end - start, 127); /* lowercased, as the numpy path gives it */
            if (word == NULL) {
                goto fail;
            }
            Py_UCS1 *to = PyUnicode_1BYTE_DATA(word);
            for (Py_ssize_t k = start; k < end; k++) {
                to[k - start] = (Py_UCS1)lower(s[k]);
            }
            PyObject *item = Py_BuildValue("(KN)", (unsigned long long)hash, word);
            if (item == NULL || PyList_Append(out, item) < 0) {
                Py_XDECREF(item);
                goto fail;
            }
            Py_DECREF(item);
        }
    }
    PyMem_Free(seen.slots);
    return out;
fail:
    PyMem_Free(seen.slots);
    Py_DECREF(out);
    return NULL;
}

static PyObject *
WordIds_add(WordIds *self, PyObject *args)
{
    PyObject *hashes;
    Py_buffer lengths = {0}, ids = {0};
    if (!PyArg_ParseTuple(args, "O!y*y*:add", &PyList_Type, &hashes, &lengths, &ids)) {
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t n = PyList_GET_SIZE(hashes);
    const int64_t *length = lengths.buf, *id = ids.buf;
    Py_ssize_t total = 0;
    if (lengths.len != n * 8 || ids.len % 8) {
        PyErr_SetString(PyExc_ValueError, "lengths must be one int64 a word and ids int64 values");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (length[i] < 0) {
            PyErr_SetString(PyExc_ValueError, "a word's number of ids is negative");
            goto done;
        }
        total += length[i];
    }
    if (total * 8 != ids.len) {
        PyErr_SetString(PyExc_ValueError, "the lengths do not add up to the ids given");
        goto done;
    }
    for (Py_ssize_t i = 0; i < total; i++) {
        if (id[i] < 0 || id[i] > INT32_MAX) {
            PyErr_SetString(PyExc_ValueError, "a token id is out of range");
            goto done;
        }
    }
    if (self->pieces_used + (size_t)total > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "too many token ids remembered");
        goto done;
    }
    if (self->pieces_used + (size_t)total > self->pieces_size) {
        size_t size = self->pieces_size ? self->pieces_size : 8192;
        while (size < self->pieces_used + (size_t)total) {
            size *= 2;
        }
        int32_t *bigger = PyMem_Realloc(self->pieces, size * sizeof(int32_t));
        if (bigger == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        self->pieces = bigger;
        self->pieces_size = size;
    }
    Py_ssize_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned long long hash = PyLong_AsUnsignedLongLong(PyList_GET_ITEM(hashes, i));
        if (hash == (unsigned long long)-1 && PyErr_Occurred()) {
            goto done;
        }
        Slot *slot = find(&self->words, (uint64_t)hash);
        if (!slot->used) {
            slot->used = 1;
            slot->hash = (uint64_t)hash;
            slot->start = (uint32_t)self->pieces_used;
            slot->length = (uint32_t)length[i];
            for (int64_t k = 0; k < length[i]; k++) {
                self->pieces[self->pieces_used++] = (int32_t)id[at + k];
            }
            if (table_filled(&self->words) < 0) {
                goto done;
            }
        }
        at += length[i];
    }
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&lengths);
    PyBuffer_Release(&ids);
    return result;
}

static PyObject *
WordIds_ids(WordIds *self, PyObject *args)
{
    PyObject *texts;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "O!n:ids", &PyList_Type, &texts, &limit)) {
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(texts);
    PyObject *lengths = PyBytes_FromStringAndSize(NULL, count * 8);
    size_t size = 65536, used = 0;
    int64_t *flat = PyMem_Malloc(size * sizeof(int64_t));
    if (lengths == NULL || flat == NULL) {
        Py_XDECREF(lengths);
        PyMem_Free(flat);
        return PyErr_NoMemory();
    }
    int64_t *length = (int64_t *)PyBytes_AS_STRING(lengths);
    for (Py_ssize_t t = 0; t < count; t++) {
        Py_ssize_t n, at = 0, start, end;
        const unsigned char *s = plain_bytes(PyList_GET_ITEM(texts, t), &n);
        if (s == NULL) {
            goto fail;
        }
        size_t before = used;
        while ((limit < 0 || (Py_ssize_t)(used - before) < limit) && next_word(s, n, &at, &start, &end)) {
            Slot *slot = find(&self->words, word_hash(s + start, end - start));
            if (!slot->used) {
                PyErr_SetString(PyExc_KeyError, "a word's ids are not known: call missing() and add() first");
                goto fail;
            }
            size_t take = slot->length;
            if (limit >= 0 && (Py_ssize_t)(used - before + take) > limit) {
                take = (size_t)(limit - (Py_ssize_t)(used - before));
            }
            if (used + take > size) {
                while (used + take > size) {
                    size *= 2;
                }
                int64_t *bigger = PyMem_Realloc(flat, size * sizeof(int64_t));
                if (bigger == NULL) {
                    PyErr_NoMemory();
                    goto fail;
                }
                flat = bigger;
            }
            for (size_t k = 0; k < take; k++) {
                flat[used++] = self->pieces[slot->start + k];
            }
        }
        length[t] = (int64_t)(used - before);
    }
    PyObject *ids = PyBytes_FromStringAndSize((const char *)flat, (Py_ssize_t)(used * sizeof(int64_t)));
    PyMem_Free(flat);
    if (ids == NULL) {
        Py_DECREF(lengths);
        return NULL;
    }
    return Py_BuildValue("(NN)", ids, lengths);
fail:
    PyMem_Free(flat);
    Py_DECREF(lengths);
    return NULL;
}

static PyObject *
WordIds_clear(WordIds *self, PyObject *Py_UNUSED(ignored))
{
    if (reset(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static Py_ssize_t
WordIds_len(WordIds *self)
{
    return (Py_ssize_t)self->words.used;
}

static PyMethodDef WordIds_methods[] = {
    {"missing", (PyCFunction)WordIds_missing, METH_VARARGS,
     PyDoc_STR("missing(texts, limit): [(hash, lowercased word)] of the distinct words not known among each "
               "text's first `limit` words (all of them when negative)")},
    {"add", (PyCFunction)WordIds_add, METH_VARARGS,
     PyDoc_STR("add(hashes, lengths, ids): remember each word's ids (int64 buffers: its number of ids, then all "
               "ids in order); a word already known is kept")},
    {"ids", (PyCFunction)WordIds_ids, METH_VARARGS,
     PyDoc_STR("ids(texts, limit): (flat ids, each text's number of ids) as int64 bytes, cut at `limit` a text")},
    {"clear", (PyCFunction)WordIds_clear, METH_NOARGS, PyDoc_STR("forget every word")},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods WordIds_sequence = {
    .sq_length = (lenfunc)WordIds_len,
};

static PyTypeObject WordIdsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tuneline.neardup._word_ids.WordIds",
    .tp_doc = PyDoc_STR("WordIds(): token ids of printable-ASCII texts, word by word (see static_embedder.py)"),
    .tp_basicsize = sizeof(WordIds),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = WordIds_new,
    .tp_dealloc = (destructor)WordIds_dealloc,
    .tp_methods = WordIds_methods,
    .tp_as_sequence = &WordIds_sequence,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tuneline.neardup._word_ids",
    .m_doc = PyDoc_STR("The static model's token ids of printable-ASCII texts, word by word (see static_embedder.py)."),
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__word_ids(void)
{
    if (PyType_Ready(&WordIdsType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "WordIds", (PyObject *)&WordIdsType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
