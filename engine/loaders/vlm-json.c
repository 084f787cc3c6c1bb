/* gst-vlm engine — typed reads from JSON config files with clear errors.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every reader takes a fallback used when the key is absent (Hugging Face
 * configs omit keys that equal the class defaults) and fails, naming the
 * file and the key, when the key is present with the wrong type or range.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "vlm-json.h"

/* Config files are small; anything bigger is not a config. */
#define MAX_CONFIG_BYTES (16u * 1024u * 1024u)

/* ------------------------------------------------------------------------ */
/* A strict JSON parser for files from the internet                         */

/* json-glib 1.6 (Debian 12) is not fit for hostile input: it recurses once
 * per nesting level without a limit (100 000 '[' overflow an 8 MiB stack)
 * and replaces a repeated object key by a linear search (a few MB of
 * repeated keys take minutes). It also takes comments, single-quoted
 * strings and hex numbers. This parser builds the same JsonNode trees from
 * RFC 8259 JSON only: at most VLM_JSON_MAX_DEPTH levels and
 * VLM_JSON_MAX_VALUES values, repeated keys
 * refused (Python's json and serde keep the last one silently; none of the
 * files we read has any), strings without U+0000 (they become C strings).
 * Integers that fit in 64 bits are G_TYPE_INT64, other numbers doubles, as
 * in json-glib. */

typedef struct {
  const gchar *start, *p, *end;
  guint depth;
  guint values;
  GError **error;
} JsonScan;

static gboolean G_GNUC_PRINTF (3, 4)
scan_fail (JsonScan *s, const gchar *at, const gchar *fmt, ...)
{
  guint line = 1;
  const gchar *line_start = s->start;
  for (const gchar *q = s->start; q < at; q++)
    if (*q == '\n') {
      line++;
      line_start = q + 1;
    }
  va_list ap;
  va_start (ap, fmt);
  g_autofree gchar *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (s->error, VLM_ERROR, VLM_ERROR_FORMAT, "line %u, column %u: %s", line,
               (guint) (at - line_start) + 1, msg);
  return FALSE;
}

