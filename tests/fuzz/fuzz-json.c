/* gst-vlm — libFuzzer target: the strict JSON parser (vlm_json_parse).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input: any bytes. What the parser accepts must be a tree no deeper than
 * VLM_JSON_MAX_DEPTH, without repeated keys, whose strings are UTF-8
 * without NUL; written back as JSON it must parse again to an equal tree
 * (finite numbers only: JSON has no spelling for infinity). json-glib (more lenient) must accept it too and agree on the
 * tree, apart from integers beyond 64 bits, which json-glib wraps. A
 * refusal must carry a "line L, column C: reason" message.
 */
#include <math.h>

#include <json-glib/json-glib.h>

#include "fuzz-util.h"
#include "loaders/vlm-json.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  return 0;
}

typedef struct {
  gboolean finite;          /* every double finite */
  gboolean exact_ints;      /* no number beyond 64-bit integers */
} Walk;

static void
walk (JsonNode *node, guint depth, Walk *w)
{
  g_assert_cmpuint (depth, <=, VLM_JSON_MAX_DEPTH);
  switch (JSON_NODE_TYPE (node)) {
    case JSON_NODE_OBJECT: {
      JsonObject *o = json_node_get_object (node);
      g_autoptr (GList) members = json_object_get_members (o);
      g_assert_cmpuint (g_list_length (members), ==, json_object_get_size (o));
      for (GList *l = members; l; l = l->next) {
        g_assert_true (g_utf8_validate (l->data, -1, NULL));
        walk (json_object_get_member (o, l->data), depth + 1, w);
      }
      break;
    }
    case JSON_NODE_ARRAY: {
      JsonArray *a = json_node_get_array (node);
      for (guint i = 0; i < json_array_get_length (a); i++)
        walk (json_array_get_element (a, i), depth + 1, w);
      break;
    }
    case JSON_NODE_VALUE:
      if (json_node_get_value_type (node) == G_TYPE_DOUBLE) {
        gdouble d = json_node_get_double (node);
        if (!isfinite (d))
          w->finite = FALSE;
        if (fabs (d) >= 9.2e18)
          w->exact_ints = FALSE;     /* maybe an integer too long for 64 bits */
      } else if (json_node_get_value_type (node) == G_TYPE_STRING) {
        g_assert_true (g_utf8_validate (json_node_get_string (node), -1, NULL));
      }
      break;
    case JSON_NODE_NULL:
      break;
  }
}

static void
write_string (GString *out, const gchar *s)
{
  g_string_append_c (out, '"');
  for (const guchar *p = (const guchar *) s; *p; p++) {
    if (*p == '"' || *p == '\\')
      g_string_append_printf (out, "\\%c", *p);
    else if (*p < 0x20)
      g_string_append_printf (out, "\\u%04x", *p);
    else
      g_string_append_c (out, (gchar) *p);
  }
  g_string_append_c (out, '"');
}

/* JSON text of @node (json-glib 1.6's generator writes -4e+46 as
 * "-4e+46.0", so it cannot serve). */
static void
write_json (GString *out, JsonNode *node)
{
  switch (JSON_NODE_TYPE (node)) {
    case JSON_NODE_OBJECT: {
      JsonObject *o = json_node_get_object (node);
      g_autoptr (GList) members = json_object_get_members (o);
      g_string_append_c (out, '{');
      for (GList *l = members; l; l = l->next) {
        if (l != members)
          g_string_append_c (out, ',');
        write_string (out, l->data);
        g_string_append_c (out, ':');
        write_json (out, json_object_get_member (o, l->data));
      }
      g_string_append_c (out, '}');
      break;
    }
    case JSON_NODE_ARRAY: {
      JsonArray *a = json_node_get_array (node);
      g_string_append_c (out, '[');
      for (guint i = 0; i < json_array_get_length (a); i++) {
        if (i)
          g_string_append_c (out, ',');
        write_json (out, json_array_get_element (a, i));
      }
      g_string_append_c (out, ']');
      break;
    }
    case JSON_NODE_NULL:
      g_string_append (out, "null");
      break;
    case JSON_NODE_VALUE:
      switch (json_node_get_value_type (node)) {
        case G_TYPE_INT64:
          g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
          break;
        case G_TYPE_DOUBLE: {
          gchar buf[G_ASCII_DTOSTR_BUF_SIZE];
          const gchar *text = g_ascii_dtostr (buf, sizeof buf, json_node_get_double (node));
          g_string_append (out, text);
          if (!strpbrk (text, ".eE"))
            g_string_append (out, ".0");     /* stays a double */
          break;
        }
        case G_TYPE_BOOLEAN:
          g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
          break;
        case G_TYPE_STRING:
          write_string (out, json_node_get_string (node));
          break;
        default:
          g_assert_not_reached ();
      }
      break;
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  JsonNode *root = vlm_json_parse ((const gchar *) data, size, &error);
  if (!root) {
    g_assert_nonnull (error);
    g_assert_true (error->domain == VLM_ERROR);
    g_assert_true (g_str_has_prefix (error->message, "line "));
    g_error_free (error);
    return 0;
  }
  Walk w = { TRUE, TRUE };
  walk (root, 0, &w);

  if (w.finite) {
    GString *out = g_string_new (NULL);
    write_json (out, root);
    gsize len = out->len;
    g_autofree gchar *text = g_string_free (out, FALSE);
    JsonNode *again = vlm_json_parse (text, len, &error);
    if (!again)
      g_error ("fuzz: generated JSON does not parse: %s\n%s", error->message, text);
    if (!json_node_equal (root, again))
      g_error ("fuzz: round trip changed the tree:\n%s", text);
    json_node_unref (again);
  }

  if (w.exact_ints) {
    g_autoptr (JsonParser) parser = json_parser_new ();
    if (!json_parser_load_from_data (parser, (const gchar *) data, (gssize) size, &error))
      g_error ("fuzz: json-glib refuses what vlm_json_parse takes: %s", error->message);
    if (!json_node_equal (root, json_parser_get_root (parser)))
      g_error ("fuzz: json-glib reads another tree");
  }
  json_node_unref (root);
  return 0;
}
