/* aws_error.h - turning an error response into (code, message). */
#ifndef MIGHOST_AWS_ERROR_H
#define MIGHOST_AWS_ERROR_H

#include "buf.h"
#include "endpoint.h"
#include "http.h"

/* Fills code and message from an HTTP error response of the service's
 * protocol: x-amzn-ErrorType, JSON `__type`/`code` + `message`/`Message`,
 * or the query protocol's XML <Code>/<Message>. Namespaces
 * ("com.amazonaws.dynamodb.v20120810#") and suffixes (":http://...") are
 * dropped. Falls back to "HTTP <status>". */
void aws_error_parse(aws_protocol proto, const http_response *resp, buf *code, buf *message);

#endif
