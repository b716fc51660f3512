/* tuneline.neardup._minhash: the lexical tier's MinHash signatures of printable-ASCII texts, in one pass a text.

Why: in numpy (lexical.py's `_signatures`, the reference, which runs where this is not built) a batch of texts is
walked a dozen times, once per array the steps make (word edges, owners, hashes, digit masks, sentence numbers,
runs, shingle windows): ~1.5 s of the ~1.8 s its signatures took for 50k bench examples. Here each text is walked
once, its words hashed as they end, its shingles mixed as they complete, and each shingle's 64 MinHash values
folded into the text's signature at once; the interpreter's lock is let go for the walk, so two threads take two
halves of a batch.

Every value is the reference's, bit for bit (tests/neardup hold the two equal on the corpus and fuzzed texts):
- words are runs of [a-z0-9_] after ASCII lowercasing (`word_scan.scan`, bert=False), hashed as `word_hash` does
  (the length, then each 8-byte little-endian chunk, zero padded, each through splitmix64's finaliser); a word
  of digits only is the masked word's hash, passed in;
- a sentence ends at a newline, or at . ! ? followed by a space or a newline; within a sentence every window of
  three words is a shingle, `_mix(a, b, c)`; a sentence of one or two words is one shingle, `_mix(a, 0, 0)` or
  `_mix(a, b, 0)`;
- slot k of a signature is the minimum over the text's shingles s of the top 32 bits of s * a[k] + b[k] (64-bit
  wrapping), 0xFFFFFFFF when the text has no shingle.
A text with any character outside printable ASCII and newline is left for the caller's regex path (state 2).
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "word_hash.h"

#define NUM_PERM 64 /* lexical.NUM_PERM */

enum { NO_SHINGLE = 0, HAS_SHINGLES = 1, NOT_PLAIN = 2 };

static inline uint64_t
mix(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t x = a * 0x9E3779B97F4A7C15ULL + b;
    x = (x ^ (x >> 29)) * 0xBF58476D1CE4E5B9ULL + c;
    x = (x ^ (x >> 32)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 29);
}

static inline int
word_char(int c) /* after lowercasing */
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static uint64_t
masked_hash(const unsigned char *s, Py_ssize_t n, uint64_t masked)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return word_hash(s, n);
        }
    }
    return masked; /* a number: every number is one word */
}

typedef struct {
    const uint64_t *a, *b;
    uint32_t *sig;
    int any;
} Signature;

static inline void
fold(Signature *out, uint64_t shingle)
{
    uint32_t *sig = out->sig;
    for (int k = 0; k < NUM_PERM; k++) {
        uint32_t v = (uint32_t)((shingle * out->a[k] + out->b[k]) >> 32);
        sig[k] = v < sig[k] ? v : sig[k];
    }
    out->any = 1;
}

/* One text's signature into out->sig (already all ones). */
static void
sign(const unsigned char *s, Py_ssize_t n, uint64_t masked, Signature *out)
{
    uint64_t first = 0, second = 0; /* the sentence's last two words */
    Py_ssize_t run = 0;             /* words in the sentence so far */
    Py_ssize_t i = 0;
    while (i <= n) {
        if (i < n && word_char(lower(s[i]))) {
            Py_ssize_t start = i;
            while (i < n && word_char(lower(s[i]))) {
                i++;
            }
            uint64_t h = masked_hash(s + start, i - start, masked);
            if (run >= 2) {
                fold(out, mix(first, second, h));
            }
            first = second;
            second = h;
            run++;
            continue;
        }
        int boundary = i == n || s[i] == '\n' ||
                       ((s[i] == '.' || s[i] == '!' || s[i] == '?') && i + 1 < n && (s[i + 1] == ' ' || s[i + 1] == '\n'));
        if (boundary && run) {
            if (run == 1) {
                fold(out, mix(second, 0, 0));
            }
            else if (run == 2) {
                fold(out, mix(first, second, 0));
            }
            run = 0;
        }
        i++;
    }
}

typedef struct {
    const unsigned char *data;
    Py_ssize_t length;
    int is_plain;
} Text;

