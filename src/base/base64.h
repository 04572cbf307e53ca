/* base64.h - standard base64 (RFC 4648, '+' '/' and '=' padding).
 *
 * The decoder is strict on purpose: DynamoDB and the AWS SDKs only emit
 * canonical, padded text, and accepting anything else would make a decoded
 * value re-encode to different bytes than it arrived as.
 */
#ifndef MIGHOST_BASE64_H
#define MIGHOST_BASE64_H

#include <stddef.h>

/* Encoded length of n bytes (no NUL). */
#define BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

/* Encode n bytes of src into dst (BASE64_ENCODED_LEN(n) bytes, not
 * NUL-terminated); returns the length written. */
size_t base64_encode(char *dst, const void *src, size_t n);

/* Upper bound of the decoded length of len characters. */
#define BASE64_DECODED_MAX(len) (((len) / 4) * 3)

/* Decode len characters of canonical base64 into dst (at least
 * BASE64_DECODED_MAX(len) bytes). Returns the decoded length, or -1 when
 * the text is not canonical base64: a length that is not a multiple of 4,
 * a character outside the alphabet, misplaced padding, or non-zero unused
 * bits before the padding. */
long base64_decode(void *dst, const char *src, size_t len);

#endif
