/* gst-vlm engine — typed reads from JSON config files with clear errors.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

#include "../vlm-device.h"

G_BEGIN_DECLS

/**
 * VLM_JSON_MAX_DEPTH:
 *
 * Deepest nesting of arrays and objects vlm_json_parse() accepts (model
 * files use 4 levels at most).
 */
#define VLM_JSON_MAX_DEPTH 64

/**
 * VLM_JSON_MAX_VALUES:
 *
 * Most values (numbers, strings, arrays, objects …) vlm_json_parse()
 * accepts in one document: about 90 MB of tree. CLIP's vocab.json has
 * 49 408, a safetensors header ~15 per tensor.
 */
#define VLM_JSON_MAX_VALUES (1u << 20)

/**
 * VlmJsonFile:
 * @path: the file, for messages
 * @node: the document
 * @root: the top-level object
 *
 * A parsed JSON file whose top level is an object.
 */
typedef struct {
  gchar *path;
  JsonNode *node;
  JsonObject *root;
} VlmJsonFile;

JsonNode    *vlm_json_parse      (const gchar *data, gsize length, GError **error);
gboolean     vlm_file_read_bounded (const gchar *path, gsize max_bytes, gchar **contents,
                                    gsize *length, GError **error);

gboolean     vlm_json_file_load  (VlmJsonFile *file, const gchar *path, GError **error);
void         vlm_json_file_clear (VlmJsonFile *file);

JsonObject  *vlm_json_object     (const VlmJsonFile *file, JsonObject *obj, const gchar *key,
                                  GError **error);
gboolean     vlm_json_int        (const VlmJsonFile *file, JsonObject *obj, const gchar *key,
                                  gint64 min, gint64 max, gint64 fallback, gint64 *out,
                                  GError **error);
gboolean     vlm_json_double     (const VlmJsonFile *file, JsonObject *obj, const gchar *key,
                                  gdouble fallback, gdouble *out, GError **error);
gboolean     vlm_json_string     (const VlmJsonFile *file, JsonObject *obj, const gchar *key,
                                  const gchar *fallback, const gchar **out, GError **error);
gboolean     vlm_json_doubles    (const VlmJsonFile *file, JsonObject *obj, const gchar *key,
                                  guint n, const gdouble *fallback, gdouble *out,
                                  GError **error);

G_END_DECLS
