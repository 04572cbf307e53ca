/* base64.c - standard base64 with a strict decoder. */
#include "base64.h"

#include <stdint.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0..63 for alphabet characters, 64 for everything else ('=' included). */
static const uint8_t b64_value[256] = {
#define X64 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64
    X64, X64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 62, 64, 64, 64, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 64, 64, 64, 64, 64, 64,
    64, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 64, 64, 64, 64, 64,
    64, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 64, 64, 64, 64, 64,
    X64, X64, X64, X64, X64, X64, X64, X64
#undef X64
};

size_t base64_encode(char *dst, const void *src, size_t n)
{
    const unsigned char *s = src;
    char *d = dst;
    for (; n >= 3; n -= 3, s += 3) {
        uint32_t v = (uint32_t)s[0] << 16 | (uint32_t)s[1] << 8 | s[2];
        d[0] = b64_alphabet[v >> 18];
        d[1] = b64_alphabet[(v >> 12) & 63];
        d[2] = b64_alphabet[(v >> 6) & 63];
        d[3] = b64_alphabet[v & 63];
        d += 4;
    }
    if (n) {
        uint32_t v = (uint32_t)s[0] << 16 | (n == 2 ? (uint32_t)s[1] << 8 : 0);
        d[0] = b64_alphabet[v >> 18];
        d[1] = b64_alphabet[(v >> 12) & 63];
        d[2] = n == 2 ? b64_alphabet[(v >> 6) & 63] : '=';
        d[3] = '=';
        d += 4;
    }
    return (size_t)(d - dst);
}

long base64_decode(void *dst, const char *src, size_t len)
{
    const unsigned char *s = (const unsigned char *)src;
    unsigned char *d = dst;
    if (len % 4) return -1;
    if (len == 0) return 0;
    size_t full = len - 4;  /* the last quantum may carry padding */
    for (size_t i = 0; i < full; i += 4) {
        uint32_t a = b64_value[s[i]], b = b64_value[s[i + 1]],
                 c = b64_value[s[i + 2]], e = b64_value[s[i + 3]];
        if ((a | b | c | e) & 64) return -1;
        uint32_t v = a << 18 | b << 12 | c << 6 | e;
        d[0] = (unsigned char)(v >> 16);
        d[1] = (unsigned char)(v >> 8);
        d[2] = (unsigned char)v;
        d += 3;
    }
    s += full;
    uint32_t a = b64_value[s[0]], b = b64_value[s[1]];
    if ((a | b) & 64) return -1;
    if (s[3] != '=') {
        uint32_t c = b64_value[s[2]], e = b64_value[s[3]];
        if ((c | e) & 64) return -1;
        uint32_t v = a << 18 | b << 12 | c << 6 | e;
        d[0] = (unsigned char)(v >> 16);
        d[1] = (unsigned char)(v >> 8);
        d[2] = (unsigned char)v;
        d += 3;
    } else if (s[2] != '=') {  /* two bytes: 2 unused bits must be zero */
        uint32_t c = b64_value[s[2]];
        if ((c & 64) || (c & 3)) return -1;
        uint32_t v = a << 18 | b << 12 | c << 6;
        d[0] = (unsigned char)(v >> 16);
        d[1] = (unsigned char)(v >> 8);
        d += 2;
    } else {  /* one byte: 4 unused bits must be zero */
        if (b & 15) return -1;
        d[0] = (unsigned char)((a << 2) | (b >> 4));
        d += 1;
    }
    return (long)(d - (unsigned char *)dst);
}
