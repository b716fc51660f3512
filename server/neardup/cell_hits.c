/* tuneline.neardup._cell_hits: the candidate pairs of one cell of the clustered search, from its similarity matrix.

Why: in numpy (pair_search.py's `_cell_hits`, the reference, which runs where this is not built) each cell's
matrix is walked about ten times after its product: the hit mask, row and column counts, the crowded rows' and
columns' earlier/later masks, a cumulative sum, argmax and nonzero passes, each allocating its own array. On the
100k bench file that was 1.35 s of the 2.4 s the cells took (the products themselves ~1 s). Here the matrix is
read once for the counts, and once more for the output; crowded rows and columns are scanned on their own.

The output is the reference's, pair for pair and in the same order (tests/neardup hold them equal), because the
caller keeps the first of repeated pairs:
1. each crowded row (more than `per_row` hits), ascending: its best partner not after it (the first of equal
   maxima), when that reaches the threshold;
2. each crowded row: its first `per_row` hits among the members after it;
3. and 4. the same for crowded columns, with the queries as partners;
5. every other hit, row by row: a hit stays unless both its row and its column are crowded.
A query against itself (a row in both lists) never counts. Rows and members are ascending and unique.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t *a, *b;
    float *score;
    Py_ssize_t n, cap;
    int failed;
} Out;

static void
push(Out *out, int64_t a, int64_t b, float score)
{
    if (out->n == out->cap) {
        Py_ssize_t cap = out->cap ? 2 * out->cap : 1024;
        int64_t *na = realloc(out->a, (size_t)cap * sizeof(int64_t));
        if (na != NULL) {
            out->a = na;
        }
        int64_t *nb = realloc(out->b, (size_t)cap * sizeof(int64_t));
        if (nb != NULL) {
            out->b = nb;
        }
        float *ns = realloc(out->score, (size_t)cap * sizeof(float));
        if (ns != NULL) {
            out->score = ns;
        }
        if (na == NULL || nb == NULL || ns == NULL) {
            out->failed = 1;
            return;
        }
        out->cap = cap;
    }
    out->a[out->n] = a;
    out->b[out->n] = b;
    out->score[out->n] = score;
    out->n++;
}

/* One crowded line of the matrix (a row, or a column read with a stride): its own row number `self`, its
   partners' row numbers, and the similarity to each at values[k * stride]. */
typedef struct {
    const float *values;
    Py_ssize_t stride;
    int64_t self;
    const int64_t *partners;
    Py_ssize_t count;
} Line;

/* numpy's argmax over the line with the partners after `self` masked to -inf: the first of equal maxima (a NaN
   wins, as in numpy, and then nothing reaches the threshold). */
static void
best_earlier(const Line *line, float threshold, Out *out)
{
    Py_ssize_t best = 0;
    float top = -INFINITY;
    for (Py_ssize_t k = 0; k < line->count && line->partners[k] <= line->self; k++) {
        float v = line->values[k * line->stride];
        if (isnan(v)) {
            return;
        }
        if (v > top) {
            top = v;
            best = k;
        }
    }
    if (top >= threshold) {
        push(out, line->self, line->partners[best], top);
    }
}

static void
first_later(const Line *line, float threshold, Py_ssize_t per_row, Out *out)
{
    Py_ssize_t kept = 0;
    for (Py_ssize_t k = 0; k < line->count && kept < per_row; k++) {
        float v = line->values[k * line->stride];
        if (line->partners[k] > line->self && v >= threshold) {
            push(out, line->self, line->partners[k], v);
            kept++;
        }
    }
}

static void
cell_pairs(float *sims, const int64_t *q, Py_ssize_t nq, const int64_t *m, Py_ssize_t nm, float threshold,
           Py_ssize_t per_row, const unsigned char *row_crowded, const unsigned char *col_crowded, int any, Out *out)
{
    if (any) {
        for (Py_ssize_t i = 0; i < nq; i++) {
            if (row_crowded[i]) {
                Line line = {sims + i * nm, 1, q[i], m, nm};
                best_earlier(&line, threshold, out);
            }
        }
        for (Py_ssize_t i = 0; i < nq; i++) {
            if (row_crowded[i]) {
                Line line = {sims + i * nm, 1, q[i], m, nm};
                first_later(&line, threshold, per_row, out);
            }
        }
        for (Py_ssize_t j = 0; j < nm; j++) {
            if (col_crowded[j]) {
                Line line = {sims + j, nm, m[j], q, nq};
                best_earlier(&line, threshold, out);
            }
        }
        for (Py_ssize_t j = 0; j < nm; j++) {
            if (col_crowded[j]) {
                Line line = {sims + j, nm, m[j], q, nq};
                first_later(&line, threshold, per_row, out);
            }
        }
    }
    for (Py_ssize_t i = 0; i < nq; i++) {
        const float *row = sims + i * nm;
        int both = any && row_crowded[i];
        for (Py_ssize_t j = 0; j < nm; j++) {
            if (row[j] >= threshold && !(both && col_crowded[j])) {
                push(out, q[i], m[j], row[j]);
            }
        }
    }
}

