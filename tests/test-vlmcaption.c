/* gst-vlm — vlmcaption: captions equal to the engine's and the CLI's, the
 * text pad (subtitle and overlay timing, textoverlay), min-change gating,
 * metas, messages, JSON lines, state changes and bad input.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Environment: VLM_TEST_GIT_MODEL (a tiny random GIT checkpoint),
 * VLM_TEST_MODEL (a tiny CLIP checkpoint, for vlmembed upstream and as the
 * wrong kind of model), VLM_CLI (the `vlm` tool), GST_PLUGIN_PATH. Random
 * weights give gibberish captions: the tests check mechanics and
 * consistency, not quality.
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vlm-meta.h"
#include "models/vlm-clip.h"
#include "models/vlm-git.h"

static const gchar *git_dir;
static gchar *git_id;          /* canonical folder */
static const gchar *clip_dir;
static VlmGitModel *git;       /* the test's own instance (CPU) */

#define W 48
#define H 40
#define FRAME_CAPS "video/x-raw,format=RGB,width=48,height=40,framerate=25/1"
#define FRAME_DUR (GST_SECOND / 25)

static void
setup (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VlmDevice) dev = vlm_device_open ("cpu", &error);
  fail_unless (dev != NULL, "%s", error ? error->message : "");
  git = vlm_git_model_load (git_dir, dev, VLM_DTYPE_F32, &error);
  fail_unless (git != NULL, "%s", error ? error->message : "");
}

static void
teardown (void)
{
  g_clear_pointer (&git, vlm_git_model_free);
}

/* An RGB frame whose picture depends on @pattern (same pattern, same
 * bytes), stamped as frame @index at 25 fps. */
static GstBuffer *
frame (guint pattern, guint index)
{
  gsize stride = GST_ROUND_UP_4 (W * 3);
  GstBuffer *b = gst_buffer_new_allocate (NULL, stride * H, NULL);
  GstMapInfo map;
  gst_buffer_map (b, &map, GST_MAP_WRITE);
  for (gint y = 0; y < H; y++)
    for (gint x = 0; x < W; x++) {
      guint8 *p = map.data + y * stride + x * 3;
      p[0] = (guint8) ((x * (3 + pattern * 5) + y * pattern * 7) & 0xff);
      p[1] = (guint8) ((y * (2 + pattern * 3) + 40 * pattern) & 0xff);
      p[2] = (guint8) (((x ^ y) * (1 + pattern)) & 0xff);
    }
  gst_buffer_unmap (b, &map);
  GST_BUFFER_PTS (b) = index * FRAME_DUR;
  GST_BUFFER_DURATION (b) = FRAME_DUR;
  return b;
}

/* The engine's caption of an RGB W×H buffer. */
static gchar *
engine_caption (GstBuffer *b, const VlmGitParams *params, gdouble *score, gboolean *truncated)
{
  GstMapInfo map;
  fail_unless (gst_buffer_map (b, &map, GST_MAP_READ));
  VlmFrame f = { .data = map.data, .size = map.size };
  vlm_pixel_format_frame_size (VLM_PIXEL_RGB, W, H, &f.params);
  f.params.stride[0] = GST_ROUND_UP_4 (W * 3);
  g_autoptr (GError) error = NULL;
  g_autoptr (VlmGitImage) image = vlm_git_encode_frame (git, &f, &error);
  gst_buffer_unmap (b, &map);
  fail_unless (image != NULL, "%s", error ? error->message : "");
  VlmGitOutput out = { 0 };
  gchar *text = vlm_git_caption (git, image, params, &out, &error);
  fail_unless (text != NULL, "%s", error ? error->message : "");
  *score = out.sum_logprob / out.n_scored;
  *truncated = out.truncated;
  vlm_git_output_clear (&out);
  return text;
}

static guint64
stats_u64 (GstElement *e, const gchar *field)
{
  GstStructure *s = NULL;
  guint64 v = 0;
  g_object_get (e, "stats", &s, NULL);
  fail_unless (s != NULL);
  if (!gst_structure_get_uint64 (s, field, &v)) {
    guint u = 0;
    fail_unless (gst_structure_get_uint (s, field, &u), "no stats field %s", field);
    v = u;
  }
  gst_structure_free (s);
  return v;
}

/* A harness on vlmcaption's video pads, and optionally one on its text pad. */
static GstHarness *
caption_harness (const gchar *props, GstHarness **text)
{
  g_autofree gchar *desc = g_strdup_printf ("vlmcaption name=c model=\"%s\" device=cpu %s",
                                            git_dir, props ? props : "");
  GstElement *e = gst_parse_launch (desc, NULL);
  fail_unless (e != NULL);
  GstHarness *h = gst_harness_new_with_element (e, "sink", "src");
  if (text)
    *text = gst_harness_new_with_element (e, NULL, "text_src");
  gst_object_unref (e);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  gst_object_unref (bus);
  gst_harness_set_src_caps_str (h, FRAME_CAPS);
  return h;
}

static void
harness_done (GstHarness *h, GstHarness *text)
{
  if (text)
    gst_harness_teardown (text);
  gst_element_set_bus (h->element, NULL);
  gst_harness_teardown (h);
}

static const gchar *
caption_of (GstBuffer *b)
{
  return gst_vlm_caption_meta_get_text (gst_buffer_get_vlm_caption_meta (b, git_id));
}

static gchar *
error_text (GstMessage *msg)
{
  g_autoptr (GError) err = NULL;
  g_autofree gchar *dbg = NULL;
  gst_message_parse_error (msg, &err, &dbg);
  return g_strdup_printf ("%s | %s", err->message, dbg ? dbg : "");
}

/* Runs @launch to EOS (or an error, or 120 s); returns the element messages
 * named @name in order. */
