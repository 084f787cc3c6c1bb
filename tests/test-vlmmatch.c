/* gst-vlm — vlmmatch: embedding reuse, classify and detect, label changes.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Environment: VLM_TEST_MODEL (a tiny CLIP checkpoint), GST_PLUGIN_PATH (the
 * build folder holding libgstvlm.so). With random weights the scores mean
 * nothing: detect mode is driven with embedding metas the test builds to
 * have chosen cosines with a label's prompt.
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vlm-meta.h"
#include "models/vlm-clip.h"

static const gchar *model_dir;
static gchar *model_id;
static VlmClipModel *clip;   /* the test's own instance (CPU) */
static gint dim;

#define SMALL_CAPS "video/x-raw,format=RGB,width=16,height=16,framerate=30/1"

static void
setup (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VlmDevice) dev = vlm_device_open ("cpu", &error);
  fail_unless (dev != NULL, "%s", error ? error->message : "");
  clip = vlm_clip_model_load (model_dir, dev, VLM_DTYPE_F32, &error);
  fail_unless (clip != NULL, "%s", error ? error->message : "");
  dim = vlm_clip_model_get_config (clip)->projection_dim;
}

static void
teardown (void)
{
  g_clear_pointer (&clip, vlm_clip_model_free);
}

static guint64
stats_u64 (GstHarness *h, const gchar *name, const gchar *field)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (h->element), name);
  fail_unless (e != NULL, "no element %s", name);
  GstStructure *s = NULL;
  g_object_get (e, "stats", &s, NULL);
  guint64 v = 0;
  fail_unless (gst_structure_get_uint64 (s, field, &v));
  gst_structure_free (s);
  gst_object_unref (e);
  return v;
}

static GstHarness *
harness (const gchar *launch_fmt, ...)
{
  va_list ap;
  va_start (ap, launch_fmt);
  g_autofree gchar *launch = g_strdup_vprintf (launch_fmt, ap);
  va_end (ap);
  GstHarness *h = gst_harness_new_parse (launch);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  gst_object_unref (bus);
  return h;
}

static void
harness_done (GstHarness *h)
{
  gst_element_set_bus (h->element, NULL);
  gst_harness_teardown (h);
}

static GstBus *
harness_bus (GstHarness *h)
{
  return GST_ELEMENT_BUS (h->element);
}

/* A small RGB frame, optionally carrying an embedding meta. */
static GstBuffer *
frame (guint index, const gfloat *embedding, const gchar *id)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, 16 * 16 * 3, NULL);
  gst_buffer_memset (b, 0, (guint8) (index * 37), 16 * 16 * 3);
  GST_BUFFER_PTS (b) = index * GST_SECOND / 30;
  GST_BUFFER_DURATION (b) = GST_SECOND / 30;
  if (embedding)
    gst_buffer_add_vlm_embedding_meta (b, id ? id : model_id, "test", embedding, (guint) dim);
  return b;
}

static void
text_embeddings (const gchar *const *prompts, gint n, gfloat *out)
{
  g_autoptr (GError) error = NULL;
  fail_unless (vlm_clip_encode_texts (clip, prompts, n, out, &error), "%s",
               error ? error->message : "");
}

/* A unit vector with cosine @c to the unit vector @t. */
static void
vector_with_cosine (const gfloat *t, gdouble c, gfloat *out)
{
  gdouble u[512], dot = 0, n = 0;
  g_assert (dim <= 512);
  for (gint i = 0; i < dim; i++)
    u[i] = sin (1.7 * i + 0.3);
  for (gint i = 0; i < dim; i++)
    dot += u[i] * t[i];
  for (gint i = 0; i < dim; i++) {
    u[i] -= dot * t[i];
    n += u[i] * u[i];
  }
  for (gint i = 0; i < dim; i++)
    out[i] = (gfloat) (c * t[i] + sqrt (1 - c * c) * u[i] / sqrt (n));
}

static gchar *
labels_of (GstBuffer *b)
{
  GstCustomMeta *m = gst_buffer_get_vlm_match_meta (b, model_id);
  if (!m)
    return NULL;
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < gst_vlm_match_meta_get_n_labels (m); i++)
    g_string_append_printf (s, "%s%s", i ? "|" : "", gst_vlm_match_meta_get_label (m, i));
  return g_string_free (s, FALSE);
}