static int
ascending(const int64_t *rows, Py_ssize_t n)
{
    for (Py_ssize_t i = 1; i < n; i++) {
        if (rows[i] <= rows[i - 1]) {
            return 0;
        }
    }
    return 1;
}

static PyObject *
hits(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer sims = {0}, queries = {0}, members = {0};
    float threshold;
    Py_ssize_t per_row;
    if (!PyArg_ParseTuple(args, "w*y*y*fn:hits", &sims, &queries, &members, &threshold, &per_row)) {
        return NULL;
    }
    PyObject *result = NULL;
    Out out = {0};
    unsigned char *row_crowded = NULL, *col_crowded = NULL;
    int32_t *row_hits = NULL, *col_hits = NULL;
    Py_ssize_t nq = queries.len / 8, nm = members.len / 8;
    if (queries.len % 8 || members.len % 8 || sims.len != nq * nm * 4) {
        PyErr_SetString(PyExc_ValueError, "sims must hold len(queries) x len(members) float32 values, rows int64");
        goto done;
    }
    if (per_row < 0) {
        PyErr_SetString(PyExc_ValueError, "per_row must not be negative");
        goto done;
    }
    const int64_t *q = queries.buf, *m = members.buf;
    if (!ascending(q, nq) || !ascending(m, nm)) {
        PyErr_SetString(PyExc_ValueError, "queries and members must be ascending and unique");
        goto done;
    }
    row_hits = calloc((size_t)(nq ? nq : 1), sizeof(int32_t));
    col_hits = calloc((size_t)(nm ? nm : 1), sizeof(int32_t));
    row_crowded = calloc((size_t)(nq ? nq : 1), 1);
    col_crowded = calloc((size_t)(nm ? nm : 1), 1);
    if (row_hits == NULL || col_hits == NULL || row_crowded == NULL || col_crowded == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    float *s = sims.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0, j = 0; i < nq && j < nm;) { /* a row against itself never pairs */
        if (q[i] < m[j]) {
            i++;
        }
        else if (q[i] > m[j]) {
            j++;
        }
        else {
            s[i * nm + j] = -INFINITY;
            i++;
            j++;
        }
    }
    for (Py_ssize_t i = 0; i < nq; i++) {
        const float *row = s + i * nm;
        int32_t count = 0;
        for (Py_ssize_t j = 0; j < nm; j++) {
            int hit = row[j] >= threshold;
            count += hit;
            col_hits[j] += hit;
        }
        row_hits[i] = count;
    }
    int any = 0;
    for (Py_ssize_t i = 0; i < nq; i++) {
        row_crowded[i] = row_hits[i] > per_row;
        any |= row_crowded[i];
    }
    for (Py_ssize_t j = 0; j < nm; j++) {
        col_crowded[j] = col_hits[j] > per_row;
        any |= col_crowded[j];
    }
    cell_pairs(s, q, nq, m, nm, threshold, per_row, row_crowded, col_crowded, any, &out);
    Py_END_ALLOW_THREADS
    if (out.failed) {
        PyErr_NoMemory();
        goto done;
    }
    static const char nothing[1] = {0}; /* y# makes None of a NULL pointer: no pair is three empty bytes */
    result = Py_BuildValue("(y#y#y#)", out.n ? (const char *)out.a : nothing, out.n * 8,
                           out.n ? (const char *)out.b : nothing, out.n * 8,
                           out.n ? (const char *)out.score : nothing, out.n * 4);
done:
    free(out.a);
    free(out.b);
    free(out.score);
    free(row_hits);
    free(col_hits);
    free(row_crowded);
    free(col_crowded);
    PyBuffer_Release(&sims);
    PyBuffer_Release(&queries);
    PyBuffer_Release(&members);
    return result;
}

static PyMethodDef methods[] = {
    {"hits", hits, METH_VARARGS,
     PyDoc_STR("hits(sims, queries, members, threshold, per_row) -> (a, b, scores) as int64, int64 and float32 "
               "bytes: one cell's candidate pairs from its float32 similarity matrix (queries x members, written "
               "to: a row against itself becomes -inf), in pair_search._cell_hits's order")},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tuneline.neardup._cell_hits",
    .m_doc = PyDoc_STR("The clustered search's candidate pairs of one cell (see pair_search.py)."),
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__cell_hits(void)
{
    return PyModule_Create(&module);
}