static GList *
run_pipeline (GstElement *pipeline, const gchar *name)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  GList *out = NULL;
  for (;;) {
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, 120 * GST_SECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT);
    fail_unless (msg != NULL, "the pipeline stalled");
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      g_autofree gchar *text = error_text (msg);
      fail ("pipeline error: %s", text);
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
      gst_message_unref (msg);
      break;
    }
    if (gst_structure_has_name (gst_message_get_structure (msg), name))
      out = g_list_append (out, msg);
    else
      gst_message_unref (msg);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  return out;
}

/* ------------------------------------------------------------------------ */

/* The caption meta holds the engine's caption of the same frame bytes, for
 * greedy and beam search, finished and truncated. */
GST_START_TEST (test_same_as_engine)
{
  const struct { const gchar *props; VlmGitParams p; } cases[] = {
    { "", { 1, 20, 1.0f } },
    { "num-beams=3 max-tokens=6 length-penalty=0.5", { 3, 6, 0.5f } },
    { "max-tokens=2", { 1, 2, 1.0f } },
  };
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    GstHarness *h = caption_harness (cases[c].props, NULL);
    guint truncated_seen = 0;
    for (guint i = 0; i < 4; i++) {
      GstBuffer *in = frame (i, i);
      GstBuffer *ref = gst_buffer_copy_deep (in);
      fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
      GstBuffer *out = gst_harness_pull (h);
      GstCustomMeta *m = gst_buffer_get_vlm_caption_meta (out, git_id);
      fail_unless (m != NULL, "case %u frame %u: no caption meta", c, i);
      gdouble score;
      gboolean truncated;
      g_autofree gchar *expect = engine_caption (ref, &cases[c].p, &score, &truncated);
      fail_unless_equals_string (gst_vlm_caption_meta_get_text (m), expect);
      fail_unless (fabs (gst_vlm_caption_meta_get_mean_logprob (m) - score) < 1e-9,
                   "score %f, engine %f", gst_vlm_caption_meta_get_mean_logprob (m), score);
      fail_unless (score <= 0.0);
      fail_unless_equals_int (gst_vlm_caption_meta_get_truncated (m), truncated);
      fail_unless_equals_string (gst_vlm_caption_meta_get_model_id (m), git_id);
      truncated_seen += truncated;
      gst_buffer_unref (out);
      gst_buffer_unref (ref);
    }
    /* two tokens are too few for this checkpoint's captions */
    if (c == 2)
      fail_unless (truncated_seen > 0);
    harness_done (h, NULL);
  }
}
GST_END_TEST;

/* On Vulkan (lavapipe here) the element gives the CPU's captions. */
GST_START_TEST (test_vulkan)
{
  g_autoptr (GArray) devices = NULL;
  if (!vlm_vulkan_list_devices (&devices, NULL) || !devices || devices->len == 0) {
    GST_INFO ("no Vulkan device: skipped");
    return;
  }
  GstHarness *cpu = caption_harness ("num-beams=2", NULL);
  GstHarness *vk = caption_harness ("device=vulkan:0 num-beams=2", NULL);
  for (guint i = 0; i < 3; i++) {
    fail_unless_equals_int (gst_harness_push (cpu, frame (i, i)), GST_FLOW_OK);
    fail_unless_equals_int (gst_harness_push (vk, frame (i, i)), GST_FLOW_OK);
    GstBuffer *a = gst_harness_pull (cpu);
    GstBuffer *b = gst_harness_pull (vk);
    fail_unless_equals_string (caption_of (a), caption_of (b));
    gdouble sa = gst_vlm_caption_meta_get_mean_logprob (gst_buffer_get_vlm_caption_meta (a,
                                                                                      NULL));
    gdouble sb = gst_vlm_caption_meta_get_mean_logprob (gst_buffer_get_vlm_caption_meta (b,
                                                                                      NULL));
    fail_unless (fabs (sa - sb) < 1e-3, "score %f on the CPU, %f on Vulkan", sa, sb);
    gst_buffer_unref (a);
    gst_buffer_unref (b);
  }
  harness_done (vk, NULL);
  harness_done (cpu, NULL);
}
GST_END_TEST;

/* Bus messages: one "vlm-caption" per captioned frame with the meta's
 * values and the timing fields. */
GST_START_TEST (test_messages)
{
  GstHarness *h = caption_harness ("interval=2", NULL);
  const gchar *texts[3] = { NULL, NULL, NULL };
  GstBuffer *kept[3] = { NULL, NULL, NULL };
  for (guint i = 0; i < 6; i++) {
    fail_unless_equals_int (gst_harness_push (h, frame (i, i)), GST_FLOW_OK);
    GstBuffer *b = gst_harness_pull (h);
    fail_unless_equals_int (caption_of (b) != NULL, i % 2 == 0);
    if (i % 2 == 0) {
      kept[i / 2] = b;
      texts[i / 2] = caption_of (b);
    } else {
      gst_buffer_unref (b);
    }
  }
  GstMessage *msg;
  guint n = 0;
  while ((msg = gst_bus_pop_filtered (GST_ELEMENT_BUS (h->element), GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, "vlm-caption")) {
      fail_unless (n < 3);
      guint64 pts = 0, running = 0;
      gdouble score = 0;
      gboolean truncated = TRUE;
      guint tokens = 0;
      fail_unless (gst_structure_get_uint64 (s, "pts", &pts));
      fail_unless_equals_uint64 (pts, 2 * n * FRAME_DUR);
      fail_unless (gst_structure_get_uint64 (s, "running-time", &running));
      fail_unless_equals_uint64 (running, pts);
      fail_unless_equals_string (gst_structure_get_string (s, "text"), texts[n]);
      fail_unless_equals_string (gst_structure_get_string (s, "model-id"), git_id);
      GstCustomMeta *m = gst_buffer_get_vlm_caption_meta (kept[n], NULL);
      fail_unless (gst_structure_get_double (s, "score", &score));
      fail_unless_equals_float (score, gst_vlm_caption_meta_get_mean_logprob (m));
      fail_unless (gst_structure_get_boolean (s, "truncated", &truncated));
      fail_unless_equals_int (truncated, gst_vlm_caption_meta_get_truncated (m));
      fail_unless (gst_structure_get_uint (s, "tokens", &tokens));
      fail_unless (tokens <= 20);
      n++;
    }
    gst_message_unref (msg);
  }
  fail_unless_equals_int (n, 3);
  fail_unless_equals_int (stats_u64 (h->element, "image-encodes"), 3);
  for (guint i = 0; i < 3; i++)
    gst_buffer_unref (kept[i]);
  /* post-messages=false: metas only */
  g_object_set (h->element, "post-messages", FALSE, NULL);
  fail_unless_equals_int (gst_harness_push (h, frame (0, 6)), GST_FLOW_OK);
  GstBuffer *b = gst_harness_pull (h);
  fail_unless (caption_of (b) != NULL);
  gst_buffer_unref (b);
  fail_unless (gst_bus_pop_filtered (GST_ELEMENT_BUS (h->element), GST_MESSAGE_ELEMENT) == NULL);
  harness_done (h, NULL);
}
GST_END_TEST;

