/* gst-vlm — tests of the metadata library (gstvlmmeta-0.1), no model needed.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/check/gstcheck.h>
#include <math.h>
#include <string.h>

#include "vlm-meta.h"

static const gfloat vec[4] = { 0.5f, -0.5f, 0.5f, 0.5f };
static const gchar *labels[3] = { "cat", "dog", "a car, red" };
static const gfloat scores[3] = { 0.2f, 0.7f, 0.1f };
static const gboolean present[3] = { FALSE, TRUE, FALSE };

static GstBuffer *
annotated_buffer (void)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, 64, NULL);
  GST_BUFFER_PTS (buf) = 42 * GST_MSECOND;
  fail_unless (gst_buffer_add_vlm_embedding_meta (buf, "/models/a", "embed0", vec, 4));
  fail_unless (gst_buffer_add_vlm_match_meta (buf, "/models/a", "match0",
      GST_VLM_MATCH_MODE_DETECT, "a photo of {}", labels, scores, present, 3));
  return buf;
}

static void
check_annotations (GstBuffer *buf)
{
  GstCustomMeta *e = gst_buffer_get_vlm_embedding_meta (buf, NULL);
  fail_unless (e != NULL);
  fail_unless_equals_string (gst_vlm_embedding_meta_get_model_id (e), "/models/a");
  guint dim = 0;
  const gfloat *v = gst_vlm_embedding_meta_get_vector (e, &dim);
  fail_unless_equals_int (dim, 4);
  fail_unless (memcmp (v, vec, sizeof vec) == 0);

  GstCustomMeta *m = gst_buffer_get_vlm_match_meta (buf, "/models/a");
  fail_unless (m != NULL);
  fail_unless_equals_int (gst_vlm_match_meta_get_mode (m), GST_VLM_MATCH_MODE_DETECT);
  fail_unless_equals_int (gst_vlm_match_meta_get_n_labels (m), 3);
  for (guint i = 0; i < 3; i++) {
    fail_unless_equals_string (gst_vlm_match_meta_get_label (m, i), labels[i]);
    fail_unless_equals_int (gst_vlm_match_meta_get_present (m, i), present[i]);
  }
  fail_unless (gst_vlm_match_meta_get_label (m, 3) == NULL);
  fail_if (gst_vlm_match_meta_get_present (m, 7));
  guint n = 0;
  const gfloat *s = gst_vlm_match_meta_get_scores (m, &n);
  fail_unless_equals_int (n, 3);
  fail_unless (memcmp (s, scores, sizeof scores) == 0);
  const gchar *best;
  gfloat best_score;
  fail_unless_equals_int (gst_vlm_match_meta_get_best (m, &best, &best_score), 1);
  fail_unless_equals_string (best, "dog");
  fail_unless_equals_float (best_score, 0.7f);
  fail_unless_equals_string (gst_structure_get_string (gst_custom_meta_get_structure (m),
                                                       "template"), "a photo of {}");
}

GST_START_TEST (test_add_get)
{
  GstBuffer *buf = annotated_buffer ();
  check_annotations (buf);
  /* model filtering */
  fail_unless (gst_buffer_get_vlm_embedding_meta (buf, "/models/b") == NULL);
  fail_unless (gst_buffer_get_vlm_match_meta (buf, "/models/b") == NULL);
  /* the names Python and other languages use */
  fail_unless (gst_buffer_get_custom_meta (buf, "VlmEmbeddingMeta") != NULL);
  fail_unless (gst_buffer_get_custom_meta (buf, "VlmMatchMeta") != NULL);
  GstStructure *s = gst_custom_meta_get_structure (gst_buffer_get_custom_meta (buf,
                                                   "VlmEmbeddingMeta"));
  fail_unless (gst_structure_has_name (s, "VlmEmbeddingMeta"));
  fail_unless (G_VALUE_HOLDS (gst_structure_get_value (s, "vector"), G_TYPE_BYTES));
  fail_unless_equals_string (gst_structure_get_string (s, "element"), "embed0");

  /* a second model's embedding on the same buffer */
  const gfloat other[2] = { 1.0f, 0.0f };
  fail_unless (gst_buffer_add_vlm_embedding_meta (buf, "/models/b", NULL, other, 2));
  guint dim = 0;
  gst_vlm_embedding_meta_get_vector (gst_buffer_get_vlm_embedding_meta (buf, "/models/b"), &dim);
  fail_unless_equals_int (dim, 2);
  gst_vlm_embedding_meta_get_vector (gst_buffer_get_vlm_embedding_meta (buf, "/models/a"), &dim);
  fail_unless_equals_int (dim, 4);

  gpointer state = NULL;
  GstMeta *meta;
  guint n_vlm = 0;
  while ((meta = gst_buffer_iterate_meta (buf, &state)))
    n_vlm += gst_vlm_meta_is_vlm (meta);
  fail_unless_equals_int (n_vlm, 3);
  gst_buffer_unref (buf);
}
GST_END_TEST;

