/* gst-vlm — vlmvqa: answers equal to the engine's and the CLI's, the
 * question by property and by event (frame-accurate), empty and over-long
 * questions, the answer meta, bad input.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Environment: VLM_TEST_GIT_MODEL (a tiny random GIT checkpoint),
 * VLM_TEST_MODEL (a tiny CLIP checkpoint, the wrong kind of model), VLM_CLI
 * (the `vlm` tool), GST_PLUGIN_PATH. Random weights give gibberish answers:
 * the tests check mechanics and consistency.
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vlm-meta.h"
#include "models/vlm-git.h"

static const gchar *git_dir;
static gchar *git_id;
static const gchar *clip_dir;
static VlmGitModel *git;

#define W 40
#define H 32
#define FRAME_CAPS "video/x-raw,format=RGB,width=40,height=32,framerate=25/1"
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
      p[0] = (guint8) ((x * (4 + pattern * 3) + y * pattern) & 0xff);
      p[1] = (guint8) ((y * (5 + pattern) + 30 * pattern) & 0xff);
      p[2] = (guint8) (((x + y) * (2 + pattern)) & 0xff);
    }
  gst_buffer_unmap (b, &map);
  GST_BUFFER_PTS (b) = index * FRAME_DUR;
  GST_BUFFER_DURATION (b) = FRAME_DUR;
  return b;
}

/* The engine's answer for an RGB W×H buffer. */
static gchar *
engine_answer (GstBuffer *b, const gchar *question, const VlmGitParams *params, gdouble *score,
               gboolean *truncated, gboolean *question_truncated)
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
  gchar *text = vlm_git_answer (git, image, question, params, &out, question_truncated, &error);
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
  fail_unless (gst_structure_get_uint64 (s, field, &v), "no stats field %s", field);
  gst_structure_free (s);
  return v;
}

static GstHarness *
vqa_harness (const gchar *props)
{
  g_autofree gchar *launch = g_strdup_printf ("vlmvqa name=q model=\"%s\" device=cpu %s",
                                              git_dir, props ? props : "");
  GstHarness *h = gst_harness_new_parse (launch);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  gst_object_unref (bus);
  gst_harness_set_src_caps_str (h, FRAME_CAPS);
  return h;
}

static void
harness_done (GstHarness *h)
{
  gst_element_set_bus (h->element, NULL);
  gst_harness_teardown (h);
}

static GstElement *
vqa_element (GstHarness *h)
{
  return gst_bin_get_by_name (GST_BIN (h->element), "q");
}

static guint
pop_warnings (GstHarness *h)
{
  guint n = 0;
  GstMessage *msg;
  while ((msg = gst_bus_pop_filtered (GST_ELEMENT_BUS (h->element), GST_MESSAGE_WARNING))) {
    n++;
    gst_message_unref (msg);
  }
  return n;
}

/* Pushes frame (@pattern, @index); returns the question of its answer meta
 * (NULL without one) and checks the answer against the engine's. */
static gchar *
push_and_check (GstHarness *h, guint pattern, guint index, const VlmGitParams *params)
{
  GstBuffer *in = frame (pattern, index);
  GstBuffer *ref = gst_buffer_copy_deep (in);
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  GstBuffer *out = gst_harness_pull (h);
  GstCustomMeta *m = gst_buffer_get_vlm_answer_meta (out, git_id);
  gchar *question = NULL;
  if (m) {
    question = g_strdup (gst_vlm_answer_meta_get_question (m));
    gdouble score;
    gboolean truncated, qtrunc;
    VlmGitParams defaults = { 1, 20, 1.0f };
    g_autofree gchar *expect = engine_answer (ref, question, params ? params : &defaults,
                                              &score, &truncated, &qtrunc);
    fail_unless_equals_string (gst_vlm_answer_meta_get_answer (m), expect);
    fail_unless (fabs (gst_vlm_answer_meta_get_score (m) - score) < 1e-9);
    fail_unless_equals_int (gst_vlm_answer_meta_get_truncated (m), truncated);
    fail_unless_equals_int (gst_vlm_answer_meta_get_question_truncated (m), qtrunc);
    fail_unless_equals_string (gst_vlm_answer_meta_get_model_id (m), git_id);
  }
  gst_buffer_unref (out);
  gst_buffer_unref (ref);
  return question;
}