static gchar *
push_and_get_labels (GstHarness *h, guint index)
{
  fail_unless_equals_int (gst_harness_push (h, frame (index, NULL, NULL)), GST_FLOW_OK);
  GstBuffer *b = gst_harness_pull (h);
  gchar *labels = labels_of (b);
  gst_buffer_unref (b);
  return labels;
}

/* ------------------------------------------------------------------------ */

/* Behind vlmembed the frame is encoded once (by vlmembed); alone, vlmmatch
 * encodes it; an embedding of another model is not reused. */
GST_START_TEST (test_reuse)
{
  GstHarness *h = harness ("vlmembed name=e model=\"%s\" ! vlmmatch name=m model=\"%s\" "
                           "labels=\"red,green,blue\"", model_dir, model_dir);
  gst_harness_add_src_parse (h, "videotestsrc ! capsfilter "
                             "caps=video/x-raw,format=NV12,width=64,height=48", FALSE);
  for (gint i = 0; i < 5; i++) {
    fail_unless_equals_int (gst_harness_push_from_src (h), GST_FLOW_OK);
    GstBuffer *b = gst_harness_pull (h);
    fail_unless (gst_buffer_get_vlm_match_meta (b, model_id) != NULL);
    /* one embedding only: vlmmatch did not add its own */
    GstCustomMeta *e = gst_buffer_get_vlm_embedding_meta (b, model_id);
    fail_unless_equals_string (gst_structure_get_string (gst_custom_meta_get_structure (e),
                                                         "element"), "e");
    gpointer state = NULL;
    guint n = 0;
    while (gst_buffer_iterate_meta_filtered (b, &state, gst_vlm_embedding_meta_get_info ()->api))
      n++;
    fail_unless_equals_int (n, 1);
    gst_buffer_unref (b);
  }
  fail_unless_equals_int (stats_u64 (h, "e", "image-encodes"), 5);
  fail_unless_equals_int (stats_u64 (h, "m", "image-encodes"), 0);
  fail_unless_equals_int (stats_u64 (h, "m", "text-encodes"), 3);
  fail_unless_equals_int (stats_u64 (h, "m", "frames-processed"), 5);
  GstMessage *msg;
  guint matches = 0;
  while ((msg = gst_bus_pop_filtered (harness_bus (h), GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, "vlm-match")) {
      gboolean reused = FALSE;
      fail_unless (gst_structure_get_boolean (s, "reused-embedding", &reused) && reused);
      matches++;
    }
    gst_message_unref (msg);
  }
  fail_unless_equals_int (matches, 5);
  harness_done (h);

  /* alone */
  h = harness ("vlmmatch name=m model=\"%s\" labels=\"red,green,blue\"", model_dir);
  gst_harness_set_src_caps_str (h, SMALL_CAPS);
  for (guint i = 0; i < 4; i++) {
    fail_unless_equals_int (gst_harness_push (h, frame (i, NULL, NULL)), GST_FLOW_OK);
    GstBuffer *b = gst_harness_pull (h);
    GstCustomMeta *e = gst_buffer_get_vlm_embedding_meta (b, model_id);
    fail_unless (e != NULL);   /* attached for elements further down */
    fail_unless_equals_string (gst_structure_get_string (gst_custom_meta_get_structure (e),
                                                         "element"), "m");
    gst_buffer_unref (b);
  }
  fail_unless_equals_int (stats_u64 (h, "m", "image-encodes"), 4);

  /* another model's embedding (or a wrong size) is not reused */
  g_autofree gfloat *v = g_new0 (gfloat, dim);
  v[0] = 1.0f;
  fail_unless_equals_int (gst_harness_push (h, frame (9, v, "/some/other/model")), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));
  fail_unless_equals_int (stats_u64 (h, "m", "image-encodes"), 5);
  GstBuffer *b = frame (10, NULL, NULL);
  gst_buffer_add_vlm_embedding_meta (b, model_id, "test", v, 1);
  fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));
  fail_unless_equals_int (stats_u64 (h, "m", "image-encodes"), 6);
  /* the right model: reused */
  fail_unless_equals_int (gst_harness_push (h, frame (11, v, NULL)), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));
  fail_unless_equals_int (stats_u64 (h, "m", "image-encodes"), 6);
  fail_unless_equals_int (stats_u64 (h, "m", "text-encodes"), 3);
  harness_done (h);
}
GST_END_TEST;