GST_START_TEST (test_copies)
{
  GstBuffer *buf = annotated_buffer ();
  GstBuffer *copy = gst_buffer_copy (buf);
  gst_buffer_unref (buf);
  check_annotations (copy);
  GstBuffer *deep = gst_buffer_copy_deep (copy);
  check_annotations (deep);
  GstBuffer *region = gst_buffer_copy_region (deep, GST_BUFFER_COPY_ALL, 8, 16);
  check_annotations (region);
  /* writing to the copy leaves the original alone */
  GstStructure *s = gst_custom_meta_get_structure (gst_buffer_get_vlm_match_meta (region, NULL));
  gst_structure_set (s, "best-label", G_TYPE_STRING, "changed", NULL);
  check_annotations (deep);
  gst_buffer_unref (copy);
  gst_buffer_unref (deep);
  gst_buffer_unref (region);
}
GST_END_TEST;

GST_START_TEST (test_classify_meta)
{
  GstBuffer *buf = gst_buffer_new ();
  const gchar *one[1] = { "only" };
  const gfloat p[1] = { 1.0f };
  GstCustomMeta *m = gst_buffer_add_vlm_match_meta (buf, "/m", NULL,
                                                    GST_VLM_MATCH_MODE_CLASSIFY, NULL, one, p,
                                                    NULL, 1);
  fail_unless (m != NULL);
  fail_unless_equals_int (gst_vlm_match_meta_get_mode (m), GST_VLM_MATCH_MODE_CLASSIFY);
  fail_if (gst_vlm_match_meta_get_present (m, 0));
  fail_unless_equals_string (gst_structure_get_string (gst_custom_meta_get_structure (m),
                                                       "template"), "{}");
  fail_unless_equals_string (gst_vlm_match_mode_to_string (GST_VLM_MATCH_MODE_CLASSIFY),
                             "classify");
  GEnumClass *klass = g_type_class_ref (GST_TYPE_VLM_MATCH_MODE);
  fail_unless_equals_int (g_enum_get_value_by_nick (klass, "detect")->value,
                          GST_VLM_MATCH_MODE_DETECT);
  g_type_class_unref (klass);
  gst_buffer_unref (buf);
}
GST_END_TEST;

GST_START_TEST (test_bad_arguments)
{
  GstBuffer *buf = gst_buffer_new ();
  ASSERT_CRITICAL (fail_unless (gst_buffer_add_vlm_embedding_meta (buf, "/m", NULL, NULL,
                                                                   4) == NULL));
  ASSERT_CRITICAL (fail_unless (gst_buffer_add_vlm_embedding_meta (buf, "/m", NULL, vec,
                                                                   0) == NULL));
  ASSERT_CRITICAL (fail_unless (gst_buffer_add_vlm_embedding_meta (buf, NULL, NULL, vec,
                                                                   4) == NULL));
  ASSERT_CRITICAL (fail_unless (gst_buffer_add_vlm_match_meta (buf, "/m", NULL,
      GST_VLM_MATCH_MODE_CLASSIFY, NULL, labels, scores, NULL, 0) == NULL));
  const gchar *holes[2] = { "a", NULL };
  ASSERT_CRITICAL (fail_unless (gst_buffer_add_vlm_match_meta (buf, "/m", NULL,
      GST_VLM_MATCH_MODE_CLASSIFY, NULL, holes, scores, NULL, 2) == NULL));
  /* not writable */
  gst_buffer_ref (buf);
  ASSERT_CRITICAL (fail_unless (gst_buffer_add_vlm_embedding_meta (buf, "/m", NULL, vec,
                                                                   4) == NULL));
  gst_buffer_unref (buf);
  fail_unless (gst_buffer_get_vlm_embedding_meta (buf, NULL) == NULL);

  /* accessors on the wrong kind of meta, or on none */
  fail_unless (gst_buffer_add_vlm_embedding_meta (buf, "/m", NULL, vec, 4));
  GstCustomMeta *e = gst_buffer_get_vlm_embedding_meta (buf, NULL);
  fail_unless_equals_int (gst_vlm_match_meta_get_n_labels (e), 0);
  fail_unless (gst_vlm_match_meta_get_scores (e, NULL) == NULL);
  fail_unless_equals_int (gst_vlm_match_meta_get_best (e, NULL, NULL), -1);
  fail_unless (gst_vlm_match_meta_get_model_id (e) == NULL);
  fail_unless (gst_vlm_embedding_meta_get_vector (NULL, NULL) == NULL);
  fail_unless (gst_vlm_embedding_meta_get_model_id (NULL) == NULL);
  fail_if (gst_vlm_meta_is_vlm (NULL));
  gst_buffer_unref (buf);
}
GST_END_TEST;

static Suite *
vlmmeta_suite (void)
{
  Suite *s = suite_create ("vlmmeta");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_add_get);
  tcase_add_test (tc, test_copies);
  tcase_add_test (tc, test_classify_meta);
  tcase_add_test (tc, test_bad_arguments);
  return s;
}

GST_CHECK_MAIN (vlmmeta);