/* ------------------------------------------------------------------------ */

/* Answers equal the engine's for the same frame bytes and question, greedy
 * and with beams; messages carry the same. */
GST_START_TEST (test_same_as_engine)
{
  const struct { const gchar *props; VlmGitParams p; } cases[] = {
    { "", { 1, 20, 1.0f } },
    { "num-beams=3 max-tokens=5 length-penalty=0", { 3, 5, 0.0f } },
  };
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    g_autofree gchar *props = g_strdup_printf ("question=\"what is in the picture?\" %s",
                                               cases[c].props);
    GstHarness *h = vqa_harness (props);
    for (guint i = 0; i < 3; i++) {
      g_autofree gchar *q = push_and_check (h, i, i, &cases[c].p);
      fail_unless_equals_string (q, "what is in the picture?");
    }
    GstMessage *msg;
    guint n = 0;
    while ((msg = gst_bus_pop_filtered (GST_ELEMENT_BUS (h->element), GST_MESSAGE_ELEMENT))) {
      const GstStructure *s = gst_message_get_structure (msg);
      if (gst_structure_has_name (s, "vlm-answer")) {
        guint64 pts = 0;
        gdouble score = 1;
        fail_unless (gst_structure_get_uint64 (s, "pts", &pts));
        fail_unless_equals_uint64 (pts, n * FRAME_DUR);
        fail_unless_equals_string (gst_structure_get_string (s, "question"),
                                   "what is in the picture?");
        fail_unless (gst_structure_get_string (s, "answer") != NULL);
        fail_unless (gst_structure_get_double (s, "score", &score) && score <= 0.0);
        fail_unless (gst_structure_has_field_typed (s, "truncated", G_TYPE_BOOLEAN));
        fail_unless (gst_structure_has_field_typed (s, "question-truncated", G_TYPE_BOOLEAN));
        fail_unless (gst_structure_has_field_typed (s, "tokens", G_TYPE_UINT));
        fail_unless (gst_structure_has_field (s, "running-time"));
        n++;
      }
      gst_message_unref (msg);
    }
    fail_unless_equals_int (n, 3);
    fail_unless_equals_int (pop_warnings (h), 0);
    harness_done (h);
  }
}
GST_END_TEST;

/* The property changes the question from the next buffer. */
GST_START_TEST (test_question_property)
{
  GstHarness *h = vqa_harness ("question=\"is it red?\"");
  GstElement *q = vqa_element (h);
  g_autofree gchar *q0 = push_and_check (h, 1, 0, NULL);
  fail_unless_equals_string (q0, "is it red?");
  g_object_set (q, "question", "how many balls are there?", NULL);
  g_autofree gchar *q1 = push_and_check (h, 1, 1, NULL);
  fail_unless_equals_string (q1, "how many balls are there?");
  g_autofree gchar *q2 = push_and_check (h, 2, 2, NULL);
  fail_unless_equals_string (q2, "how many balls are there?");
  /* surrounding whitespace does not count */
  g_object_set (q, "question", "  where?\n", NULL);
  g_autofree gchar *q3 = push_and_check (h, 2, 3, NULL);
  fail_unless_equals_string (q3, "where?");
  gst_object_unref (q);
  harness_done (h);
}
GST_END_TEST;

static GstEvent *
question_event (const gchar *question, const gchar *element)
{
  GstStructure *s = gst_structure_new ("vlm-set-question", "question", G_TYPE_STRING, question,
                                       NULL);
  if (element)
    gst_structure_set (s, "element", G_TYPE_STRING, element, NULL);
  return gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, s);
}

/* The event applies from the buffer right after it (frame-accurate), even
 * with frames queued before it; it is passed on; targets by name. */