/* classify: the meta holds the engine's softmax of the prompts (template
 * applied) against the frame's embedding. */
GST_START_TEST (test_classify)
{
  GstHarness *h = harness ("vlmembed model=\"%s\" ! vlmmatch model=\"%s\" device=cpu "
                           "labels=\" red , green,blue,, \" template=\"a {} photo, {}\"",
                           model_dir, model_dir);
  gst_harness_add_src_parse (h, "videotestsrc pattern=ball ! "
                             "capsfilter caps=video/x-raw,format=BGRx,width=80,height=60", FALSE);
  const gchar *prompts[3] = { "a red photo, red", "a green photo, green",
                              "a blue photo, blue" };
  const gchar *names[3] = { "red", "green", "blue" };
  g_autofree gfloat *text = g_new0 (gfloat, 3 * dim);
  text_embeddings (prompts, 3, text);
  for (gint i = 0; i < 4; i++) {
    fail_unless_equals_int (gst_harness_push_from_src (h), GST_FLOW_OK);
    GstBuffer *b = gst_harness_pull (h);
    guint d = 0, n = 0;
    const gfloat *e = gst_vlm_embedding_meta_get_vector (gst_buffer_get_vlm_embedding_meta (b,
                                                         model_id), &d);
    fail_unless_equals_int (d, dim);
    gfloat probs[3];
    vlm_clip_scores (clip, e, 1, text, 3, NULL, probs);
    GstCustomMeta *m = gst_buffer_get_vlm_match_meta (b, model_id);
    fail_unless (m != NULL);
    fail_unless_equals_int (gst_vlm_match_meta_get_mode (m), GST_VLM_MATCH_MODE_CLASSIFY);
    const gfloat *scores = gst_vlm_match_meta_get_scores (m, &n);
    fail_unless_equals_int (n, 3);
    gdouble sum = 0;
    gint best = 0;
    for (gint k = 0; k < 3; k++) {
      fail_unless_equals_string (gst_vlm_match_meta_get_label (m, k), names[k]);
      fail_unless (fabs (scores[k] - probs[k]) < 1e-4, "label %d: %f vs engine %f", k,
                   scores[k], probs[k]);
      sum += scores[k];
      if (scores[k] > scores[best])
        best = k;
    }
    fail_unless (fabs (sum - 1.0) < 1e-5);
    const gchar *label;
    gfloat score;
    fail_unless_equals_int (gst_vlm_match_meta_get_best (m, &label, &score), best);
    fail_unless_equals_string (label, names[best]);
    fail_unless_equals_float (score, scores[best]);
    fail_unless_equals_string (gst_structure_get_string (gst_custom_meta_get_structure (m),
                                                         "template"), "a {} photo, {}");
    gst_buffer_unref (b);
  }
  /* messages: labels, scores, best */
  GstMessage *msg;
  guint n = 0;
  while ((msg = gst_bus_pop_filtered (harness_bus (h), GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, "vlm-match")) {
      const GValue *labels = gst_structure_get_value (s, "labels");
      const GValue *scores = gst_structure_get_value (s, "scores");
      fail_unless (labels && GST_VALUE_HOLDS_ARRAY (labels));
      fail_unless (scores && GST_VALUE_HOLDS_ARRAY (scores));
      fail_unless_equals_int (gst_value_array_get_size (labels), 3);
      fail_unless_equals_int (gst_value_array_get_size (scores), 3);
      fail_unless (gst_structure_get_string (s, "best-label") != NULL);
      fail_unless_equals_string (gst_structure_get_string (s, "mode"), "classify");
      guint64 pts;
      fail_unless (gst_structure_get_uint64 (s, "pts", &pts));
      fail_unless (gst_structure_has_field (s, "running-time"));
      fail_unless (gst_structure_has_field (s, "stream-time"));
      n++;
    }
    gst_message_unref (msg);
  }
  fail_unless_equals_int (n, 4);
  harness_done (h);
}
GST_END_TEST;

