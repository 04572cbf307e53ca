/* profile.h - the AWS shared config and credentials files.
 *
 * Both files are INI. The credentials file names sections after profiles
 * (`[name]`); the config file uses `[profile name]` and `[default]` and
 * holds other kinds of section: `[sso-session x]` is kept apart (see
 * profile_sso_session_get), others such as `[services x]` are dropped. As in botocore (Python's configparser): full-line `#`
 * and `;` comments, `=` or `:` between key and value, keys lowercased,
 * values trimmed, and lines indented under a key are its continuation (the
 * nested `s3 =\n  max_concurrent_requests = 10` form), ignored here.
 * A missing file is simply empty; a malformed one is an error naming the
 * file and line (never the line's text, which may hold a secret).
 */
#ifndef MIGHOST_PROFILE_H
#define MIGHOST_PROFILE_H

#include "buf.h"

typedef enum profile_kind {
    PROFILE_CONFIG,        /* ~/.aws/config */
    PROFILE_CREDENTIALS    /* ~/.aws/credentials */
} profile_kind;

typedef struct profile_file profile_file;

/* Parse text. `path` only labels error messages. NULL on error. */
profile_file *profile_file_parse(const char *text, size_t len, profile_kind kind,
                                 const char *path, buf *err);
/* Read and parse a file (~ expanded); a missing file gives an empty one. */
profile_file *profile_file_load(const char *path, profile_kind kind, buf *err);
void profile_file_free(profile_file *f);

int profile_file_has(const profile_file *f, const char *profile);
/* The value of key in profile, or NULL. Owned by f. */
const char *profile_file_get(const profile_file *f, const char *profile, const char *key);
/* Number of profiles, and the i-th name (for listings and tests). */
size_t profile_file_count(const profile_file *f);
const char *profile_file_name(const profile_file *f, size_t i);

/* Both files, as the AWS CLI sees them. */
typedef struct profile_store {
    profile_file *config;
    profile_file *credentials;
} profile_store;

/* Load AWS_CONFIG_FILE (default ~/.aws/config) and
 * AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials). NULL on a
 * parse or read error. */
profile_store *profile_store_load(buf *err);
void profile_store_free(profile_store *s);

/* 1 if the profile is in either file. */
int profile_exists(const profile_store *s, const char *profile);
/* A key from the profile, the credentials file winning over the config
 * file as in botocore's merged view. NULL if unset. */
const char *profile_get(const profile_store *s, const char *profile, const char *key);
/* A key from one file only. */
const char *profile_get_in(const profile_store *s, profile_kind kind,
                           const char *profile, const char *key);

/* A key of the config file's [sso-session NAME] section, or NULL. */
const char *profile_sso_session_get(const profile_store *s, const char *session, const char *key);

/* "~" and "~/x" expanded with HOME; other paths copied. Heap string. */
char *profile_expand_path(const char *path);

/* The selected profile: cli_profile, else AWS_PROFILE, else "default".
 * *explicit is set when it was named (not the fallback default). */
const char *profile_selected(const char *cli_profile, int *explicit_name);

#endif