/* The caption meta survives copies; the typed API and the field names. */
GST_START_TEST (test_meta)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, 16, NULL);
  fail_unless (gst_buffer_add_vlm_caption_meta (b, "/models/git", "cap0", "a cat, on a mat",
                                                -0.75, TRUE) != NULL);
  GstBuffer *copies[2] = { gst_buffer_copy (b), gst_buffer_copy_deep (b) };
  for (guint i = 0; i < 2; i++) {
    GstCustomMeta *m = gst_buffer_get_vlm_caption_meta (copies[i], "/models/git");
    fail_unless (m != NULL);
    fail_unless_equals_string (gst_vlm_caption_meta_get_text (m), "a cat, on a mat");
    fail_unless_equals_float (gst_vlm_caption_meta_get_mean_logprob (m), -0.75);
    fail_unless (gst_vlm_caption_meta_get_truncated (m));
    fail_unless_equals_string (gst_vlm_caption_meta_get_model_id (m), "/models/git");
    GstStructure *s = gst_custom_meta_get_structure (gst_buffer_get_custom_meta (copies[i],
                                                                                 "VlmCaptionMeta"));
    fail_unless_equals_string (gst_structure_get_string (s, "text"), "a cat, on a mat");
    fail_unless_equals_string (gst_structure_get_string (s, "element"), "cap0");
    fail_unless (gst_structure_has_field_typed (s, "mean-logprob", G_TYPE_DOUBLE));
    fail_unless (gst_structure_has_field_typed (s, "truncated", G_TYPE_BOOLEAN));
    fail_unless (gst_vlm_meta_is_vlm ((GstMeta *) m));
    gst_buffer_unref (copies[i]);
  }
  /* model filter, other metas, invalid calls */
  fail_unless (gst_buffer_get_vlm_caption_meta (b, "/models/other") == NULL);
  fail_unless (gst_buffer_get_vlm_caption_meta (b, NULL) != NULL);
  fail_unless (gst_vlm_caption_meta_get_text (NULL) == NULL);
  fail_unless (isinf (gst_vlm_caption_meta_get_mean_logprob (NULL)));
  fail_if (gst_vlm_caption_meta_get_truncated (NULL));
  GstCustomMeta *answer = gst_buffer_add_vlm_answer_meta (b, "/models/git", NULL, "q", "a",
                                                          -1.0, FALSE, FALSE);
  fail_unless (gst_vlm_caption_meta_get_text (answer) == NULL);
  ASSERT_CRITICAL (gst_buffer_add_vlm_caption_meta (b, "/models/git", NULL, NULL, 0, FALSE));
  ASSERT_CRITICAL (gst_buffer_add_vlm_caption_meta (b, "/models/git", NULL, "\xff\xfe", 0,
                                                    FALSE));
  ASSERT_CRITICAL (gst_buffer_add_vlm_caption_meta (b, NULL, NULL, "x", 0, FALSE));
  gst_buffer_unref (b);
}
GST_END_TEST;

typedef struct {
  GstClockTime pts, duration;
  gchar *text;
} TextBuf;

static void
text_buf_clear (TextBuf *t)
{
  g_free (t->text);
}

static TextBuf
pull_text (GstHarness *th)
{
  GstBuffer *b = gst_harness_pull (th);
  fail_unless (b != NULL, "no text buffer");
  TextBuf t = { GST_BUFFER_PTS (b), GST_BUFFER_DURATION (b), NULL };
  GstMapInfo map;
  gst_buffer_map (b, &map, GST_MAP_READ);
  t.text = g_strndup ((const gchar *) map.data, map.size);
  fail_unless (g_utf8_validate (t.text, -1, NULL));
  gst_buffer_unmap (b, &map);
  gst_buffer_unref (b);
  return t;
}

/* Subtitle mode: one buffer per caption, pts of its frame, duration until
 * the next caption; the last at EOS until the end of the last frame (or
 * the segment's stop). Stream-start, utf8 caps and segment come first. */
