/* form.h - the form-encoded bodies of the query protocol (STS,
 * CloudFormation): name=value pairs joined by '&', values in RFC 3986
 * encoding, lists as name.member.N. */
#ifndef MIGHOST_FORM_H
#define MIGHOST_FORM_H

#include <stddef.h>

#include "buf.h"

/* Append name=value (value encoded), with '&' before it unless form is empty. */
void form_add(buf *form, const char *name, const char *value);

/* Append name.member.N=value: the Nth (from 1) element of a list. */
void form_add_member(buf *form, const char *name, size_t n, const char *value);

#endif
