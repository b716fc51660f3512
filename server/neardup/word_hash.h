/* What both C walks share (minhash.c, word_ids.c): which texts they take (`printable`: `word_scan.plain_ascii`),
and the word hash, `word_scan.word_hash` of a word's lowercased bytes: the length, then each 8-byte little-endian
chunk (zero padded), each through splitmix64's finaliser. Kept in one place because the numpy paths take the same
texts and key their tables and shingles by the same value. */
#ifndef TUNELINE_WORD_HASH_H
#define TUNELINE_WORD_HASH_H

#include <Python.h>
#include <stdint.h>

static inline uint64_t
finish(uint64_t h)
{
    h ^= h >> 30;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 27;
    h *= 0x94D049BB133111EBULL;
    return h ^ (h >> 31);
}

static inline int
lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* Only printable ASCII and newlines. */
static inline int
printable(const unsigned char *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if ((s[i] < 0x20 || s[i] > 0x7E) && s[i] != '\n') {
            return 0;
        }
    }
    return 1;
}

static inline uint64_t
word_hash(const unsigned char *s, Py_ssize_t n)
{
    uint64_t h = finish((uint64_t)n * 0x9E3779B97F4A7C15ULL);
    for (Py_ssize_t at = 0; at < n; at += 8) {
        uint64_t chunk = 0;
        Py_ssize_t take = n - at < 8 ? n - at : 8;
        for (Py_ssize_t k = 0; k < take; k++) {
            chunk |= (uint64_t)lower(s[at + k]) << (8 * k);
        }
        h = finish(h ^ chunk);
    }
    return h;
}

#endif