GST_START_TEST (test_text_subtitle)
{
  GstHarness *th;
  GstHarness *h = caption_harness ("text-mode=subtitle", &th);
  const GstClockTime pts[5] = { 0, 40 * GST_MSECOND, 100 * GST_MSECOND, 110 * GST_MSECOND,
                                200 * GST_MSECOND };
  gchar *captions[5];
  for (guint i = 0; i < 5; i++) {
    GstBuffer *in = frame (i, 0);
    GST_BUFFER_PTS (in) = pts[i];
    GST_BUFFER_DURATION (in) = 10 * GST_MSECOND;
    fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
    GstBuffer *out = gst_harness_pull (h);
    captions[i] = g_strdup (caption_of (out));
    fail_unless (captions[i] != NULL);
    gst_buffer_unref (out);
    if (i == 0)
      continue;
    /* the previous caption, now that its end is known */
    TextBuf t = pull_text (th);
    fail_unless_equals_uint64 (t.pts, pts[i - 1]);
    fail_unless_equals_uint64 (t.duration, pts[i] - pts[i - 1]);
    fail_unless_equals_string (t.text, captions[i - 1]);
    text_buf_clear (&t);
  }
  fail_unless (gst_harness_try_pull (th) == NULL);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  TextBuf t = pull_text (th);
  fail_unless_equals_uint64 (t.pts, pts[4]);
  fail_unless_equals_uint64 (t.duration, 10 * GST_MSECOND);
  fail_unless_equals_string (t.text, captions[4]);
  text_buf_clear (&t);

  /* events on the text pad, in order */
  GstEventType expect[] = { GST_EVENT_STREAM_START, GST_EVENT_CAPS, GST_EVENT_SEGMENT,
                            GST_EVENT_GAP, GST_EVENT_EOS };
  for (guint i = 0; i < G_N_ELEMENTS (expect); i++) {
    GstEvent *ev = gst_harness_pull_event (th);
    fail_unless (ev != NULL);
    fail_unless_equals_string (GST_EVENT_TYPE_NAME (ev), gst_event_type_get_name (expect[i]));
    if (GST_EVENT_TYPE (ev) == GST_EVENT_CAPS) {
      GstCaps *caps;
      gst_event_parse_caps (ev, &caps);
      g_autoptr (GstCaps) want = gst_caps_from_string ("text/x-raw,format=utf8");
      fail_unless (gst_caps_is_equal (caps, want));
    }
    if (GST_EVENT_TYPE (ev) == GST_EVENT_GAP) {
      GstClockTime ts, dur;
      gst_event_parse_gap (ev, &ts, &dur);
      fail_unless_equals_uint64 (ts, 0);
      fail_unless_equals_uint64 (dur, 0);
    }
    gst_event_unref (ev);
  }
  for (guint i = 0; i < 5; i++)
    g_free (captions[i]);
  harness_done (h, th);

  /* a segment with a stop: the last caption lasts until it */
  h = caption_harness ("text-mode=subtitle", &th);
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  seg.stop = 500 * GST_MSECOND;
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  fail_unless_equals_int (gst_harness_push (h, frame (1, 2)), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  t = pull_text (th);
  fail_unless_equals_uint64 (t.pts, 2 * FRAME_DUR);
  fail_unless_equals_uint64 (t.duration, 500 * GST_MSECOND - 2 * FRAME_DUR);
  text_buf_clear (&t);
  harness_done (h, th);
}
GST_END_TEST;

/* Overlay mode: one buffer per frame, pushed before it, with the current
 * caption and the frame's pts and duration. */
GST_START_TEST (test_text_overlay)
{
  GstHarness *th;
  GstHarness *h = caption_harness ("text-mode=overlay interval=3", &th);
  g_autofree gchar *current = NULL;
  for (guint i = 0; i < 7; i++) {
    fail_unless_equals_int (gst_harness_push (h, frame (i, i)), GST_FLOW_OK);
    /* the text of frame i is out before frame i */
    TextBuf t = pull_text (th);
    GstBuffer *out = gst_harness_pull (h);
    if (i % 3 == 0) {
      g_free (current);
      current = g_strdup (caption_of (out));
      fail_unless (current != NULL);
    } else {
      fail_unless (caption_of (out) == NULL);
    }
    fail_unless_equals_uint64 (t.pts, i * FRAME_DUR);
    fail_unless_equals_uint64 (t.duration, FRAME_DUR);
    fail_unless_equals_string (t.text, current);
    text_buf_clear (&t);
    gst_buffer_unref (out);
  }
  /* frames without a duration: one frame at the negotiated rate */
  GstBuffer *in = frame (0, 7);
  GST_BUFFER_DURATION (in) = GST_CLOCK_TIME_NONE;
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  TextBuf t = pull_text (th);
  fail_unless_equals_uint64 (t.duration, FRAME_DUR);
  text_buf_clear (&t);
  gst_buffer_unref (gst_harness_pull (h));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  GstEvent *ev;
  gboolean eos = FALSE;
  while ((ev = gst_harness_pull_event (th))) {
    eos = GST_EVENT_TYPE (ev) == GST_EVENT_EOS;
    gst_event_unref (ev);
    if (eos)
      break;
  }
  fail_unless (eos);
  harness_done (h, th);
}
GST_END_TEST;

static GstPadProbeReturn
count_buffers (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  g_atomic_int_inc ((gint *) user_data);
  return GST_PAD_PROBE_OK;
}

/* The brief's pipeline: both branches without queues reach EOS, the text
 * branch gets one buffer per caption. */
GST_START_TEST (test_text_fakesink_pipeline)
{
  g_autofree gchar *launch = g_strdup_printf ("videotestsrc num-buffers=10 ! "
      "video/x-raw,width=64,height=48 ! vlmcaption model=\"%s\" name=c ! fakesink "
      "c.text_src ! fakesink name=t sync=true", git_dir);
  GstElement *pipeline = gst_parse_launch (launch, NULL);
  GstElement *t = gst_bin_get_by_name (GST_BIN (pipeline), "t");
  GstPad *pad = gst_element_get_static_pad (t, "sink");
  gint buffers = 0;
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_buffers, &buffers, NULL);
  GList *msgs = run_pipeline (pipeline, "vlm-caption");
  fail_unless_equals_int (g_list_length (msgs), 10);
  fail_unless_equals_int (g_atomic_int_get (&buffers), 10);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  gst_object_unref (pad);
  gst_object_unref (t);
  gst_object_unref (pipeline);
}
GST_END_TEST;

/* Pulls every frame out of an appsink. */
static GPtrArray *
pull_all (GstElement *pipeline, const gchar *sink_name)
{
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), sink_name);
  GPtrArray *frames = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  GstSample *sample;
  while ((sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 60 * GST_SECOND))) {
    g_ptr_array_add (frames, gst_buffer_ref (gst_sample_get_buffer (sample)));
    gst_sample_unref (sample);
  }
  fail_unless (gst_app_sink_is_eos (GST_APP_SINK (sink)), "the pipeline stalled");
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *err = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  if (err) {
    g_autofree gchar *text = error_text (err);
    fail ("pipeline error: %s", text);
  }
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (sink);
  return frames;
}