typedef struct {
  guint starts, ends;
  gchar reasons[256];
} DetectLog;

static void
collect_detect (GstHarness *h, DetectLog *log)
{
  GstMessage *msg;
  while ((msg = gst_bus_pop_filtered (harness_bus (h), GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, "vlm-detect")) {
      const gchar *event = gst_structure_get_string (s, "event");
      if (g_strcmp0 (gst_structure_get_string (s, "label"), "cat") != 0) {
        gst_message_unref (msg);
        continue;
      }
      if (!g_strcmp0 (event, "start")) {
        log->starts++;
      } else {
        fail_unless_equals_string (event, "end");
        log->ends++;
        g_strlcat (log->reasons, gst_structure_get_string (s, "reason"), sizeof log->reasons);
        g_strlcat (log->reasons, " ", sizeof log->reasons);
        fail_unless (gst_structure_has_field (s, "start-pts"));
      }
    }
    gst_message_unref (msg);
  }
}

/* detect with chosen cosines: threshold 0.3, hysteresis 0.05 gives one
 * start/end per appearance; without hysteresis the dip to 0.29 splits it. */
static void
run_detect (gdouble hysteresis, DetectLog *log, gboolean eos)
{
  const gdouble cos_seq[] = { 0.1, 0.5, 0.29, 0.31, 0.45, 0.1, 0.0, 0.6, 0.27, 0.6 };
  GstHarness *h = harness ("vlmmatch name=m model=\"%s\" device=cpu mode=detect labels=cat "
                           "threshold=0.3 hysteresis=%g", model_dir, hysteresis);
  gst_harness_set_src_caps_str (h, SMALL_CAPS);
  const gchar *prompt[1] = { "cat" };
  g_autofree gfloat *t = g_new0 (gfloat, dim);
  g_autofree gfloat *v = g_new0 (gfloat, dim);
  text_embeddings (prompt, 1, t);
  for (guint i = 0; i < G_N_ELEMENTS (cos_seq); i++) {
    vector_with_cosine (t, cos_seq[i], v);
    fail_unless_equals_int (gst_harness_push (h, frame (i, v, NULL)), GST_FLOW_OK);
    GstBuffer *b = gst_harness_pull (h);
    GstCustomMeta *m = gst_buffer_get_vlm_match_meta (b, model_id);
    fail_unless (m != NULL);
    fail_unless_equals_int (gst_vlm_match_meta_get_mode (m), GST_VLM_MATCH_MODE_DETECT);
    const gfloat *scores = gst_vlm_match_meta_get_scores (m, NULL);
    fail_unless (fabs (scores[0] - cos_seq[i]) < 1e-4, "frame %u: cosine %f, built %f", i,
                 scores[0], cos_seq[i]);
    gst_buffer_unref (b);
  }
  fail_unless_equals_int (stats_u64 (h, "m", "image-encodes"), 0);
  if (eos)
    fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  collect_detect (h, log);
  harness_done (h);
}

GST_START_TEST (test_detect)
{
  DetectLog log = { 0 };
  run_detect (0.05, &log, TRUE);
  /* 0.5 starts; 0.29, 0.31, 0.45 stay; 0.1 ends; 0.6 starts; 0.27 stays;
   * EOS ends */
  fail_unless_equals_int (log.starts, 2);
  fail_unless_equals_int (log.ends, 2);
  fail_unless_equals_string (log.reasons, "below-threshold eos ");

  DetectLog flat = { 0 };
  run_detect (0.0, &flat, FALSE);
  /* 0.5 start, 0.29 end, 0.31 start, 0.1 end, 0.6 start, 0.27 end, 0.6 start */
  fail_unless_equals_int (flat.starts, 4);
  fail_unless_equals_int (flat.ends, 3);
}
GST_END_TEST;

/* detect: the meta's `present` follows the state; removing a present label
 * ends it. */
