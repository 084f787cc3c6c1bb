/* gst-vlm engine — typed reads from JSON config files with clear errors.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every reader takes a fallback used when the key is absent (Hugging Face
 * configs omit keys that equal the class defaults) and fails, naming the
 * file and the key, when the key is present with the wrong type or range.
 */
#include <math.h>
#include <string.h>

#include "vlm-json.h"

/* Config files are small; anything bigger is not a config. */
#define MAX_CONFIG_BYTES (16u * 1024u * 1024u)

/**
 * vlm_json_file_load:
 * @file: (out caller-allocates): filled on success; clear with vlm_json_file_clear()
 * @path: the file
 * @error: return location for a #GError
 *
 * Reads and parses a JSON file whose top level must be an object.
 *
 * Returns: %TRUE on success; %FALSE with %VLM_ERROR_FILE (unreadable) or
 *   %VLM_ERROR_FORMAT (not JSON, not an object) naming the file.
 */
gboolean
vlm_json_file_load (VlmJsonFile *file, const gchar *path, GError **error)
{
  g_autofree gchar *text = NULL;
  gsize len = 0;
  g_autoptr (GError) local = NULL;
  memset (file, 0, sizeof *file);
  if (!g_file_get_contents (path, &text, &len, &local)) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FILE, "%s: cannot read: %s", path, local->message);
    return FALSE;
  }
  if (len > MAX_CONFIG_BYTES) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: %" G_GSIZE_FORMAT " bytes is too large "
                 "for a config file", path, len);
    return FALSE;
  }
  JsonParser *parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, text, (gssize) len, &local)) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: not valid JSON: %s", path,
                 local->message);
    g_object_unref (parser);
    return FALSE;
  }
  JsonNode *root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: the top level is not a JSON object",
                 path);
    g_object_unref (parser);
    return FALSE;
  }
  file->path = g_strdup (path);
  file->parser = parser;
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
  g_clear_object (&file->parser);
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
