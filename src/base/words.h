/* words.h - "did you mean" for mistyped names. */
#ifndef MIGHOST_WORDS_H
#define MIGHOST_WORDS_H

/* The name in `names` (NULL-terminated) closest to `word`, or NULL when
 * none is close enough to be a typo. A "--name=value" word is compared by
 * its name. */
const char *words_closest(const char *word, const char *const *names);

#endif
