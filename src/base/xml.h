/* xml.h - pull a few element texts out of a small XML document (expat).
 *
 * The query-protocol services (STS) answer in XML, and mighost only ever
 * needs a handful of leaf values from those answers, so this is a lookup by
 * path rather than a tree. Namespace prefixes are ignored.
 */
#ifndef MIGHOST_XML_H
#define MIGHOST_XML_H

#include <stddef.h>

#include "buf.h"

/* For each paths[i] ("Credentials/AccessKeyId": the element names at the
 * end of the element's ancestry), store in out[i] a heap copy of the text
 * of the first matching element, or NULL if none matched. Returns 0, or -1
 * if the document is not well-formed XML (out[] is then all NULL). */
int xml_extract(const char *doc, size_t len, const char *const *paths, size_t n,
                char **out, buf *err);

/* Free out[0..n) and set them to NULL. */
void xml_free_texts(char **out, size_t n);

#endif