GST_START_TEST (test_question_event)
{
  GstHarness *h = vqa_harness ("question=\"first?\"");
  GstElement *q = vqa_element (h);
  /* queue up: two frames, the event, two frames — nothing pulled between */
  GstBuffer *refs[4];
  for (guint i = 0; i < 4; i++) {
    if (i == 2)
      fail_unless (gst_harness_push_event (h, question_event ("second?", NULL)));
    GstBuffer *in = frame (i, i);
    refs[i] = gst_buffer_copy_deep (in);
    fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  }
  const gchar *expect[4] = { "first?", "first?", "second?", "second?" };
  VlmGitParams params = { 1, 20, 1.0f };
  for (guint i = 0; i < 4; i++) {
    GstBuffer *out = gst_harness_pull (h);
    GstCustomMeta *m = gst_buffer_get_vlm_answer_meta (out, git_id);
    fail_unless (m != NULL);
    fail_unless_equals_string (gst_vlm_answer_meta_get_question (m), expect[i]);
    gdouble score;
    gboolean truncated, qtrunc;
    g_autofree gchar *a = engine_answer (refs[i], expect[i], &params, &score, &truncated,
                                         &qtrunc);
    fail_unless_equals_string (gst_vlm_answer_meta_get_answer (m), a);
    gst_buffer_unref (out);
    gst_buffer_unref (refs[i]);
  }
  /* the property follows; the event went on downstream */
  gchar *prop = NULL;
  g_object_get (q, "question", &prop, NULL);
  fail_unless_equals_string (prop, "second?");
  g_free (prop);
  GstEvent *ev;
  gboolean forwarded = FALSE;
  while ((ev = gst_harness_try_pull_event (h))) {
    forwarded |= GST_EVENT_TYPE (ev) == GST_EVENT_CUSTOM_DOWNSTREAM &&
                 gst_event_has_name (ev, "vlm-set-question");
    gst_event_unref (ev);
  }
  fail_unless (forwarded);

  /* aimed at another element: ignored; at this one: applied */
  fail_unless (gst_harness_push_event (h, question_event ("third?", "other")));
  g_autofree gchar *q4 = push_and_check (h, 0, 4, NULL);
  fail_unless_equals_string (q4, "second?");
  fail_unless (gst_harness_push_event (h, question_event ("third?", "q")));
  g_autofree gchar *q5 = push_and_check (h, 0, 5, NULL);
  fail_unless_equals_string (q5, "third?");

  /* no question field, or not a string: a warning, question kept */
  fail_unless (gst_harness_push_event (h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
      gst_structure_new ("vlm-set-question", "question", G_TYPE_INT, 3, NULL))));
  fail_unless (gst_harness_push_event (h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
      gst_structure_new_empty ("vlm-set-question"))));
  g_autofree gchar *q6 = push_and_check (h, 0, 6, NULL);
  fail_unless_equals_string (q6, "third?");
  fail_unless_equals_int (pop_warnings (h), 2);
  gst_object_unref (q);
  harness_done (h);
}
GST_END_TEST;

/* Empty question: no answer meta, no encoding, one warning; a question
 * later gives answers; empty by event too. */
GST_START_TEST (test_empty_question)
{
  GstHarness *h = vqa_harness ("question=\"  \"");
  GstElement *q = vqa_element (h);
  for (guint i = 0; i < 4; i++) {
    g_autofree gchar *question = push_and_check (h, i, i, NULL);
    fail_unless (question == NULL);
  }
  fail_unless_equals_int (pop_warnings (h), 1);
  fail_unless_equals_int (stats_u64 (q, "image-encodes"), 0);
  g_object_set (q, "question", "what?", NULL);
  g_autofree gchar *q4 = push_and_check (h, 1, 4, NULL);
  fail_unless_equals_string (q4, "what?");
  fail_unless (gst_harness_push_event (h, question_event ("", NULL)));
  g_autofree gchar *q5 = push_and_check (h, 1, 5, NULL);
  fail_unless (q5 == NULL);
  g_object_set (q, "question", NULL, NULL);
  g_autofree gchar *q6 = push_and_check (h, 1, 6, NULL);
  fail_unless (q6 == NULL);
  /* one warning per change to an empty question (NULL is the same "") */
  fail_unless_equals_int (pop_warnings (h), 1);
  /* a question of control characters only: no tokens, a warning too */
  g_object_set (q, "question", "\x01\x02", NULL);
  g_autofree gchar *q7 = push_and_check (h, 1, 7, NULL);
  fail_unless (q7 == NULL);
  fail_unless_equals_int (pop_warnings (h), 1);
  gst_object_unref (q);
  harness_done (h);
}
GST_END_TEST;