GST_START_TEST (test_detect_present)
{
  GstHarness *h = harness ("vlmmatch name=m model=\"%s\" device=cpu mode=detect "
                           "labels=\"cat, dog\" threshold=0.3", model_dir);
  gst_harness_set_src_caps_str (h, SMALL_CAPS);
  const gchar *prompts[2] = { "cat", "dog" };
  g_autofree gfloat *t = g_new0 (gfloat, 2 * dim);
  g_autofree gfloat *v = g_new0 (gfloat, dim);
  text_embeddings (prompts, 2, t);
  vector_with_cosine (t, 0.9, v);   /* cat at 0.9 */
  fail_unless_equals_int (gst_harness_push (h, frame (0, v, NULL)), GST_FLOW_OK);
  GstBuffer *b = gst_harness_pull (h);
  GstCustomMeta *m = gst_buffer_get_vlm_match_meta (b, model_id);
  fail_unless (gst_vlm_match_meta_get_present (m, 0));
  const gfloat *scores = gst_vlm_match_meta_get_scores (m, NULL);
  fail_unless_equals_int (gst_vlm_match_meta_get_present (m, 1), scores[1] >= 0.3);
  gst_buffer_unref (b);

  DetectLog log = { 0 };
  collect_detect (h, &log);
  fail_unless_equals_int (log.starts, 1);
  /* "cat" removed while present */
  GstElement *elem = gst_bin_get_by_name (GST_BIN (h->element), "m");
  g_object_set (elem, "labels", "dog", NULL);
  gst_object_unref (elem);
  fail_unless_equals_int (gst_harness_push (h, frame (1, v, NULL)), GST_FLOW_OK);
  b = gst_harness_pull (h);
  g_autofree gchar *labels = labels_of (b);
  fail_unless_equals_string (labels, "dog");
  gst_buffer_unref (b);
  GstMessage *msg;
  gboolean ended = FALSE;
  while ((msg = gst_bus_pop_filtered (harness_bus (h), GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, "vlm-detect") &&
        !g_strcmp0 (gst_structure_get_string (s, "label"), "cat")) {
      fail_unless_equals_string (gst_structure_get_string (s, "event"), "end");
      fail_unless_equals_string (gst_structure_get_string (s, "reason"), "labels-changed");
      ended = TRUE;
    }
    gst_message_unref (msg);
  }
  fail_unless (ended);
  harness_done (h);
}
GST_END_TEST;

GST_START_TEST (test_labels_property)
{
  GstHarness *h = harness ("vlmmatch name=m model=\"%s\" labels=\"a,b\"", model_dir);
  gst_harness_set_src_caps_str (h, SMALL_CAPS);
  GstElement *m = gst_bin_get_by_name (GST_BIN (h->element), "m");
  g_autofree gchar *l0 = push_and_get_labels (h, 0);
  fail_unless_equals_string (l0, "a|b");
  fail_unless_equals_int (stats_u64 (h, "m", "text-encodes"), 2);
  g_object_set (m, "labels", " c , d,e", NULL);
  g_autofree gchar *l1 = push_and_get_labels (h, 1);
  fail_unless_equals_string (l1, "c|d|e");
  fail_unless_equals_int (stats_u64 (h, "m", "text-encodes"), 5);
  /* the same labels again: no new encoding */
  g_object_set (m, "labels", "c,d,e", NULL);
  g_autofree gchar *l2 = push_and_get_labels (h, 2);
  fail_unless_equals_string (l2, "c|d|e");
  fail_unless_equals_int (stats_u64 (h, "m", "text-encodes"), 5);
  /* a new template: encoded again */
  g_object_set (m, "template", "a photo of {}", NULL);
  g_autofree gchar *l3 = push_and_get_labels (h, 3);
  fail_unless_equals_string (l3, "c|d|e");
  fail_unless_equals_int (stats_u64 (h, "m", "text-encodes"), 8);
  /* several frames: prompts are not encoded again */
  for (guint i = 4; i < 8; i++)
    g_free (push_and_get_labels (h, i));
  fail_unless_equals_int (stats_u64 (h, "m", "text-encodes"), 8);
  /* invalid templates are refused */
  ASSERT_WARNING (g_object_set (m, "template", "no placeholder", NULL));
  ASSERT_WARNING (g_object_set (m, "template", NULL, NULL));
  gchar *t = NULL;
  g_object_get (m, "template", &t, NULL);
  fail_unless_equals_string (t, "a photo of {}");
  g_free (t);
  ASSERT_WARNING (g_object_set (m, "threshold", 1.5, NULL));
  ASSERT_WARNING (g_object_set (m, "hysteresis", -0.1, NULL));
  gst_object_unref (m);
  harness_done (h);
}
GST_END_TEST;

