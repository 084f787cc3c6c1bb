/* gst-vlm — hostile model files: the limits of the parsers (issue 9).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Inputs too large to commit as fuzz regressions, built here: JSON nested
 * hundreds of thousands of levels deep (json-glib 1.6 overflowed the stack
 * at ~100 000), megabytes of repeated keys (json-glib was quadratic),
 * millions of values (a 10 MB header took 430 MB as a tree),
 * sparse files of 20 GiB standing for config, vocabulary and header files
 * (must be refused from their size, without reading), numbers outside the
 * float range in configs. Every refusal must name the file and the reason,
 * and come quickly. The fuzz targets' seed corpora and regression inputs
 * replay in the fuzz-replay-* tests.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "vlm-device.h"
#include "loaders/vlm-json.h"
#include "loaders/vlm-safetensors.h"
#include "models/vlm-clip.h"
#include "models/vlm-clip-encoder.h"
#include "models/vlm-git.h"
#include "text/vlm-clip-tokenizer.h"
#include "text/vlm-wordpiece.h"

/* Refusals of hostile inputs must be this quick (seconds; generous for
 * sanitizer builds and a loaded machine: the old behaviour took minutes or
 * crashed). */
#define QUICK_SECONDS 10.0

static gchar *
make_dir (void)
{
  GError *error = NULL;
  gchar *dir = g_dir_make_tmp ("vlm-hostile-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

static void
remove_dir (gchar *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *name;
  while (d && (name = g_dir_read_name (d))) {
    g_autofree gchar *p = g_build_filename (dir, name, NULL);
    g_unlink (p);
  }
  if (d)
    g_dir_close (d);
  g_rmdir (dir);
  g_free (dir);
}

static gchar *
put (const gchar *dir, const gchar *name, const gchar *data, gssize len)
{
  gchar *path = g_build_filename (dir, name, NULL);
  GError *error = NULL;
  g_assert_true (g_file_set_contents (path, data, len, &error));
  return path;
}

/* A sparse file of @size bytes (no disk space used). */
static gchar *
put_sparse (const gchar *dir, const gchar *name, gint64 size)
{
  gchar *path = g_build_filename (dir, name, NULL);
  int fd = g_open (path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (ftruncate (fd, size), ==, 0);
  close (fd);
  return path;
}

static void
assert_refused (GError *error, const gchar *file, const gchar *reason)
{
  g_assert_nonnull (error);
  g_assert_true (error->domain == VLM_ERROR);
  if (!strstr (error->message, file) || !strstr (error->message, reason))
    g_error ("expected an error naming %s and saying \"%s\", got: %s", file, reason,
             error->message);
}

/* {"a": [{"a": [{"a": … nested @depth levels deep. */
static gchar *
deep_json (gint depth)
{
  GString *s = g_string_new (NULL);
  for (gint i = 0; i < depth; i++)
    g_string_append (s, i % 2 ? "[" : "{\"a\":");
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------------ */
/* JSON */

static void
test_json_depth (void)
{
  GError *error = NULL;
  /* The most that is accepted, and one more. */
  GString *ok = g_string_new (NULL);
  for (gint i = 0; i < VLM_JSON_MAX_DEPTH; i++)
    g_string_append_c (ok, '[');
  for (gint i = 0; i < VLM_JSON_MAX_DEPTH; i++)
    g_string_append_c (ok, ']');
  JsonNode *node = vlm_json_parse (ok->str, ok->len, &error);
  g_assert_no_error (error);
  json_node_unref (node);
  g_string_prepend_c (ok, '[');
  g_string_append_c (ok, ']');
  g_assert_null (vlm_json_parse (ok->str, ok->len, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "nested deeper than 64 levels"));
  g_assert_nonnull (strstr (error->message, "line 1, column 65"));
  g_clear_error (&error);
  g_string_free (ok, TRUE);

  /* 1 000 000 levels: json-glib 1.6 overflowed the stack at ~100 000. */
  g_autofree gchar *bomb = deep_json (1000000);
  g_assert_null (vlm_json_parse (bomb, strlen (bomb), &error));
  g_assert_nonnull (strstr (error->message, "nested deeper"));
  g_clear_error (&error);

  /* Every JSON file the engine reads goes through the same parser. */
  gchar *dir = make_dir ();
  g_autofree gchar *config = put (dir, "config.json", bomb, -1);
  VlmClipConfig clip;
  g_assert_false (vlm_clip_config_load (dir, &clip, &error));
  assert_refused (error, config, "nested deeper");
  g_clear_error (&error);
  VlmGitConfig git;
  g_assert_false (vlm_git_config_load (dir, &git, &error));
  assert_refused (error, config, "nested deeper");
  g_clear_error (&error);

  g_autofree gchar *pre = put (dir, "preprocessor_config.json", bomb, -1);
  VlmImageParams image;
  g_assert_false (vlm_image_config_load (dir, 224, &image, &error));
  assert_refused (error, pre, "nested deeper");
  g_clear_error (&error);

  g_autofree gchar *vocab_json = put (dir, "vocab.json", bomb, -1);
  g_autofree gchar *merges = put (dir, "merges.txt", "#version: 0.2\n", -1);
  g_assert_null (vlm_clip_tokenizer_new_from_dir (dir, &error));
  assert_refused (error, vocab_json, "nested deeper");
  g_clear_error (&error);

  g_autofree gchar *vocab_txt = put (dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n", -1);
  g_autofree gchar *tok_config = put (dir, "tokenizer_config.json", bomb, -1);
  g_assert_null (vlm_wordpiece_new_from_dir (dir, &error));
  assert_refused (error, tok_config, "nested deeper");
  g_clear_error (&error);
  g_unlink (tok_config);
  g_autofree gchar *map = put (dir, "special_tokens_map.json", bomb, -1);
  g_assert_null (vlm_wordpiece_new_from_dir (dir, &error));
  assert_refused (error, map, "nested deeper");
  g_clear_error (&error);

  /* The safetensors header. */
  gsize hlen = strlen (bomb);
  gchar *file = g_malloc (8 + hlen);
  for (gint i = 0; i < 8; i++)
    file[i] = (gchar) ((guint64) hlen >> (8 * i));
  memcpy (file + 8, bomb, hlen);
  g_autofree gchar *st_path = put (dir, "model.safetensors", file, (gssize) (8 + hlen));
  g_free (file);
  g_assert_null (vlm_safetensors_open (st_path, &error));
  assert_refused (error, st_path, "nested deeper");
  g_clear_error (&error);
  remove_dir (dir);
}

static void
test_json_repeated_keys (void)
{
  /* 200 000 keys, then the last one 200 000 times again: json-glib took
   * minutes (a linear search per repeat); refused at the first repeat. */
  const gint n = 200000;
  GString *s = g_string_new ("{");
  for (gint i = 0; i < n; i++)
    g_string_append_printf (s, "\"k%d\": %d, ", i, i);
  GString *distinct = g_string_new (s->str);
  for (gint i = 0; i < n; i++)
    g_string_append_printf (s, "\"k%d\": 0, ", n - 1);
  g_string_append (s, "\"end\": 0}");
  g_string_append (distinct, "\"end\": 0}");

  GError *error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  g_assert_null (vlm_json_parse (s->str, s->len, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "the key \"k199999\" is repeated"));
  g_clear_error (&error);

  /* The same number of distinct keys parses, in linear time. */
  JsonNode *node = vlm_json_parse (distinct->str, distinct->len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_object_get_size (json_node_get_object (node)), ==, n + 1);
  json_node_unref (node);
  gdouble seconds = (g_get_monotonic_time () - t0) / 1e6;
  g_test_message ("repeated keys refused and %d keys parsed in %.2f s", n, seconds);
  g_assert_cmpfloat (seconds, <, QUICK_SECONDS);
  g_string_free (s, TRUE);
  g_string_free (distinct, TRUE);

  /* In a safetensors header too (the reference refuses repeats as well). */
  static const gchar header[] =
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
      "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}";
  gsize hlen = strlen (header);
  gchar file[8 + sizeof header + 2];
  for (gint i = 0; i < 8; i++)
    file[i] = (gchar) ((guint64) hlen >> (8 * i));
  memcpy (file + 8, header, hlen);
  file[8 + hlen] = file[8 + hlen + 1] = 1;
  gchar *dir = make_dir ();
  g_autofree gchar *path = put (dir, "model.safetensors", file, (gssize) (8 + hlen + 2));
  g_assert_null (vlm_safetensors_open (path, &error));
  assert_refused (error, path, "\"a\" is repeated");
  g_clear_error (&error);
  remove_dir (dir);
}

static void
test_json_values (void)
{
  /* An array holding VLM_JSON_MAX_VALUES - 1 zeros is the most accepted. */
  GString *s = g_string_new ("[");
  for (guint i = 0; i + 1 < VLM_JSON_MAX_VALUES; i++)
    g_string_append (s, i ? ",0" : "0");
  g_string_append_c (s, ']');
  GError *error = NULL;
  JsonNode *node = vlm_json_parse (s->str, s->len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (node)), ==,
                    VLM_JSON_MAX_VALUES - 1);
  json_node_unref (node);
  g_string_insert (s, 1, "0,");
  g_assert_null (vlm_json_parse (s->str, s->len, &error));
  g_assert_nonnull (strstr (error->message, "more than 1048576 values"));
  g_clear_error (&error);
  g_string_free (s, TRUE);

  /* A 10 MB safetensors header of zeros (5 million values) was a 430 MB
   * tree; now refused when the cap is reached. */
  GString *h = g_string_new ("{\"a\":[");
  for (gint i = 0; i < 5000000; i++)
    g_string_append (h, i ? ",0" : "0");
  g_string_append (h, "]}");
  gchar *dir = make_dir ();
  g_autofree gchar *path = g_build_filename (dir, "model.safetensors", NULL);
  GString *file = g_string_new (NULL);
  for (gint i = 0; i < 8; i++)
    g_string_append_c (file, (gchar) ((guint64) h->len >> (8 * i)));
  g_string_append_len (file, h->str, h->len);
  g_assert_true (g_file_set_contents (path, file->str, file->len, NULL));
  g_assert_null (vlm_safetensors_open (path, &error));
  assert_refused (error, path, "more than 1048576 values");
  g_clear_error (&error);
  g_string_free (h, TRUE);
  g_string_free (file, TRUE);
  remove_dir (dir);
}

static void
test_json_strict (void)
{
  /* What json-glib took and JSON is not; and the edges of what JSON is. */
  static const struct {
    const gchar *text;
    const gchar *reason;      /* NULL: accepted */
  } cases[] = {
    { "{\"a\": /* c */ 1}", "not a value" },
    { "{'a': 1}", "expected a string key" },
    { "{\"a\": 'b'}", "not a value" },
    { "[1, 2,]", "not a value" },
    { "{\"a\": 1,}", "expected a string key" },
    { "[0x10]", "expected ','" },
    { "[010]", "expected ','" },
    { "[.5]", "not a value" },
    { "[1.]", "decimal point" },
    { "[1e]", "exponent" },
    { "[NaN]", "not a value" },
    { "[Infinity]", "not a value" },
    { "[tru]", "not a value" },
    { "[\"\\ud800\"]", "surrogate" },
    { "[\"\\udc00\"]", "surrogate" },
    { "[\"a\\u0000b\"]", "\\u0000" },
    { "[\"tab\there\"]", "control character" },
    { "[\"\\x41\"]", "unknown escape" },
    { "[\"\\u12\"]", "four hex digits" },
    { "[\"open", "unterminated string" },
    { "{\"a\" 1}", "expected ':'" },
    { "{} []", "after the value" },
    { "", "expected a value" },
    { "   ", "expected a value" },
    { "\xef\xbb\xbf{}", NULL },
    { "[\"\\ud83d\\ude00\", \"\xf0\x9f\x98\x80\", -0, 1E+2, 9223372036854775808]", NULL },
    { " \t\r\n{\"\": null} \n", NULL },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    GError *error = NULL;
    JsonNode *node = vlm_json_parse (cases[i].text, strlen (cases[i].text), &error);
    if (!cases[i].reason) {
      g_assert_no_error (error);
      g_assert_nonnull (node);
      json_node_unref (node);
      continue;
    }
    g_assert_null (node);
    g_assert_error (error, VLM_ERROR, VLM_ERROR_FORMAT);
    if (!strstr (error->message, cases[i].reason) || !g_str_has_prefix (error->message, "line "))
      g_error ("%s: expected \"%s\", got \"%s\"", cases[i].text, cases[i].reason,
               error->message);
    g_clear_error (&error);
  }

  /* Integers that fit are G_TYPE_INT64, longer ones doubles (which the
   * typed readers then refuse as integers). */
  static const gchar nums[] = "[9223372036854775807, -9223372036854775808, "
      "9223372036854775808, 1.0]";
  GError *error = NULL;
  g_autoptr (JsonNode) node = vlm_json_parse (nums, strlen (nums), &error);
  g_assert_no_error (error);
  JsonArray *a = json_node_get_array (node);
  g_assert_cmpint (json_node_get_value_type (json_array_get_element (a, 0)), ==, G_TYPE_INT64);
  g_assert_cmpint (json_array_get_int_element (a, 0), ==, G_MAXINT64);
  g_assert_cmpint (json_array_get_int_element (a, 1), ==, G_MININT64);
  g_assert_cmpint (json_node_get_value_type (json_array_get_element (a, 2)), ==, G_TYPE_DOUBLE);
  g_assert_cmpint (json_node_get_value_type (json_array_get_element (a, 3)), ==, G_TYPE_DOUBLE);
}

/* ------------------------------------------------------------------------ */
/* File sizes */

static void
test_huge_files (void)
{
  const gint64 huge = G_GINT64_CONSTANT (20) << 30;     /* 20 GiB, sparse */
  gchar *dir = make_dir ();
  GError *error = NULL;
  gint64 t0 = g_get_monotonic_time ();

  g_autofree gchar *config = put_sparse (dir, "config.json", huge);
  VlmClipConfig clip;
  g_assert_false (vlm_clip_config_load (dir, &clip, &error));
  assert_refused (error, config, "too large");
  g_clear_error (&error);
  g_unlink (config);

  g_autofree gchar *pre = put_sparse (dir, "preprocessor_config.json", huge);
  VlmImageParams image;
  g_assert_false (vlm_image_config_load (dir, 224, &image, &error));
  assert_refused (error, pre, "too large");
  g_clear_error (&error);

  g_autofree gchar *vocab_json = put_sparse (dir, "vocab.json", huge);
  g_autofree gchar *merges = put (dir, "merges.txt", "#version: 0.2\n", -1);
  g_assert_null (vlm_clip_tokenizer_new_from_dir (dir, &error));
  assert_refused (error, vocab_json, "too large");
  g_clear_error (&error);
  g_unlink (vocab_json);
  g_autofree gchar *vocab_small = put (dir, "vocab.json", "{}", -1);
  g_unlink (merges);
  g_free (put_sparse (dir, "merges.txt", huge));
  g_assert_null (vlm_clip_tokenizer_new_from_dir (dir, &error));
  assert_refused (error, merges, "too large");
  g_clear_error (&error);

  g_autofree gchar *vocab_txt = put_sparse (dir, "vocab.txt", huge);
  g_assert_null (vlm_wordpiece_new_from_dir (dir, &error));
  assert_refused (error, vocab_txt, "too large");
  g_clear_error (&error);
  g_assert_null (vlm_wordpiece_new_from_file (vocab_txt, &error));
  assert_refused (error, vocab_txt, "too large");
  g_clear_error (&error);
  g_autofree gchar *tok_config = put_sparse (dir, "tokenizer_config.json", huge);
  g_assert_null (vlm_wordpiece_new_from_dir (dir, &error));
  assert_refused (error, tok_config, "too large");
  g_clear_error (&error);

  /* A folder where a file should be is a read error naming it. */
  g_unlink (tok_config);
  g_assert_cmpint (g_mkdir (tok_config, 0755), ==, 0);
  g_assert_null (vlm_wordpiece_new_from_dir (dir, &error));
  assert_refused (error, tok_config, "cannot read");
  g_clear_error (&error);
  g_rmdir (tok_config);

  /* A safetensors file whose header claims the whole 20 GiB: refused by
   * the 100 MiB header limit before anything is parsed. */
  g_autofree gchar *st = put_sparse (dir, "model.safetensors", huge);
  int fd = g_open (st, O_WRONLY, 0);
  guint8 len[8] = { 0, 0, 0, 0, 0x05, 0, 0, 0 };        /* 20 GiB */
  g_assert_cmpint (write (fd, len, 8), ==, 8);
  close (fd);
  g_assert_null (vlm_safetensors_open (st, &error));
  assert_refused (error, st, "header length");
  g_clear_error (&error);

  gdouble seconds = (g_get_monotonic_time () - t0) / 1e6;
  g_test_message ("eight 20 GiB files refused in %.3f s", seconds);
  g_assert_cmpfloat (seconds, <, QUICK_SECONDS);
  remove_dir (dir);
}

/* ------------------------------------------------------------------------ */
/* Numbers outside the float range in configs */

static void
test_config_float_range (void)
{
  static const struct {
    const gchar *config;
    const gchar *preprocessor;
    const gchar *reason;
  } cases[] = {
    { "{\"text_config\": {}, \"vision_config\": {\"layer_norm_eps\": 1e300}}", NULL,
      "layer_norm_eps 1e+300 is outside 0..1" },
    { "{\"text_config\": {\"layer_norm_eps\": -1e-5}, \"vision_config\": {}}", NULL,
      "layer_norm_eps -1e-05 is outside 0..1" },
    { "{\"text_config\": {}, \"vision_config\": {}}",
      "{\"image_std\": [1e-300, 1, 1]}", "image_std 1e-300 is not in 1e-30..1e30" },
    { "{\"text_config\": {}, \"vision_config\": {}}",
      "{\"image_std\": [1, 1e300, 1]}", "image_std 1e+300 is not in" },
    { "{\"text_config\": {}, \"vision_config\": {}}",
      "{\"image_mean\": [0, 0, -1e300]}", "image_mean -1e+300 is not in" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    gchar *dir = make_dir ();
    g_autofree gchar *config = put (dir, "config.json", cases[i].config, -1);
    g_autofree gchar *pre = cases[i].preprocessor
        ? put (dir, "preprocessor_config.json", cases[i].preprocessor, -1) : NULL;
    VlmClipConfig clip;
    GError *error = NULL;
    g_assert_false (vlm_clip_config_load (dir, &clip, &error));
    assert_refused (error, pre ? pre : config, cases[i].reason);
    g_clear_error (&error);
    remove_dir (dir);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/hostile/json/depth", test_json_depth);
  g_test_add_func ("/hostile/json/repeated-keys", test_json_repeated_keys);
  g_test_add_func ("/hostile/json/values", test_json_values);
  g_test_add_func ("/hostile/json/strict", test_json_strict);
  g_test_add_func ("/hostile/files/huge", test_huge_files);
  g_test_add_func ("/hostile/config/float-range", test_config_float_range);
  return g_test_run ();
}