/* A question longer than the model's positions: answered from its
 * beginning, flagged, one warning per question. */
GST_START_TEST (test_long_question)
{
  GString *long_q = g_string_new ("why");
  for (guint i = 0; i < 200; i++)
    g_string_append (long_q, i % 2 ? " is it so" : " and how");
  g_string_append_c (long_q, '?');
  g_autofree gchar *props = g_strdup_printf ("question=\"%s\"", long_q->str);
  GstHarness *h = vqa_harness (props);
  GstElement *q = vqa_element (h);
  for (guint i = 0; i < 3; i++) {
    GstBuffer *in = frame (i, i);
    GstBuffer *ref = gst_buffer_copy_deep (in);
    fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
    GstBuffer *out = gst_harness_pull (h);
    GstCustomMeta *m = gst_buffer_get_vlm_answer_meta (out, NULL);
    fail_unless (m != NULL);
    fail_unless (gst_vlm_answer_meta_get_question_truncated (m));
    fail_unless_equals_string (gst_vlm_answer_meta_get_question (m), long_q->str);
    gdouble score;
    gboolean truncated, qtrunc = FALSE;
    VlmGitParams params = { 1, 20, 1.0f };
    g_autofree gchar *a = engine_answer (ref, long_q->str, &params, &score, &truncated, &qtrunc);
    fail_unless (qtrunc);
    fail_unless_equals_string (gst_vlm_answer_meta_get_answer (m), a);
    gst_buffer_unref (out);
    gst_buffer_unref (ref);
  }
  fail_unless_equals_int (pop_warnings (h), 1);
  /* another long question: another warning */
  g_string_append (long_q, " really");
  g_object_set (q, "question", long_q->str, NULL);
  g_free (push_and_check (h, 0, 3, NULL));
  g_free (push_and_check (h, 0, 4, NULL));
  fail_unless_equals_int (pop_warnings (h), 1);
  /* a short one: none */
  g_object_set (q, "question", "short?", NULL);
  g_free (push_and_check (h, 0, 5, NULL));
  fail_unless_equals_int (pop_warnings (h), 0);
  g_string_free (long_q, TRUE);
  gst_object_unref (q);
  harness_done (h);
}
GST_END_TEST;