static GstEvent *
label_event (const gchar *labels, const gchar *prompt_template, const gchar *element)
{
  GstStructure *s = gst_structure_new ("vlm-set-labels", "labels", G_TYPE_STRING, labels, NULL);
  if (prompt_template)
    gst_structure_set (s, "template", G_TYPE_STRING, prompt_template, NULL);
  if (element)
    gst_structure_set (s, "element", G_TYPE_STRING, element, NULL);
  return gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, s);
}

GST_START_TEST (test_labels_event)
{
  GstHarness *h = harness ("vlmmatch name=m model=\"%s\" labels=\"a,b\"", model_dir);
  gst_harness_set_src_caps_str (h, SMALL_CAPS);
  /* queue up: two frames, the event, one frame — the event applies from
   * the frame right after it */
  fail_unless_equals_int (gst_harness_push (h, frame (0, NULL, NULL)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, frame (1, NULL, NULL)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, label_event ("x, y", NULL, NULL)));
  fail_unless_equals_int (gst_harness_push (h, frame (2, NULL, NULL)), GST_FLOW_OK);
  const gchar *expect[3] = { "a|b", "a|b", "x|y" };
  for (guint i = 0; i < 3; i++) {
    GstBuffer *b = gst_harness_pull (h);
    g_autofree gchar *l = labels_of (b);
    fail_unless_equals_string (l, expect[i]);
    gst_buffer_unref (b);
  }
  /* the property follows */
  gchar *prop = NULL;
  GstElement *m = gst_bin_get_by_name (GST_BIN (h->element), "m");
  g_object_get (m, "labels", &prop, NULL);
  fail_unless_equals_string (prop, "x, y");
  g_free (prop);
  /* the event went on downstream */
  GstEvent *ev;
  gboolean forwarded = FALSE;
  while ((ev = gst_harness_try_pull_event (h))) {
    forwarded |= GST_EVENT_TYPE (ev) == GST_EVENT_CUSTOM_DOWNSTREAM &&
                 gst_event_has_name (ev, "vlm-set-labels");
    gst_event_unref (ev);
  }
  fail_unless (forwarded);

  /* labels as an array (items may hold commas) and a template */
  GstStructure *s = gst_structure_new_empty ("vlm-set-labels");
  GValue arr = G_VALUE_INIT, item = G_VALUE_INIT;
  g_value_init (&arr, GST_TYPE_ARRAY);
  const gchar *items[2] = { "red, dark", "blue" };
  for (guint i = 0; i < 2; i++) {
    g_value_init (&item, G_TYPE_STRING);
    g_value_set_string (&item, items[i]);
    gst_value_array_append_and_take_value (&arr, &item);
  }
  gst_structure_take_value (s, "labels", &arr);
  gst_structure_set (s, "template", G_TYPE_STRING, "{} thing", NULL);
  fail_unless (gst_harness_push_event (h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
                                                                s)));
  g_autofree gchar *l3 = push_and_get_labels (h, 3);
  fail_unless_equals_string (l3, "red, dark|blue");
  gchar *t = NULL;
  g_object_get (m, "template", &t, NULL);
  fail_unless_equals_string (t, "{} thing");
  g_free (t);

  /* aimed at another element: ignored */
  fail_unless (gst_harness_push_event (h, label_event ("p,q", NULL, "other")));
  g_autofree gchar *l4 = push_and_get_labels (h, 4);
  fail_unless_equals_string (l4, "red, dark|blue");
  fail_unless (gst_harness_push_event (h, label_event ("p,q", NULL, "m")));
  g_autofree gchar *l5 = push_and_get_labels (h, 5);
  fail_unless_equals_string (l5, "p|q");

  /* a bad template in an event: a warning, labels applied, template kept */
  fail_unless (gst_harness_push_event (h, label_event ("r", "no placeholder", NULL)));
  g_autofree gchar *l6 = push_and_get_labels (h, 6);
  fail_unless_equals_string (l6, "r");
  g_object_get (m, "template", &t, NULL);
  fail_unless_equals_string (t, "{} thing");
  g_free (t);
  GstMessage *msg = gst_bus_pop_filtered (harness_bus (h), GST_MESSAGE_WARNING);
  fail_unless (msg != NULL);
  gst_message_unref (msg);
  /* labels of the wrong type: a warning, nothing changes */
  fail_unless (gst_harness_push_event (h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
      gst_structure_new ("vlm-set-labels", "labels", G_TYPE_INT, 5, NULL))));
  g_autofree gchar *l7 = push_and_get_labels (h, 7);
  fail_unless_equals_string (l7, "r");
  msg = gst_bus_pop_filtered (harness_bus (h), GST_MESSAGE_WARNING);
  fail_unless (msg != NULL);
  gst_message_unref (msg);
  gst_object_unref (m);
  harness_done (h);
}
GST_END_TEST;