static void
scan_space (JsonScan *s)
{
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

static gint
scan_hex4 (const gchar *p)
{
  gint v = 0;
  for (gint i = 0; i < 4; i++) {
    gchar c = p[i];
    gint d = g_ascii_xdigit_value (c);
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return v;
}

/* A string at s->p ('"'); returns it unescaped (valid UTF-8, no NUL). */
static gchar *
scan_string (JsonScan *s)
{
  const gchar *open = s->p++;
  GString *out = g_string_new (NULL);
  for (;;) {
    const gchar *run = s->p;
    while (s->p < s->end && *s->p != '"' && *s->p != '\\' && (guchar) *s->p >= 0x20)
      s->p++;
    g_string_append_len (out, run, s->p - run);
    if (s->p >= s->end) {
      scan_fail (s, open, "unterminated string");
      break;
    }
    if (*s->p == '"') {
      s->p++;
      return g_string_free (out, FALSE);
    }
    if (*s->p != '\\') {
      scan_fail (s, s->p, "control character 0x%02x in a string", (guint) (guchar) *s->p);
      break;
    }
    const gchar *esc = s->p;
    if (esc + 1 >= s->end) {
      scan_fail (s, open, "unterminated string");
      break;
    }
    s->p += 2;
    switch (esc[1]) {
      case '"': case '\\': case '/':
        g_string_append_c (out, esc[1]);
        continue;
      case 'b': g_string_append_c (out, '\b'); continue;
      case 'f': g_string_append_c (out, '\f'); continue;
      case 'n': g_string_append_c (out, '\n'); continue;
      case 'r': g_string_append_c (out, '\r'); continue;
      case 't': g_string_append_c (out, '\t'); continue;
      case 'u':
        break;
      default:
        scan_fail (s, esc, "unknown escape \\%c", g_ascii_isprint (esc[1]) ? esc[1] : '?');
        goto failed;
    }
    gint cp = s->end - s->p >= 4 ? scan_hex4 (s->p) : -1;
    if (cp < 0) {
      scan_fail (s, esc, "\\u needs four hex digits");
      break;
    }
    s->p += 4;
    if (cp >= 0xd800 && cp <= 0xdbff) {
      gint lo = s->end - s->p >= 6 && s->p[0] == '\\' && s->p[1] == 'u' ? scan_hex4 (s->p + 2)
          : -1;
      if (lo < 0xdc00 || lo > 0xdfff) {
        scan_fail (s, esc, "\\u%04x is half of a surrogate pair", (guint) cp);
        break;
      }
      s->p += 6;
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
      scan_fail (s, esc, "\\u%04x is half of a surrogate pair", (guint) cp);
      break;
    } else if (cp == 0) {
      scan_fail (s, esc, "\\u0000 in a string");
      break;
    }
    g_string_append_unichar (out, (gunichar) cp);
  }
failed:
  g_string_free (out, TRUE);
  return NULL;
}

static JsonNode *
scan_number (JsonScan *s)
{
  const gchar *begin = s->p, *p = s->p, *end = s->end;
  gboolean integral = TRUE;
  if (p < end && *p == '-')
    p++;
  if (p < end && *p == '0') {
    p++;
  } else if (p < end && *p >= '1' && *p <= '9') {
    while (p < end && g_ascii_isdigit (*p))
      p++;
  } else {
    scan_fail (s, begin, "not a value");
    return NULL;
  }
  if (p < end && *p == '.') {
    integral = FALSE;
    if (++p >= end || !g_ascii_isdigit (*p)) {
      scan_fail (s, begin, "a digit must follow the decimal point");
      return NULL;
    }
    while (p < end && g_ascii_isdigit (*p))
      p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    integral = FALSE;
    p++;
    if (p < end && (*p == '+' || *p == '-'))
      p++;
    if (p >= end || !g_ascii_isdigit (*p)) {
      scan_fail (s, begin, "the exponent has no digits");
      return NULL;
    }
    while (p < end && g_ascii_isdigit (*p))
      p++;
  }
  s->p = p;
  g_autofree gchar *text = g_strndup (begin, p - begin);
  JsonNode *node = json_node_new (JSON_NODE_VALUE);
  if (integral) {
    errno = 0;
    gint64 v = g_ascii_strtoll (text, NULL, 10);
    if (errno == 0) {
      json_node_set_int (node, v);
      return node;
    }
  }
  json_node_set_double (node, g_ascii_strtod (text, NULL));
  return node;
}

static JsonNode *scan_value (JsonScan *s);

static JsonNode *
scan_container (JsonScan *s)
{
  gboolean is_object = *s->p == '{';
  const gchar close = is_object ? '}' : ']';
  if (s->depth >= VLM_JSON_MAX_DEPTH) {
    scan_fail (s, s->p, "nested deeper than %d levels", VLM_JSON_MAX_DEPTH);
    return NULL;
  }
  s->depth++;
  s->p++;
  JsonNode *node = json_node_new (is_object ? JSON_NODE_OBJECT : JSON_NODE_ARRAY);
  JsonObject *object = NULL;
  JsonArray *array = NULL;
  if (is_object)
    json_node_take_object (node, object = json_object_new ());
  else
    json_node_take_array (node, array = json_array_new ());
  scan_space (s);
  if (s->p < s->end && *s->p == close) {
    s->p++;
    s->depth--;
    return node;
  }
  for (;;) {
    g_autofree gchar *key = NULL;
    if (is_object) {
      scan_space (s);
      if (s->p >= s->end || *s->p != '"') {
        scan_fail (s, s->p, "expected a string key");
        break;
      }
      const gchar *at = s->p;
      if (!(key = scan_string (s)))
        break;
      if (json_object_has_member (object, key)) {
        scan_fail (s, at, "the key \"%s\" is repeated", key);
        break;
      }
      scan_space (s);
      if (s->p >= s->end || *s->p != ':') {
        scan_fail (s, s->p, "expected ':' after a key");
        break;
      }
      s->p++;
    }
    JsonNode *value = scan_value (s);
    if (!value)
      break;
    if (is_object)
      json_object_set_member (object, key, value);
    else
      json_array_add_element (array, value);
    scan_space (s);
    if (s->p < s->end && *s->p == ',') {
      s->p++;
      continue;
    }
    if (s->p < s->end && *s->p == close) {
      s->p++;
      s->depth--;
      return node;
    }
    scan_fail (s, s->p, "expected ',' or '%c'", close);
    break;
  }
  json_node_unref (node);
  return NULL;
}

static JsonNode *
scan_value (JsonScan *s)
{
  scan_space (s);
  if (s->p >= s->end) {
    scan_fail (s, s->p, "unexpected end of the text, expected a value");
    return NULL;
  }
  if (++s->values > VLM_JSON_MAX_VALUES) {
    scan_fail (s, s->p, "more than %u values", VLM_JSON_MAX_VALUES);
    return NULL;
  }
  static const struct {
    const gchar *word;
    gint kind;
  } words[] = { { "true", 1 }, { "false", 0 }, { "null", -1 } };
  switch (*s->p) {
    case '{':
    case '[':
      return scan_container (s);
    case '"': {
      gchar *str = scan_string (s);
      if (!str)
        return NULL;
      JsonNode *node = json_node_new (JSON_NODE_VALUE);
      json_node_set_string (node, str);
      g_free (str);
      return node;
    }
    case 't': case 'f': case 'n':
      for (guint i = 0; i < G_N_ELEMENTS (words); i++) {
        gsize n = strlen (words[i].word);
        if ((gsize) (s->end - s->p) >= n && memcmp (s->p, words[i].word, n) == 0) {
          s->p += n;
          if (words[i].kind < 0)
            return json_node_new (JSON_NODE_NULL);
          JsonNode *node = json_node_new (JSON_NODE_VALUE);
          json_node_set_boolean (node, words[i].kind);
          return node;
        }
      }
      scan_fail (s, s->p, "not a value");
      return NULL;
    default:
      return scan_number (s);
  }
}

/**
 * vlm_json_parse:
 * @data: (array length=length): UTF-8 JSON text
 * @length: its size in bytes
 * @error: return location for a #GError
 *
 * Parses strict JSON (RFC 8259) from a file that may be hostile: nesting
 * is limited to %VLM_JSON_MAX_DEPTH levels, a key repeated in an object is
 * refused, and so are comments, single quotes, trailing commas, NaN and
 * strings holding U+0000. Work is linear in @length, and memory too, with
 * at most %VLM_JSON_MAX_VALUES values (a tree takes ~90 bytes per value:
 * 100 MB of "0," would otherwise take 4 GB).
 *
 * Returns: (transfer full) (nullable): the document, or %NULL with @error
 *   (%VLM_ERROR_FORMAT, "line L, column C: reason"; the caller adds the
 *   file name).
 */
JsonNode *
vlm_json_parse (const gchar *data, gsize length, GError **error)
{
  JsonScan s = { data, data, data + length, 0, 0, error };
  const gchar *bad;
  if (!g_utf8_validate_len (data, length, &bad)) {
    if (*bad)
      scan_fail (&s, bad, "not UTF-8 text (byte 0x%02x)", (guint) (guchar) *bad);
    else
      scan_fail (&s, bad, "a NUL byte");
    return NULL;
  }
  if (length >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0)
    s.p += 3;                   /* a byte-order mark */
  JsonNode *root = scan_value (&s);
  if (!root)
    return NULL;
  scan_space (&s);
  if (s.p < s.end) {
    scan_fail (&s, s.p, "unexpected text after the value");
    json_node_unref (root);
    return NULL;
  }
  return root;
}

/**
 * vlm_file_read_bounded:
 * @path: a file
 * @max_bytes: the most it may hold
 * @contents: (out) (transfer full): its bytes, followed by a NUL
 * @length: (out) (optional): its size
 * @error: return location for a #GError
 *
 * Reads a whole file, refusing one of more than @max_bytes before reading
 * it (and a pipe or device that yields more).
 *
 * Returns: %TRUE on success; %FALSE with %VLM_ERROR_FILE (unreadable) or
 *   %VLM_ERROR_FORMAT (too large), the message naming the file.
 */
gboolean
vlm_file_read_bounded (const gchar *path, gsize max_bytes, gchar **contents, gsize *length,
                       GError **error)
{
  *contents = NULL;
  int fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);
  struct stat st;
  if (fd < 0 || fstat (fd, &st) != 0) {
    int e = errno;
    if (fd >= 0)
      close (fd);
    g_set_error (error, VLM_ERROR, VLM_ERROR_FILE, "%s: cannot read: %s", path, g_strerror (e));
    return FALSE;
  }
  if (S_ISREG (st.st_mode) && (guint64) st.st_size > max_bytes) {
    close (fd);
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: %" G_GUINT64_FORMAT " bytes, too large "
                 "(at most %" G_GSIZE_FORMAT " for this file)", path, (guint64) st.st_size,
                 max_bytes);
    return FALSE;
  }
  gsize cap = S_ISREG (st.st_mode) ? (gsize) st.st_size + 1 : 65536;
  cap = MIN (cap, max_bytes + 1);
  gchar *buf = g_malloc (cap + 1);
  gsize n = 0;
  for (;;) {
    if (n == cap) {
      if (cap > max_bytes)
        break;
      cap = cap > max_bytes / 2 ? max_bytes + 1 : cap * 2;
      buf = g_realloc (buf, cap + 1);
    }
    gssize r = read (fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      close (fd);
      g_free (buf);
      g_set_error (error, VLM_ERROR, VLM_ERROR_FILE, "%s: cannot read: %s", path,
                   g_strerror (e));
      return FALSE;
    }
    if (r == 0)
      break;
    n += (gsize) r;
  }
  close (fd);
  if (n > max_bytes) {
    g_free (buf);
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: more than %" G_GSIZE_FORMAT " bytes, "
                 "too large for this file", path, max_bytes);
    return FALSE;
  }
  buf[n] = '\0';
  *contents = buf;
  if (length)
    *length = n;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Config files                                                             */

