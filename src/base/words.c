/* words.c - the closest name to a mistyped word (Levenshtein distance). */
#include "words.h"

#include <stddef.h>
#include <string.h>

/* Levenshtein distance, two rows; words longer than 63 bytes are far. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return (size_t)-1;
    size_t prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

const char *words_closest(const char *word, const char *const *names)
{
    const char *eq = strchr(word, '=');
    char w[64];
    size_t n = eq ? (size_t)(eq - word) : strlen(word);
    if (n >= sizeof w) return NULL;
    memcpy(w, word, n);
    w[n] = '\0';
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (const char *const *c = names; *c; c++) {
        size_t d = distance(w, *c);
        if (d < best_d) best_d = d, best = *c;
    }
    /* Close enough to be a typo: a third of the word, at least 2 edits. */
    size_t limit = n / 3 > 2 ? n / 3 : 2;
    return best && best_d <= limit ? best : NULL;
}