/* No labels: no match meta, one warning, no crash; labels later work. */
GST_START_TEST (test_empty_labels)
{
  GstHarness *h = harness ("vlmmatch name=m model=\"%s\" labels=\" , ,\"", model_dir);
  gst_harness_set_src_caps_str (h, SMALL_CAPS);
  for (guint i = 0; i < 5; i++) {
    g_autofree gchar *l = push_and_get_labels (h, i);
    fail_unless (l == NULL);
  }
  guint warnings = 0;
  GstMessage *msg;
  while ((msg = gst_bus_pop_filtered (harness_bus (h), GST_MESSAGE_WARNING))) {
    warnings++;
    gst_message_unref (msg);
  }
  fail_unless_equals_int (warnings, 1);
  fail_unless_equals_int (stats_u64 (h, "m", "image-encodes"), 0);
  fail_unless_equals_int (stats_u64 (h, "m", "text-encodes"), 0);

  GstElement *m = gst_bin_get_by_name (GST_BIN (h->element), "m");
  g_object_set (m, "labels", "one", NULL);
  g_autofree gchar *l = push_and_get_labels (h, 5);
  fail_unless_equals_string (l, "one");
  g_object_set (m, "labels", "", NULL);
  g_autofree gchar *l2 = push_and_get_labels (h, 6);
  fail_unless (l2 == NULL);
  msg = gst_bus_pop_filtered (harness_bus (h), GST_MESSAGE_WARNING);
  fail_unless (msg != NULL);
  gst_message_unref (msg);
  /* an event with no labels too */
  g_object_set (m, "labels", "one", NULL);
  g_free (push_and_get_labels (h, 7));
  fail_unless (gst_harness_push_event (h, label_event ("", NULL, NULL)));
  g_autofree gchar *l3 = push_and_get_labels (h, 8);
  fail_unless (l3 == NULL);
  gst_object_unref (m);
  harness_done (h);
}
GST_END_TEST;

/* Model sharing across element kinds: vlmembed and vlmmatch on one model
 * load it once. */
GST_START_TEST (test_shared_with_embed)
{
  g_autofree gchar *launch = g_strdup_printf ("videotestsrc num-buffers=30 ! "
      "video/x-raw,width=64,height=48 ! vlmembed name=e model=\"%s\" ! "
      "vlmmatch name=m model=\"%s\" labels=\"red,green,blue\" ! fakesink", model_dir,
      model_dir);
  GstElement *pipeline = gst_parse_launch (launch, NULL);
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), "e");
  GstElement *m = gst_bin_get_by_name (GST_BIN (pipeline), "m");
  GstStructure *s;
  guint loads0 = 0, loads1 = 0;
  g_object_get (e, "stats", &s, NULL);
  gst_structure_get_uint (s, "model-loads", &loads0);
  gst_structure_free (s);
  GstBus *bus = gst_element_get_bus (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  GstMessage *msg;
  guint matches = 0;
  while ((msg = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
              GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT))) {
    gboolean done = GST_MESSAGE_TYPE (msg) != GST_MESSAGE_ELEMENT;
    fail_if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR);
    if (!done && gst_structure_has_name (gst_message_get_structure (msg), "vlm-match"))
      matches++;
    gst_message_unref (msg);
    if (done)
      break;
  }
  fail_unless_equals_int (matches, 30);
  g_object_get (m, "stats", &s, NULL);
  gst_structure_get_uint (s, "model-loads", &loads1);
  gst_structure_free (s);
  fail_unless_equals_int (loads1 - loads0, 1);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (e);
  gst_object_unref (m);
  gst_object_unref (pipeline);
}
GST_END_TEST;