/* The answer meta: typed API, field names, copies. */
GST_START_TEST (test_meta)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, 8, NULL);
  fail_unless (gst_buffer_add_vlm_answer_meta (b, "/models/vqa", "vqa0", "what color?", "red",
                                               -0.25, FALSE, TRUE) != NULL);
  GstBuffer *copies[2] = { gst_buffer_copy (b), gst_buffer_copy_deep (b) };
  for (guint i = 0; i < 2; i++) {
    GstCustomMeta *m = gst_buffer_get_vlm_answer_meta (copies[i], "/models/vqa");
    fail_unless (m != NULL);
    fail_unless_equals_string (gst_vlm_answer_meta_get_question (m), "what color?");
    fail_unless_equals_string (gst_vlm_answer_meta_get_answer (m), "red");
    fail_unless_equals_float (gst_vlm_answer_meta_get_score (m), -0.25);
    fail_if (gst_vlm_answer_meta_get_truncated (m));
    fail_unless (gst_vlm_answer_meta_get_question_truncated (m));
    fail_unless_equals_string (gst_vlm_answer_meta_get_model_id (m), "/models/vqa");
    GstStructure *s = gst_custom_meta_get_structure (gst_buffer_get_custom_meta (copies[i],
                                                                                 "VlmAnswerMeta"));
    fail_unless_equals_string (gst_structure_get_string (s, "answer"), "red");
    fail_unless_equals_string (gst_structure_get_string (s, "element"), "vqa0");
    fail_unless (gst_structure_has_field_typed (s, "score", G_TYPE_DOUBLE));
    fail_unless (gst_structure_has_field_typed (s, "question-truncated", G_TYPE_BOOLEAN));
    gst_buffer_unref (copies[i]);
  }
  fail_unless (gst_buffer_get_vlm_answer_meta (b, "/models/other") == NULL);
  fail_unless (gst_vlm_answer_meta_get_answer (NULL) == NULL);
  fail_unless (isinf (gst_vlm_answer_meta_get_score (NULL)));
  ASSERT_CRITICAL (gst_buffer_add_vlm_answer_meta (b, "/m", NULL, NULL, "a", 0, FALSE, FALSE));
  ASSERT_CRITICAL (gst_buffer_add_vlm_answer_meta (b, "/m", NULL, "q", NULL, 0, FALSE, FALSE));
  /* a caption meta is not an answer */
  GstCustomMeta *c = gst_buffer_add_vlm_caption_meta (b, "/models/vqa", NULL, "x", -1, FALSE);
  fail_unless (gst_vlm_answer_meta_get_question (c) == NULL);
  gst_buffer_unref (b);
}
GST_END_TEST;

/* The element's answer for a PNG equals `vlm ask` on the same file. */
GST_START_TEST (test_same_as_cli)
{
  const gchar *cli = g_getenv ("VLM_CLI");
  if (!cli) {
    GST_INFO ("VLM_CLI not set: skipped");
    return;
  }
  g_autofree gchar *tmp = g_dir_make_tmp ("vlmvqa-XXXXXX", NULL);
  g_autofree gchar *png = g_build_filename (tmp, "frame.png", NULL);
  g_autofree gchar *write = g_strdup_printf ("videotestsrc num-buffers=1 pattern=snow ! "
      "video/x-raw,format=RGB,width=50,height=38 ! pngenc ! filesink location=\"%s\"", png);
  GstElement *p = gst_parse_launch (write, NULL);
  gst_element_set_state (p, GST_STATE_PLAYING);
  GstMessage *msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p), 30 * GST_SECOND,
                                                GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS);
  gst_message_unref (msg);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);

  const gchar *question = "what is on the screen?";
  const gchar *argv[] = { cli, "ask", "--model", git_dir, "--device", "cpu", "--num-beams", "2",
                          png, question, NULL };
  g_autofree gchar *out = NULL;
  gint status = 0;
  fail_unless (g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                             &out, NULL, &status, NULL));
  fail_unless (g_spawn_check_wait_status (status, NULL), "vlm ask failed");
  g_autoptr (JsonParser) parser = json_parser_new ();
  fail_unless (json_parser_load_from_data (parser, out, -1, NULL), "%s", out);
  JsonObject *o = json_node_get_object (json_parser_get_root (parser));

  g_autofree gchar *launch = g_strdup_printf ("filesrc location=\"%s\" ! pngdec ! videoconvert ! "
      "video/x-raw,format=RGB ! vlmvqa model=\"%s\" device=cpu num-beams=2 question=\"%s\" ! "
      "fakesink", png, git_dir, question);
  p = gst_parse_launch (launch, NULL);
  gst_element_set_state (p, GST_STATE_PLAYING);
  const GstStructure *s = NULL;
  GstMessage *answer = NULL;
  while ((msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p), 60 * GST_SECOND,
              GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT))) {
    GstMessageType type = GST_MESSAGE_TYPE (msg);
    fail_if (type == GST_MESSAGE_ERROR);
    if (type == GST_MESSAGE_ELEMENT &&
        gst_structure_has_name (gst_message_get_structure (msg), "vlm-answer")) {
      answer = msg;
      continue;
    }
    gst_message_unref (msg);
    if (type == GST_MESSAGE_EOS)
      break;
  }
  fail_unless (answer != NULL);
  s = gst_message_get_structure (answer);
  fail_unless_equals_string (gst_structure_get_string (s, "answer"),
                             json_object_get_string_member (o, "answer"));
  gdouble score = 0;
  gst_structure_get_double (s, "score", &score);
  fail_unless (fabs (score - json_object_get_double_member (o, "score")) < 1e-9);
  gboolean truncated = FALSE;
  gst_structure_get_boolean (s, "truncated", &truncated);
  fail_unless_equals_int (truncated, json_object_get_boolean_member (o, "truncated"));
  gst_message_unref (answer);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  g_unlink (png);
  g_rmdir (tmp);
}
GST_END_TEST;