/* videotestsrc → vlmcaption → textoverlay: no stall (text before each
 * frame, auto mode finds the textoverlay, also behind a queue), and the
 * captions are drawn (frames differ from the source's). */
GST_START_TEST (test_textoverlay)
{
  const gchar *text_branches[] = { "c.text_src ! o.text_sink",
                                   "c.text_src ! queue ! o.text_sink" };
  const gchar *src = "videotestsrc num-buffers=12 pattern=ball ! "
                     "video/x-raw,format=I420,width=96,height=72,framerate=25/1";
  g_autofree gchar *plain_launch = g_strdup_printf ("%s ! appsink name=out sync=false", src);
  GstElement *plain = gst_parse_launch (plain_launch, NULL);
  g_autoptr (GPtrArray) reference = pull_all (plain, "out");
  gst_object_unref (plain);
  fail_unless_equals_int (reference->len, 12);

  for (guint k = 0; k < G_N_ELEMENTS (text_branches); k++) {
    g_autofree gchar *launch = g_strdup_printf ("%s ! vlmcaption model=\"%s\" name=c "
        "interval=4 ! textoverlay name=o ! appsink name=out sync=false %s", src, git_dir,
        text_branches[k]);
    GstElement *pipeline = gst_parse_launch (launch, NULL);
    g_autoptr (GPtrArray) frames = pull_all (pipeline, "out");
    fail_unless_equals_int (frames->len, 12);
    guint drawn = 0;
    for (guint i = 0; i < frames->len; i++) {
      GstMapInfo a, b;
      gst_buffer_map (frames->pdata[i], &a, GST_MAP_READ);
      gst_buffer_map (reference->pdata[i], &b, GST_MAP_READ);
      drawn += a.size != b.size || memcmp (a.data, b.data, a.size) != 0;
      gst_buffer_unmap (frames->pdata[i], &a);
      gst_buffer_unmap (reference->pdata[i], &b);
    }
    /* every frame has a caption (the first frame is always captioned) */
    fail_unless_equals_int (drawn, 12);
    gst_object_unref (pipeline);
  }
}
GST_END_TEST;

/* An embedding of @pattern with the test's CLIP model (as vlmembed
 * computes it). */
static gfloat *
clip_embedding (VlmClipModel *clip, guint pattern)
{
  GstBuffer *b = frame (pattern, 0);
  GstMapInfo map;
  gst_buffer_map (b, &map, GST_MAP_READ);
  VlmFrame f = { .data = map.data, .size = map.size };
  vlm_pixel_format_frame_size (VLM_PIXEL_RGB, W, H, &f.params);
  f.params.stride[0] = GST_ROUND_UP_4 (W * 3);
  gint dim = vlm_clip_model_get_config (clip)->projection_dim;
  gfloat *e = g_new (gfloat, dim);
  g_autoptr (GError) error = NULL;
  fail_unless (vlm_clip_encode_frames (clip, &f, 1, e, &error), "%s",
               error ? error->message : "");
  gst_buffer_unmap (b, &map);
  gst_buffer_unref (b);
  return e;
}

static gdouble
distance (const gfloat *a, const gfloat *b, gint n)
{
  gdouble d = 0, na = 0, nb = 0;
  for (gint i = 0; i < n; i++) {
    d += (gdouble) a[i] * b[i];
    na += (gdouble) a[i] * a[i];
    nb += (gdouble) b[i] * b[i];
  }
  return 1.0 - d / sqrt (na * nb);
}

/* min-change with vlmembed upstream: identical frames give one caption,
 * changed frames new ones; the held caption's text buffer spans the
 * skipped frames. Without embeddings every frame is captioned. */
GST_START_TEST (test_min_change)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VlmDevice) dev = vlm_device_open ("cpu", &error);
  g_autoptr (VlmClipModel) clip = vlm_clip_model_load (clip_dir, dev, VLM_DTYPE_F32, &error);
  fail_unless (clip != NULL, "%s", error ? error->message : "");
  gint dim = vlm_clip_model_get_config (clip)->projection_dim;
  g_autofree gfloat *ea = clip_embedding (clip, 1);
  g_autofree gfloat *eb = clip_embedding (clip, 5);
  g_autofree gfloat *ec = clip_embedding (clip, 9);
  gdouble dab = distance (ea, eb, dim), dbc = distance (eb, ec, dim), dac = distance (ea, ec, dim);
  GST_INFO ("distances a-b %g, b-c %g, a-c %g", dab, dbc, dac);
  gdouble threshold = MIN (dab, MIN (dbc, dac)) / 2;
  fail_unless (threshold > 1e-6, "the test pictures give the same embedding");

  /* frames: A A A B B C C A → captions at 0, 3, 5, 7 */
  const guint patterns[] = { 1, 1, 1, 5, 5, 9, 9, 1 };
  const gboolean expect[] = { TRUE, FALSE, FALSE, TRUE, FALSE, TRUE, FALSE, TRUE };
  g_autofree gchar *desc = g_strdup_printf ("vlmembed model=\"%s\" device=cpu ! vlmcaption "
      "name=c model=\"%s\" device=cpu min-change=%.9f text-mode=subtitle", clip_dir, git_dir,
      threshold);
  GstElement *bin = gst_parse_bin_from_description (desc, TRUE, NULL);
  fail_unless (bin != NULL);
  GstElement *c = gst_bin_get_by_name (GST_BIN (bin), "c");
  GstHarness *h = gst_harness_new_with_element (bin, "sink", "src");
  GstHarness *th = gst_harness_new_with_element (c, NULL, "text_src");
  gst_object_unref (bin);
  gst_harness_set_src_caps_str (h, FRAME_CAPS);
  guint captions = 0;
  for (guint i = 0; i < G_N_ELEMENTS (patterns); i++) {
    fail_unless_equals_int (gst_harness_push (h, frame (patterns[i], i)), GST_FLOW_OK);
    GstBuffer *out = gst_harness_pull (h);
    fail_unless (gst_buffer_get_vlm_embedding_meta (out, NULL) != NULL);
    fail_unless_equals_int (caption_of (out) != NULL, expect[i]);
    captions += expect[i];
    gst_buffer_unref (out);
  }
  fail_unless_equals_int (stats_u64 (c, "frames-processed"), G_N_ELEMENTS (patterns));
  fail_unless_equals_int (stats_u64 (c, "image-encodes"), captions);
  /* text: caption 0 spans frames 0-2, caption 3 frames 3-4, 5 frames 5-6 */
  const guint spans[][2] = { { 0, 3 }, { 3, 2 }, { 5, 2 } };
  for (guint k = 0; k < G_N_ELEMENTS (spans); k++) {
    TextBuf t = pull_text (th);
    fail_unless_equals_uint64 (t.pts, spans[k][0] * FRAME_DUR);
    fail_unless_equals_uint64 (t.duration, spans[k][1] * FRAME_DUR);
    text_buf_clear (&t);
  }
  fail_unless (gst_harness_try_pull (th) == NULL);

  /* gating off: every frame */
  g_object_set (c, "min-change", 0.0, NULL);
  for (guint i = 0; i < 3; i++) {
    fail_unless_equals_int (gst_harness_push (h, frame (1, 8 + i)), GST_FLOW_OK);
    GstBuffer *out = gst_harness_pull (h);
    fail_unless (caption_of (out) != NULL);
    gst_buffer_unref (out);
  }
  gst_harness_teardown (th);
  gst_harness_teardown (h);
  gst_object_unref (c);

  /* no embeddings on the buffers: captioned as usual */
  h = caption_harness ("min-change=1.5", NULL);
  for (guint i = 0; i < 3; i++) {
    fail_unless_equals_int (gst_harness_push (h, frame (1, i)), GST_FLOW_OK);
    GstBuffer *out = gst_harness_pull (h);
    fail_unless (caption_of (out) != NULL);
    gst_buffer_unref (out);
  }
  harness_done (h, NULL);
}
GST_END_TEST;