/* Properties changed from another thread while frames flow: every result
 * stays consistent (as many scores as labels), nothing crashes. */
GST_START_TEST (test_concurrent_changes)
{
  g_autofree gchar *launch = g_strdup_printf ("videotestsrc num-buffers=150 ! "
      "video/x-raw,width=32,height=24 ! vlmembed model=\"%s\" ! vlmmatch name=m "
      "model=\"%s\" labels=\"a,b\" ! fakesink", model_dir, model_dir);
  GstElement *pipeline = gst_parse_launch (launch, NULL);
  GstElement *m = gst_bin_get_by_name (GST_BIN (pipeline), "m");
  GstBus *bus = gst_element_get_bus (pipeline);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  const gchar *sets[] = { "x", "a, b, c", "", "dog,cat", " , ", "one,two,three,four" };
  guint matches = 0, i = 0;
  GstPad *sink = gst_element_get_static_pad (m, "sink");
  for (;;) {
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, 2 * GST_MSECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT);
    g_object_set (m, "labels", sets[i % G_N_ELEMENTS (sets)], "mode", i % 3 == 0 ?
                  GST_VLM_MATCH_MODE_DETECT : GST_VLM_MATCH_MODE_CLASSIFY,
                  "template", i % 2 ? "{}" : "a {}", "threshold", (i % 5) / 5.0, NULL);
    if (i % 7 == 0)
      gst_pad_send_event (sink, label_event ("p, q", NULL, NULL));
    i++;
    if (!msg)
      continue;
    GstMessageType type = GST_MESSAGE_TYPE (msg);
    fail_if (type == GST_MESSAGE_ERROR);
    if (type == GST_MESSAGE_ELEMENT &&
        gst_structure_has_name (gst_message_get_structure (msg), "vlm-match")) {
      const GstStructure *s = gst_message_get_structure (msg);
      guint n = gst_value_array_get_size (gst_structure_get_value (s, "labels"));
      fail_unless (n > 0);
      fail_unless_equals_int (gst_value_array_get_size (gst_structure_get_value (s, "scores")),
                              n);
      matches++;
    }
    gst_message_unref (msg);
    if (type == GST_MESSAGE_EOS)
      break;
  }
  fail_unless (matches > 0);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (bus);
  gst_object_unref (m);
  gst_object_unref (pipeline);
}
GST_END_TEST;

static Suite *
vlmmatch_suite (void)
{
  Suite *s = suite_create ("vlmmatch");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 240);
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_reuse);
  tcase_add_test (tc, test_classify);
  tcase_add_test (tc, test_detect);
  tcase_add_test (tc, test_detect_present);
  tcase_add_test (tc, test_labels_property);
  tcase_add_test (tc, test_labels_event);
  tcase_add_test (tc, test_empty_labels);
  tcase_add_test (tc, test_shared_with_embed);
  tcase_add_test (tc, test_concurrent_changes);
  return s;
}

int
main (int argc, char **argv)
{
  gst_check_init (&argc, &argv);
  model_dir = g_getenv ("VLM_TEST_MODEL");
  if (!model_dir) {
    g_printerr ("VLM_TEST_MODEL is not set: skipped\n");
    return 77;
  }
  char *real = realpath (model_dir, NULL);
  if (!real) {
    g_printerr ("VLM_TEST_MODEL=%s does not exist\n", model_dir);
    return 1;
  }
  model_id = g_strdup (real);
  free (real);
  return gst_check_run_suite (vlmmatch_suite (), "vlmmatch", __FILE__);
}