/**
 * vlm_json_file_load:
 * @file: (out caller-allocates): filled on success; clear with vlm_json_file_clear()
 * @path: the file
 * @error: return location for a #GError
 *
 * Reads and parses a JSON file (at most 16 MiB, strict JSON as
 * vlm_json_parse() takes it) whose top level must be an object.
 *
 * Returns: %TRUE on success; %FALSE with %VLM_ERROR_FILE (unreadable) or
 *   %VLM_ERROR_FORMAT (too large, not JSON, not an object) naming the file.
 */
gboolean
vlm_json_file_load (VlmJsonFile *file, const gchar *path, GError **error)
{
  g_autofree gchar *text = NULL;
  gsize len = 0;
  g_autoptr (GError) local = NULL;
  memset (file, 0, sizeof *file);
  if (!vlm_file_read_bounded (path, MAX_CONFIG_BYTES, &text, &len, error))
    return FALSE;
  JsonNode *root = vlm_json_parse (text, len, &local);
  if (!root) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: not valid JSON: %s", path,
                 local->message);
    return FALSE;
  }
  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: the top level is not a JSON object",
                 path);
    json_node_unref (root);
    return FALSE;
  }
  file->path = g_strdup (path);
  file->node = root;
  file->root = json_node_get_object (root);
  return TRUE;
}