/* Bad input: a CLIP folder, a missing one; bad property values. */
GST_START_TEST (test_bad_input)
{
  const gchar *folders[2] = { clip_dir, "/nonexistent/vqa" };
  const gchar *reasons[2] = { "not a GIT model", "No such file" };
  for (guint i = 0; i < 2; i++) {
    GstElement *e = gst_element_factory_make ("vlmvqa", NULL);
    GstBus *bus = gst_bus_new ();
    gst_element_set_bus (e, bus);
    g_object_set (e, "model", folders[i], "question", "why?", NULL);
    fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED),
                            GST_STATE_CHANGE_FAILURE);
    GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    fail_unless (msg != NULL);
    g_autoptr (GError) err = NULL;
    gst_message_parse_error (msg, &err, NULL);
    fail_unless (strstr (err->message, reasons[i]) && strstr (err->message, folders[i]), "%s",
                 err->message);
    gst_message_unref (msg);
    gst_element_set_state (e, GST_STATE_NULL);
    gst_element_set_bus (e, NULL);
    gst_object_unref (bus);
    gst_object_unref (e);
  }
  GstElement *e = gst_element_factory_make ("vlmvqa", NULL);
  ASSERT_WARNING (g_object_set (e, "num-beams", 0, NULL));
  ASSERT_WARNING (g_object_set (e, "max-tokens", 600, NULL));
  ASSERT_WARNING (g_object_set (e, "question", "\xc3\x28", NULL));
  g_object_set (e, "question", "ok?", NULL);
  ASSERT_WARNING (g_object_set (e, "question", "bad \xff", NULL));
  gchar *question = NULL;
  g_object_get (e, "question", &question, NULL);
  fail_unless_equals_string (question, "ok?");
  g_free (question);
  gst_object_unref (e);
}
GST_END_TEST;

/* max-tokens so large that no question fits: a warning, no answers, no
 * error. */
GST_START_TEST (test_no_room)
{
  GstHarness *h = vqa_harness ("question=\"why?\" max-tokens=512");
  g_autofree gchar *q = push_and_check (h, 0, 0, NULL);
  fail_unless (q == NULL);
  fail_unless_equals_int (pop_warnings (h), 1);
  fail_if (gst_bus_pop_filtered (GST_ELEMENT_BUS (h->element), GST_MESSAGE_ERROR));
  harness_done (h);
}
GST_END_TEST;

static Suite *
vlmvqa_suite (void)
{
  Suite *s = suite_create ("vlmvqa");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 240);
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_same_as_engine);
  tcase_add_test (tc, test_question_property);
  tcase_add_test (tc, test_question_event);
  tcase_add_test (tc, test_empty_question);
  tcase_add_test (tc, test_long_question);
  tcase_add_test (tc, test_meta);
  tcase_add_test (tc, test_same_as_cli);
  tcase_add_test (tc, test_bad_input);
  tcase_add_test (tc, test_no_room);
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
  return gst_check_run_suite (vlmvqa_suite (), "vlmvqa", __FILE__);
}
