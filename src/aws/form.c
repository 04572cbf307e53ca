/* form.c - query-protocol form encoding. */
#include "form.h"

#include <string.h>

#include "sigv4.h"

void form_add(buf *form, const char *name, const char *value)
{
    if (form->len) buf_putc(form, '&');
    buf_puts(form, name);
    buf_putc(form, '=');
    sigv4_uri_encode(form, value, strlen(value), 0);
}

void form_add_member(buf *form, const char *name, size_t n, const char *value)
{
    if (form->len) buf_putc(form, '&');
    buf_printf(form, "%s.member.%zu=", name, n);
    sigv4_uri_encode(form, value, strlen(value), 0);
}