/**
 * vlm_json_file_clear:
 * @file: a file loaded with vlm_json_file_load(), or zeroed
 *
 * Frees what the file holds.
 */
void
vlm_json_file_clear (VlmJsonFile *file)
{
  g_clear_pointer (&file->node, json_node_unref);
  g_clear_pointer (&file->path, g_free);
  file->root = NULL;
}

static gboolean
wrong (const VlmJsonFile *file, const gchar *key, const gchar *expected, GError **error)
{
  g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: \"%s\" must be %s", file->path, key,
               expected);
  return FALSE;
}

static JsonNode *
member (JsonObject *obj, const gchar *key)
{
  JsonNode *n = json_object_get_member (obj, key);
  return n && !JSON_NODE_HOLDS_NULL (n) ? n : NULL;
}

/**
 * vlm_json_object:
 * @file: the file, for messages
 * @obj: the object to read from
 * @key: member name
 * @error: return location for a #GError
 *
 * Returns: (transfer none) (nullable): the member when it is an object;
 *   %NULL without error when absent; %NULL with @error when of another type.
 */
JsonObject *
vlm_json_object (const VlmJsonFile *file, JsonObject *obj, const gchar *key, GError **error)
{
  JsonNode *n = member (obj, key);
  if (!n)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (n)) {
    wrong (file, key, "an object", error);
    return NULL;
  }
  return json_node_get_object (n);
}