static PyObject *
signatures(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *texts;
    unsigned long long masked;
    Py_buffer a = {0}, b = {0}, sigs = {0}, states = {0};
    if (!PyArg_ParseTuple(args, "O!Ky*y*w*w*:signatures", &PyList_Type, &texts, &masked, &a, &b, &sigs, &states)) {
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t n = PyList_GET_SIZE(texts);
    PyObject **held = NULL;
    Text *items = NULL;
    if (a.len != NUM_PERM * 8 || b.len != NUM_PERM * 8) {
        PyErr_SetString(PyExc_ValueError, "perm_a and perm_b must be 64 uint64 values each");
        goto done;
    }
    if (sigs.len != n * NUM_PERM * 4 || states.len != n) {
        PyErr_SetString(PyExc_ValueError, "sigs must hold 64 uint32 values a text and states one byte a text");
        goto done;
    }
    held = PyMem_Malloc(sizeof(PyObject *) * (size_t)(n ? n : 1));
    items = PyMem_Malloc(sizeof(Text) * (size_t)(n ? n : 1));
    if (held == NULL || items == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *text = PyList_GET_ITEM(texts, i);
        if (!PyUnicode_Check(text)) {
            for (Py_ssize_t j = 0; j < i; j++) {
                Py_DECREF(held[j]);
            }
            PyErr_SetString(PyExc_TypeError, "texts must be a list of str");
            goto done;
        }
#if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(text) < 0) {
            for (Py_ssize_t j = 0; j < i; j++) {
                Py_DECREF(held[j]);
            }
            goto done;
        }
#endif
        held[i] = Py_NewRef(text); /* the walk runs without the lock: the list may change, the strings stay */
        items[i].is_plain = PyUnicode_IS_ASCII(text);
        items[i].data = items[i].is_plain ? PyUnicode_1BYTE_DATA(text) : NULL;
        items[i].length = PyUnicode_GET_LENGTH(text);
    }
    uint32_t *out = sigs.buf;
    unsigned char *state = states.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        Signature sig = {a.buf, b.buf, out + i * NUM_PERM, 0};
        memset(sig.sig, 0xFF, NUM_PERM * 4);
        if (!items[i].is_plain || !printable(items[i].data, items[i].length)) {
            state[i] = NOT_PLAIN;
            continue;
        }
        sign(items[i].data, items[i].length, (uint64_t)masked, &sig);
        state[i] = sig.any ? HAS_SHINGLES : NO_SHINGLE;
    }
    Py_END_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(held[i]);
    }
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(held);
    PyMem_Free(items);
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    PyBuffer_Release(&sigs);
    PyBuffer_Release(&states);
    return result;
}

/* band_keys(sigs, band_mix, keys): for each signature (64 uint32) and band b of ROWS = len(band_mix) slots,
   keys[b] = sum over r of sig[b * ROWS + r] * band_mix[r], plus b (64-bit wrapping): lexical.py's `_band_keys`,
   without its per-band temporary arrays. */
static PyObject *
band_keys(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer sigs = {0}, mix_buf = {0}, keys = {0};
    if (!PyArg_ParseTuple(args, "y*y*w*:band_keys", &sigs, &mix_buf, &keys)) {
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t rows = mix_buf.len / 8;
    if (rows < 1 || mix_buf.len % 8 || NUM_PERM % rows) {
        PyErr_SetString(PyExc_ValueError, "band_mix must be uint64 values, a whole number of bands of them in 64");
        goto done;
    }
    Py_ssize_t bands = NUM_PERM / rows;
    Py_ssize_t n = sigs.len / (NUM_PERM * 4);
    if (sigs.len % (NUM_PERM * 4) || keys.len != n * bands * 8) {
        PyErr_SetString(PyExc_ValueError, "sigs must be 64 uint32 values a text and keys one uint64 a band and text");
        goto done;
    }
    const uint32_t *sig = sigs.buf;
    const uint64_t *mix_of = mix_buf.buf;
    uint64_t *out = keys.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        for (Py_ssize_t b = 0; b < bands; b++) {
            uint64_t key = (uint64_t)b;
            for (Py_ssize_t r = 0; r < rows; r++) {
                key += (uint64_t)sig[i * NUM_PERM + b * rows + r] * mix_of[r];
            }
            out[i * bands + b] = key;
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&sigs);
    PyBuffer_Release(&mix_buf);
    PyBuffer_Release(&keys);
    return result;
}

static PyMethodDef methods[] = {
    {"band_keys", band_keys, METH_VARARGS,
     PyDoc_STR("band_keys(sigs, band_mix, keys): each signature's LSH band keys into keys (uint64, one a band)")},
    {"signatures", signatures, METH_VARARGS,
     PyDoc_STR("signatures(texts, masked, perm_a, perm_b, sigs, states): each text's MinHash signature into sigs "
               "(64 uint32 a text) and into states 0 (no shingle), 1 (a signature) or 2 (not printable ASCII: "
               "left for the caller)")},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tuneline.neardup._minhash",
    .m_doc = PyDoc_STR("MinHash signatures of word 3-shingles of printable-ASCII texts (see lexical.py)."),
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__minhash(void)
{
    return PyModule_Create(&module);
}