/* A flush forgets the held caption and the gating reference and is passed
 * on to the text pad; the next frame is captioned again. */
GST_START_TEST (test_flush)
{
  GstHarness *th;
  GstHarness *h = caption_harness ("text-mode=subtitle", &th);
  fail_unless_equals_int (gst_harness_push (h, frame (1, 0)), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  fail_unless_equals_int (gst_harness_push (h, frame (2, 5)), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  /* only the caption after the flush */
  TextBuf t = pull_text (th);
  fail_unless_equals_uint64 (t.pts, 5 * FRAME_DUR);
  text_buf_clear (&t);
  fail_unless (gst_harness_try_pull (th) == NULL);
  gboolean start = FALSE, stop = FALSE;
  GstEvent *ev;
  while ((ev = gst_harness_try_pull_event (th))) {
    start |= GST_EVENT_TYPE (ev) == GST_EVENT_FLUSH_START;
    stop |= GST_EVENT_TYPE (ev) == GST_EVENT_FLUSH_STOP;
    gst_event_unref (ev);
  }
  fail_unless (start && stop);
  harness_done (h, th);
}
GST_END_TEST;

/* Runs `vlm` with @args; returns its stdout (NULL when it fails). */
static gchar *
run_cli (const gchar *const *args, gint *status)
{
  const gchar *cli = g_getenv ("VLM_CLI");
  GPtrArray *argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (gpointer) cli);
  for (const gchar *const *a = args; *a; a++)
    g_ptr_array_add (argv, (gpointer) *a);
  g_ptr_array_add (argv, NULL);
  gchar *out = NULL;
  g_autofree gchar *err = NULL;
  g_autoptr (GError) error = NULL;
  fail_unless (g_spawn_sync (NULL, (gchar **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                             &out, &err, status, &error), "%s", error ? error->message : "");
  g_ptr_array_free (argv, TRUE);
  GST_INFO ("vlm: %s / %s", out, err);
  return out;
}

/* Writes a PNG of the videotestsrc ball picture. */
static gchar *
write_png (const gchar *dir)
{
  gchar *path = g_build_filename (dir, "frame.png", NULL);
  g_autofree gchar *launch = g_strdup_printf ("videotestsrc num-buffers=1 pattern=ball ! "
      "video/x-raw,format=RGB,width=57,height=43 ! pngenc ! filesink location=\"%s\"", path);
  GstElement *p = gst_parse_launch (launch, NULL);
  g_list_free_full (run_pipeline (p, "none"), (GDestroyNotify) gst_message_unref);
  gst_object_unref (p);
  return path;
}

/* The element's caption of a PNG equals `vlm caption` on the same file. */
GST_START_TEST (test_same_as_cli)
{
  if (!g_getenv ("VLM_CLI")) {
    GST_INFO ("VLM_CLI not set: skipped");
    return;
  }
  g_autofree gchar *tmp = g_dir_make_tmp ("vlmcaption-XXXXXX", NULL);
  g_autofree gchar *png = write_png (tmp);
  const struct { const gchar *props; const gchar *beams, *tokens; } cases[] = {
    { "", "1", "20" }, { "num-beams=4 max-tokens=7", "4", "7" },
  };
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    const gchar *args[] = { "caption", "--model", git_dir, "--device", "cpu", "--num-beams",
                            cases[c].beams, "--max-tokens", cases[c].tokens, png, NULL };
    gint status = 0;
    g_autofree gchar *out = run_cli (args, &status);
    fail_unless (g_spawn_check_wait_status (status, NULL), "vlm caption failed");
    g_autoptr (JsonParser) parser = json_parser_new ();
    fail_unless (json_parser_load_from_data (parser, out, -1, NULL));
    JsonObject *img = json_array_get_object_element (json_object_get_array_member (
        json_node_get_object (json_parser_get_root (parser)), "images"), 0);

    g_autofree gchar *launch = g_strdup_printf ("filesrc location=\"%s\" ! pngdec ! "
        "videoconvert ! video/x-raw,format=RGB ! vlmcaption model=\"%s\" device=cpu %s ! "
        "fakesink", png, git_dir, cases[c].props);
    GstElement *p = gst_parse_launch (launch, NULL);
    GList *msgs = run_pipeline (p, "vlm-caption");
    gst_object_unref (p);
    fail_unless_equals_int (g_list_length (msgs), 1);
    const GstStructure *s = gst_message_get_structure (msgs->data);
    fail_unless_equals_string (gst_structure_get_string (s, "text"),
                               json_object_get_string_member (img, "caption"));
    gdouble score = 0;
    gboolean truncated = FALSE;
    guint tokens = 0;
    gst_structure_get_double (s, "score", &score);
    gst_structure_get_boolean (s, "truncated", &truncated);
    gst_structure_get_uint (s, "tokens", &tokens);
    fail_unless (fabs (score - json_object_get_double_member (img, "score")) < 1e-9);
    fail_unless_equals_int (truncated, json_object_get_boolean_member (img, "truncated"));
    fail_unless_equals_int (tokens, json_array_get_length (json_object_get_array_member (img,
                                                                                      "tokens")));
    g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  }
  g_unlink (png);
  g_rmdir (tmp);
}
GST_END_TEST;

/* vlmjsonsink writes the caption (and vlmvqa's answer) of each frame. */
GST_START_TEST (test_json_lines)
{
  g_autofree gchar *tmp = g_dir_make_tmp ("vlmcaption-XXXXXX", NULL);
  g_autofree gchar *path = g_build_filename (tmp, "out.jsonl", NULL);
  g_autofree gchar *launch = g_strdup_printf ("videotestsrc num-buffers=3 ! "
      "video/x-raw,width=32,height=32 ! vlmcaption model=\"%s\" ! vlmvqa model=\"%s\" "
      "question=\"what is it?\" ! vlmjsonsink location=\"%s\"", git_dir, git_dir, path);
  GstElement *p = gst_parse_launch (launch, NULL);
  GList *msgs = run_pipeline (p, "vlm-caption");
  gst_object_unref (p);
  g_autofree gchar *contents = NULL;
  fail_unless (g_file_get_contents (path, &contents, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (g_strstrip (contents), "\n", -1);
  fail_unless_equals_int (g_strv_length (lines), 3);
  GList *m = msgs;
  for (guint i = 0; i < 3; i++, m = m->next) {
    g_autoptr (JsonParser) parser = json_parser_new ();
    fail_unless (json_parser_load_from_data (parser, lines[i], -1, NULL), "%s", lines[i]);
    JsonObject *o = json_node_get_object (json_parser_get_root (parser));
    JsonArray *results = json_object_get_array_member (o, "results");
    fail_unless_equals_int (json_array_get_length (results), 2);
    JsonObject *cap = NULL, *ans = NULL;
    for (guint k = 0; k < 2; k++) {
      JsonObject *r = json_array_get_object_element (results, k);
      if (!g_strcmp0 (json_object_get_string_member (r, "meta"), "VlmCaptionMeta"))
        cap = r;
      else
        ans = r;
    }
    fail_unless (cap != NULL && ans != NULL);
    fail_unless_equals_string (json_object_get_string_member (cap, "meta"), "VlmCaptionMeta");
    fail_unless_equals_string (json_object_get_string_member (cap, "text"),
        gst_structure_get_string (gst_message_get_structure (m->data), "text"));
    fail_unless (json_object_has_member (cap, "mean-logprob"));
    fail_unless (json_object_has_member (cap, "truncated"));
    fail_unless_equals_string (json_object_get_string_member (ans, "meta"), "VlmAnswerMeta");
    fail_unless_equals_string (json_object_get_string_member (ans, "question"), "what is it?");
    fail_unless (json_object_has_member (ans, "answer"));
    fail_unless (json_object_has_member (ans, "score"));
  }
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  g_unlink (path);
  g_rmdir (tmp);
}
GST_END_TEST;

/* vlmcaption and vlmvqa on one folder share one loaded model. */
GST_START_TEST (test_shared_model)
{
  g_autofree gchar *launch = g_strdup_printf ("videotestsrc num-buffers=2 ! "
      "video/x-raw,width=32,height=32 ! vlmcaption name=c model=\"%s\" ! vlmvqa name=q "
      "model=\"%s\" question=\"is it?\" ! fakesink", git_dir, git_dir);
  GstElement *p = gst_parse_launch (launch, NULL);
  GstElement *c = gst_bin_get_by_name (GST_BIN (p), "c");
  GstElement *q = gst_bin_get_by_name (GST_BIN (p), "q");
  guint64 loads0 = stats_u64 (c, "model-loads");
  fail_unless (gst_element_set_state (p, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
  fail_unless (gst_element_get_state (p, NULL, NULL, 60 * GST_SECOND) == GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int (stats_u64 (q, "model-loads") - loads0, 1);
  fail_unless_equals_int (stats_u64 (c, "model-users"), 2);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (c);
  gst_object_unref (q);
  gst_object_unref (p);
}
GST_END_TEST;

/* NULL ↔ PLAYING and PAUSED ↔ READY repeatedly, with the text pad linked. */
GST_START_TEST (test_state_changes)
{
  g_autofree gchar *launch = g_strdup_printf ("videotestsrc is-live=true ! "
      "video/x-raw,width=32,height=32,framerate=50/1 ! vlmcaption name=c model=\"%s\" ! "
      "textoverlay name=o ! fakesink c.text_src ! o.text_sink", git_dir);
  GstElement *p = gst_parse_launch (launch, NULL);
  GstBus *bus = gst_element_get_bus (p);
  for (guint i = 0; i < 4; i++) {
    fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND, GST_MESSAGE_ELEMENT);
    fail_unless (msg != NULL, "no caption in round %u", i);
    gst_message_unref (msg);
    if (i % 2) {
      fail_unless (gst_element_set_state (p, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
      fail_unless (gst_element_set_state (p, GST_STATE_READY) != GST_STATE_CHANGE_FAILURE);
    }
    fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    fail_if (gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR));
    gst_bus_set_flushing (bus, TRUE);
    gst_bus_set_flushing (bus, FALSE);
  }
  gst_object_unref (bus);
  gst_object_unref (p);
}
GST_END_TEST;

static void
expect_load_error (const gchar *folder, const gchar *expect)
{
  GstElement *e = gst_element_factory_make ("vlmcaption", NULL);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (e, bus);
  if (folder)
    g_object_set (e, "model", folder, NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "no error message for %s", folder);
  g_autofree gchar *text = error_text (msg);
  GST_INFO ("%s", text);
  fail_unless (strstr (text, expect) != NULL, "\"%s\" does not mention \"%s\"", text, expect);
  if (folder)
    fail_unless (strstr (text, folder) != NULL, "\"%s\" does not name the folder", text);
  gst_message_unref (msg);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (bus);
  gst_object_unref (e);
}

/* A CLIP folder, a missing folder, no folder, no vocabulary, broken files:
 * READY→PAUSED fails with the folder and the reason. */
GST_START_TEST (test_bad_models)
{
  expect_load_error (clip_dir, "not a GIT model");
  expect_load_error ("/nonexistent/git", "No such file");
  /* no model: the demo GIT model, here made absent; the error says where it looked */
  g_setenv ("VLM_DEMO_MODELS", "/nonexistent/demo-models", TRUE);
  expect_load_error (NULL, "/nonexistent/demo-models/git");
  g_unsetenv ("VLM_DEMO_MODELS");
  g_autofree gchar *tmp = g_dir_make_tmp ("vlmcaption-XXXXXX", NULL);
  const gchar *files[] = { "config.json", "model.safetensors", "preprocessor_config.json" };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++) {
    g_autofree gchar *from = g_build_filename (git_dir, files[i], NULL);
    g_autofree gchar *to = g_build_filename (tmp, files[i], NULL);
    g_autofree gchar *data = NULL;
    gsize len = 0;
    fail_unless (g_file_get_contents (from, &data, &len, NULL));
    fail_unless (g_file_set_contents (to, data, (gssize) len, NULL));
  }
  expect_load_error (tmp, "vocab.txt");
  /* weights cut short */
  g_autofree gchar *weights = g_build_filename (tmp, "model.safetensors", NULL);
  fail_unless (g_file_set_contents (weights, "\x10\0\0\0\0\0\0\0{}", 10, NULL));
  expect_load_error (tmp, "model.safetensors");
  for (guint i = 0; i < G_N_ELEMENTS (files); i++) {
    g_autofree gchar *to = g_build_filename (tmp, files[i], NULL);
    g_unlink (to);
  }
  g_rmdir (tmp);
}
GST_END_TEST;

/* Out-of-range properties are refused with a warning, values kept. */
GST_START_TEST (test_bad_properties)
{
  GstElement *e = gst_element_factory_make ("vlmcaption", NULL);
  ASSERT_WARNING (g_object_set (e, "num-beams", 0, NULL));
  ASSERT_WARNING (g_object_set (e, "num-beams", 17, NULL));
  ASSERT_WARNING (g_object_set (e, "max-tokens", 0, NULL));
  ASSERT_WARNING (g_object_set (e, "max-tokens", 513, NULL));
  ASSERT_WARNING (g_object_set (e, "min-change", -0.1, NULL));
  ASSERT_WARNING (g_object_set (e, "min-change", 2.5, NULL));
  ASSERT_WARNING (g_object_set (e, "length-penalty", 100.0, NULL));
  ASSERT_WARNING (g_object_set (e, "device", "gpu", NULL));
  gint beams, tokens;
  gdouble change;
  g_object_get (e, "num-beams", &beams, "max-tokens", &tokens, "min-change", &change, NULL);
  fail_unless_equals_int (beams, 1);
  fail_unless_equals_int (tokens, 20);
  fail_unless_equals_float (change, 0.0);
  gst_util_set_object_arg (G_OBJECT (e), "text-mode", "overlay");
  gint mode;
  g_object_get (e, "text-mode", &mode, NULL);
  fail_unless_equals_int (mode, 2);
  GstPad *text = gst_element_get_static_pad (e, "text_src");
  fail_unless (text != NULL);
  gst_object_unref (text);
  gst_object_unref (e);
}
GST_END_TEST;

static Suite *
vlmcaption_suite (void)
{
  Suite *s = suite_create ("vlmcaption");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 240);
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_same_as_engine);
  tcase_add_test (tc, test_vulkan);
  tcase_add_test (tc, test_messages);
  tcase_add_test (tc, test_meta);
  tcase_add_test (tc, test_text_subtitle);
  tcase_add_test (tc, test_text_overlay);
  tcase_add_test (tc, test_text_fakesink_pipeline);
  tcase_add_test (tc, test_textoverlay);
  tcase_add_test (tc, test_min_change);
  tcase_add_test (tc, test_flush);
  tcase_add_test (tc, test_same_as_cli);
  tcase_add_test (tc, test_json_lines);
  tcase_add_test (tc, test_shared_model);
  tcase_add_test (tc, test_state_changes);
  tcase_add_test (tc, test_bad_models);
  tcase_add_test (tc, test_bad_properties);
  return s;
}

int
main (int argc, char **argv)
{
  gst_check_init (&argc, &argv);
  git_dir = g_getenv ("VLM_TEST_GIT_MODEL");
  clip_dir = g_getenv ("VLM_TEST_MODEL");
  if (!git_dir || !clip_dir) {
    g_printerr ("VLM_TEST_GIT_MODEL or VLM_TEST_MODEL is not set: skipped\n");
    return 77;
  }
  char *real = realpath (git_dir, NULL);
  if (!real) {
    g_printerr ("VLM_TEST_GIT_MODEL=%s does not exist\n", git_dir);
    return 1;
  }
  git_id = g_strdup (real);
  free (real);
  return gst_check_run_suite (vlmcaption_suite (), "vlmcaption", __FILE__);
}