/**
 * vlm_json_int:
 * @file: the file, for messages
 * @obj: the object to read from
 * @key: member name
 * @min: smallest accepted value
 * @max: largest accepted value
 * @fallback: value when the key is absent
 * @out: (out): the value
 * @error: return location for a #GError
 *
 * Reads an integer member (a float with an integral value is accepted).
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_json_int (const VlmJsonFile *file, JsonObject *obj, const gchar *key, gint64 min,
              gint64 max, gint64 fallback, gint64 *out, GError **error)
{
  JsonNode *n = member (obj, key);
  gint64 v = fallback;
  if (n) {
    GType t = JSON_NODE_HOLDS_VALUE (n) ? json_node_get_value_type (n) : G_TYPE_INVALID;
    if (t == G_TYPE_INT64) {
      v = json_node_get_int (n);
    } else if (t == G_TYPE_DOUBLE && floor (json_node_get_double (n)) == json_node_get_double (n)
               && fabs (json_node_get_double (n)) < 9e15) {
      v = (gint64) json_node_get_double (n);
    } else {
      return wrong (file, key, "an integer", error);
    }
  }
  if (v < min || v > max) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: \"%s\" is %" G_GINT64_FORMAT
                 ", outside %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT, file->path, key, v, min,
                 max);
    return FALSE;
  }
  *out = v;
  return TRUE;
}

/**
 * vlm_json_double:
 * @file: the file, for messages
 * @obj: the object to read from
 * @key: member name
 * @fallback: value when the key is absent
 * @out: (out): the value
 * @error: return location for a #GError
 *
 * Reads a finite number member.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_json_double (const VlmJsonFile *file, JsonObject *obj, const gchar *key, gdouble fallback,
                 gdouble *out, GError **error)
{
  JsonNode *n = member (obj, key);
  gdouble v = fallback;
  if (n) {
    GType t = JSON_NODE_HOLDS_VALUE (n) ? json_node_get_value_type (n) : G_TYPE_INVALID;
    if (t == G_TYPE_DOUBLE)
      v = json_node_get_double (n);
    else if (t == G_TYPE_INT64)
      v = (gdouble) json_node_get_int (n);
    else
      return wrong (file, key, "a number", error);
    if (!isfinite (v))
      return wrong (file, key, "finite", error);
  }
  *out = v;
  return TRUE;
}

/**
 * vlm_json_string:
 * @file: the file, for messages
 * @obj: the object to read from
 * @key: member name
 * @fallback: (nullable): value when the key is absent
 * @out: (out) (transfer none): the value, owned by the file
 * @error: return location for a #GError
 *
 * Reads a string member.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_json_string (const VlmJsonFile *file, JsonObject *obj, const gchar *key,
                 const gchar *fallback, const gchar **out, GError **error)
{
  JsonNode *n = member (obj, key);
  if (!n) {
    *out = fallback;
    return TRUE;
  }
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return wrong (file, key, "a string", error);
  *out = json_node_get_string (n);
  return TRUE;
}

/**
 * vlm_json_doubles:
 * @file: the file, for messages
 * @obj: the object to read from
 * @key: member name
 * @n: number of values expected
 * @fallback: (array length=n): values when the key is absent
 * @out: (array length=n) (out caller-allocates): the values
 * @error: return location for a #GError
 *
 * Reads an array of exactly @n finite numbers.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_json_doubles (const VlmJsonFile *file, JsonObject *obj, const gchar *key, guint n,
                  const gdouble *fallback, gdouble *out, GError **error)
{
  JsonNode *node = member (obj, key);
  if (!node) {
    memcpy (out, fallback, n * sizeof (gdouble));
    return TRUE;
  }
  g_autofree gchar *what = g_strdup_printf ("an array of %u numbers", n);
  if (!JSON_NODE_HOLDS_ARRAY (node) || json_array_get_length (json_node_get_array (node)) != n)
    return wrong (file, key, what, error);
  JsonArray *a = json_node_get_array (node);
  for (guint i = 0; i < n; i++) {
    JsonNode *e = json_array_get_element (a, i);
    GType t = JSON_NODE_HOLDS_VALUE (e) ? json_node_get_value_type (e) : G_TYPE_INVALID;
    if (t == G_TYPE_DOUBLE)
      out[i] = json_node_get_double (e);
    else if (t == G_TYPE_INT64)
      out[i] = (gdouble) json_node_get_int (e);
    else
      return wrong (file, key, what, error);
    if (!isfinite (out[i]))
      return wrong (file, key, what, error);
  }
  return TRUE;
}
