/* gst-vlm — vlmembed and the shared element base: formats, interval, model
 * sharing, errors, state changes, messages, JSON lines.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Environment: VLM_TEST_MODEL (a tiny CLIP checkpoint), GST_PLUGIN_PATH (the
 * build folder holding libgstvlm.so).
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
#include "models/vlm-clip.h"

static const gchar *model_dir;
static gchar *model_id;   /* canonical folder */

static const gchar *formats[] = { "RGB", "RGBx", "BGRx", "RGBA", "BGRA", "NV12", "I420", "YV12" };

static gdouble
cosine (const gfloat *a, const gfloat *b, guint n)
{
  gdouble d = 0, na = 0, nb = 0;
  for (guint i = 0; i < n; i++) {
    d += (gdouble) a[i] * b[i];
    na += (gdouble) a[i] * a[i];
    nb += (gdouble) b[i] * b[i];
  }
  return d / sqrt (na * nb);
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

static GstHarness *
embed_harness (const gchar *extra)
{
  g_autofree gchar *launch = g_strdup_printf ("vlmembed name=e model=\"%s\" %s", model_dir,
                                              extra ? extra : "");
  return gst_harness_new_parse (launch);
}

/* Embedding of the videotestsrc SMPTE picture rendered in RGB at w×h,
 * converted to @format by videoconvert. Optionally hands back the frame. */
static gfloat *
embed_picture (const gchar *format, gint w, gint h, const gchar *device, guint *dim,
               GstBuffer **frame, GstCaps **caps)
{
  g_autofree gchar *extra = g_strdup_printf ("device=%s", device ? device : "cpu");
  GstHarness *hh = embed_harness (extra);
  g_autofree gchar *src = g_strdup_printf ("videotestsrc pattern=smpte ! "
      "video/x-raw,format=RGB,width=%d,height=%d,framerate=30/1 ! videoconvert ! "
      "capsfilter caps=video/x-raw,format=%s", w, h, format);
  gst_harness_add_src_parse (hh, src, FALSE);
  fail_unless_equals_int (gst_harness_push_from_src (hh), GST_FLOW_OK);
  GstBuffer *buf = gst_harness_pull (hh);
  GstCustomMeta *meta = gst_buffer_get_vlm_embedding_meta (buf, model_id);
  fail_unless (meta != NULL, "%s %dx%d: no embedding", format, w, h);
  const gfloat *v = gst_vlm_embedding_meta_get_vector (meta, dim);
  fail_unless (v != NULL && *dim > 0);
  gfloat *out = g_memdup2 (v, *dim * sizeof (gfloat));
  if (caps)
    *caps = gst_pad_get_current_caps (hh->sinkpad);
  if (frame)
    *frame = buf;
  else
    gst_buffer_unref (buf);
  gst_harness_teardown (hh);
  return out;
}

/* Every supported format gives the RGB frame's embedding (chroma
 * subsampling and 8-bit YUV rounding stay inside the tolerance). */
GST_START_TEST (test_formats)
{
  const gint sizes[][2] = { { 320, 240 }, { 97, 61 }, { 64, 128 } };
  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++) {
    guint dim = 0, d = 0;
    g_autofree gfloat *ref = embed_picture ("RGB", sizes[s][0], sizes[s][1], NULL, &dim, NULL,
                                            NULL);
    for (guint f = 1; f < G_N_ELEMENTS (formats); f++) {
      g_autofree gfloat *v = embed_picture (formats[f], sizes[s][0], sizes[s][1], NULL, &d,
                                            NULL, NULL);
      fail_unless_equals_int (d, dim);
      gdouble c = cosine (ref, v, dim);
      GST_INFO ("%dx%d %s: cosine %.6f", sizes[s][0], sizes[s][1], formats[f], c);
      fail_unless (c >= 0.999, "%dx%d %s: cosine %.6f against RGB", sizes[s][0], sizes[s][1],
                   formats[f], c);
    }
  }
}
GST_END_TEST;

/* The element's embedding equals the engine's on the same bytes (the CLI
 * path), and is L2-normalised. */
GST_START_TEST (test_same_as_engine)
{
  guint dim = 0;
  GstBuffer *frame = NULL;
  GstCaps *caps = NULL;
  g_autofree gfloat *elem = embed_picture ("RGB", 97, 61, NULL, &dim, &frame, &caps);
  GstVideoInfo info;
  fail_unless (gst_video_info_from_caps (&info, caps));

  g_autoptr (GError) error = NULL;
  g_autoptr (VlmDevice) dev = vlm_device_open ("cpu", &error);
  fail_unless (dev != NULL, "%s", error ? error->message : "");
  g_autoptr (VlmClipModel) m = vlm_clip_model_load (model_dir, dev, VLM_DTYPE_F32, &error);
  fail_unless (m != NULL, "%s", error ? error->message : "");
  fail_unless_equals_int (dim, vlm_clip_model_get_config (m)->projection_dim);

  GstMapInfo map;
  fail_unless (gst_buffer_map (frame, &map, GST_MAP_READ));
  VlmFrame vf = { map.data, map.size, { 0 } };
  vf.params.format = VLM_PIXEL_RGB;
  vf.params.width = 97;
  vf.params.height = 61;
  vf.params.stride[0] = GST_VIDEO_INFO_PLANE_STRIDE (&info, 0);
  g_autofree gfloat *ref = g_new0 (gfloat, dim);
  fail_unless (vlm_clip_encode_frames (m, &vf, 1, ref, &error), "%s",
               error ? error->message : "");
  gst_buffer_unmap (frame, &map);

  gdouble c = cosine (ref, elem, dim), n = 0;
  for (guint i = 0; i < dim; i++)
    n += (gdouble) elem[i] * elem[i];
  fail_unless (c >= 0.99999, "cosine %.7f against vlm_clip_encode_frames", c);
  fail_unless (fabs (sqrt (n) - 1.0) < 1e-4, "norm %f", sqrt (n));
  gst_buffer_unref (frame);
  gst_caps_unref (caps);
}
GST_END_TEST;

/* Vulkan (lavapipe here) gives the CPU backend's embedding. */
GST_START_TEST (test_vulkan)
{
  g_autoptr (GArray) devices = NULL;
  if (!vlm_vulkan_list_devices (&devices, NULL) || !devices || devices->len == 0) {
    GST_INFO ("no Vulkan device: skipped");
    return;
  }
  guint d1 = 0, d2 = 0;
  g_autofree gfloat *cpu = embed_picture ("NV12", 160, 120, "cpu", &d1, NULL, NULL);
  g_autofree gfloat *vk = embed_picture ("NV12", 160, 120, "vulkan:0", &d2, NULL, NULL);
  fail_unless_equals_int (d1, d2);
  gdouble c = cosine (cpu, vk, d1);
  fail_unless (c >= 0.999, "Vulkan vs CPU cosine %.6f", c);
}
GST_END_TEST;

GST_START_TEST (test_interval)
{
  GstHarness *h = embed_harness ("interval=3");
  gst_harness_add_src_parse (h, "videotestsrc ! "
                             "capsfilter caps=video/x-raw,format=I420,width=64,height=48", FALSE);
  for (guint i = 0; i < 10; i++) {
    fail_unless_equals_int (gst_harness_push_from_src (h), GST_FLOW_OK);
    GstBuffer *b = gst_harness_pull (h);
    gboolean has = gst_buffer_get_vlm_embedding_meta (b, model_id) != NULL;
    fail_unless_equals_int (has, i % 3 == 0);
    gst_buffer_unref (b);
  }
  GstElement *e = gst_bin_get_by_name (GST_BIN (h->element), "e");
  fail_unless_equals_int (stats_u64 (e, "frames-seen"), 10);
  fail_unless_equals_int (stats_u64 (e, "frames-processed"), 4);
  fail_unless_equals_int (stats_u64 (e, "image-encodes"), 4);
  /* changed while playing */
  g_object_set (e, "interval", 1, NULL);
  fail_unless_equals_int (gst_harness_push_from_src (h), GST_FLOW_OK);
  GstBuffer *b = gst_harness_pull (h);
  fail_unless (gst_buffer_get_vlm_embedding_meta (b, model_id) != NULL);
  gst_buffer_unref (b);
  gst_object_unref (e);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* The video passes through untouched, and non-writable input (a tee) is not
 * modified: the meta goes on a new buffer sharing the memory. */
GST_START_TEST (test_passthrough)
{
  GstHarness *h = embed_harness (NULL);
  gst_harness_set_src_caps_str (h, "video/x-raw,format=RGBx,width=32,height=16,"
                                "framerate=30/1");
  GstBuffer *in = gst_buffer_new_allocate (NULL, 32 * 16 * 4, NULL);
  gst_buffer_memset (in, 0, 0x5a, 32 * 16 * 4);
  GST_BUFFER_PTS (in) = 5 * GST_SECOND;
  gst_buffer_ref (in);   /* not writable now */
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  GstBuffer *out = gst_harness_pull (h);
  fail_unless (gst_buffer_get_vlm_embedding_meta (out, NULL) != NULL);
  fail_unless (gst_buffer_get_vlm_embedding_meta (in, NULL) == NULL);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 5 * GST_SECOND);
  fail_unless (gst_buffer_peek_memory (out, 0) == gst_buffer_peek_memory (in, 0));
  GstMapInfo map;
  fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
  for (gsize i = 0; i < map.size; i++)
    fail_unless (map.data[i] == 0x5a);
  gst_buffer_unmap (out, &map);
  /* the meta survives a copy of the output */
  GstBuffer *copy = gst_buffer_copy (out);
  guint d1 = 0, d2 = 0;
  const gfloat *a = gst_vlm_embedding_meta_get_vector (gst_buffer_get_vlm_embedding_meta (out,
                                                       NULL), &d1);
  const gfloat *b = gst_vlm_embedding_meta_get_vector (gst_buffer_get_vlm_embedding_meta (copy,
                                                       NULL), &d2);
  fail_unless (d1 == d2 && d1 > 0 && memcmp (a, b, d1 * sizeof (gfloat)) == 0);
  gst_buffer_unref (copy);
  gst_buffer_unref (out);
  gst_buffer_unref (in);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Plays @pipeline to EOS; returns its "vlm-*" element messages in order. */
static GList *
run_to_eos (GstElement *pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GList *results = NULL;
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  for (;;) {
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT);
    fail_unless (msg != NULL, "timeout");
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      g_autoptr (GError) err = NULL;
      gst_message_parse_error (msg, &err, NULL);
      fail ("error: %s", err->message);
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
      gst_message_unref (msg);
      break;
    }
    if (g_str_has_prefix (gst_structure_get_name (gst_message_get_structure (msg)), "vlm-"))
      results = g_list_append (results, msg);
    else
      gst_message_unref (msg);
  }
  gst_object_unref (bus);
  return results;
}

/* Two elements on one model folder (one of them through a symlink) load
 * it once; another device string is another instance. */
GST_START_TEST (test_shared_model)
{
  g_autofree gchar *tmp = g_dir_make_tmp ("vlm-link-XXXXXX", NULL);
  g_autofree gchar *link = g_build_filename (tmp, "model", NULL);
  fail_unless (symlink (model_id, link) == 0);

  g_autofree gchar *launch = g_strdup_printf ("videotestsrc num-buffers=3 ! "
      "vlmembed name=a model=\"%s\" ! vlmembed name=b model=\"%s\" ! fakesink", model_dir, link);
  GstElement *pipeline = gst_parse_launch (launch, NULL);
  fail_unless (pipeline != NULL);
  GstElement *a = gst_bin_get_by_name (GST_BIN (pipeline), "a");
  GstElement *b = gst_bin_get_by_name (GST_BIN (pipeline), "b");
  guint64 loads0 = stats_u64 (a, "model-loads");
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
  fail_unless_equals_int (gst_element_get_state (pipeline, NULL, NULL, GST_CLOCK_TIME_NONE),
                          GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int (stats_u64 (a, "model-loads") - loads0, 1);
  fail_unless_equals_int (stats_u64 (a, "model-users"), 2);
  fail_unless_equals_int (stats_u64 (b, "model-users"), 2);
  g_list_free_full (run_to_eos (pipeline), (GDestroyNotify) gst_message_unref);
  fail_unless_equals_int (stats_u64 (b, "model-loads") - loads0, 1);
  fail_unless_equals_int (stats_u64 (a, "image-encodes"), 3);
  fail_unless_equals_int (stats_u64 (b, "image-encodes"), 3);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  fail_unless_equals_int (stats_u64 (a, "model-users"), 0);

  /* device strings differ: two instances */
  loads0 = stats_u64 (a, "model-loads");
  g_object_set (a, "device", "cpu", NULL);
  g_object_set (b, "device", "auto", NULL);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
  gst_element_get_state (pipeline, NULL, NULL, GST_CLOCK_TIME_NONE);
  fail_unless_equals_int (stats_u64 (a, "model-loads") - loads0, 2);
  fail_unless_equals_int (stats_u64 (a, "model-users"), 1);
  gst_element_set_state (pipeline, GST_STATE_NULL);

  gst_object_unref (a);
  gst_object_unref (b);
  gst_object_unref (pipeline);
  g_unlink (link);
  g_rmdir (tmp);
}
GST_END_TEST;

static gchar *
error_text (GstMessage *msg)
{
  g_autoptr (GError) err = NULL;
  g_autofree gchar *dbg = NULL;
  gst_message_parse_error (msg, &err, &dbg);
  return g_strdup_printf ("%s | %s", err->message, dbg ? dbg : "");
}

/* Caps change mid-stream (size and format): the next frames use them. */
GST_START_TEST (test_renegotiate)
{
  GstHarness *h = embed_harness ("device=cpu");
  const struct { const gchar *caps; gsize size; } steps[] = {
    { "video/x-raw,format=RGB,width=40,height=30,framerate=30/1", 40 * 30 * 3 },
    { "video/x-raw,format=NV12,width=64,height=48,framerate=30/1", 64 * 48 * 3 / 2 },
    { "video/x-raw,format=BGRA,width=17,height=9,framerate=30/1", 17 * 9 * 4 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (steps); i++) {
    gst_harness_set_src_caps_str (h, steps[i].caps);
    GstBuffer *in = gst_buffer_new_allocate (NULL, steps[i].size, NULL);
    gst_buffer_memset (in, 0, 0x80, steps[i].size);
    fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
    GstBuffer *out = gst_harness_pull (h);
    guint dim = 0;
    fail_unless (gst_vlm_embedding_meta_get_vector (gst_buffer_get_vlm_embedding_meta (out,
                                                    model_id), &dim) != NULL);
    fail_unless (dim > 0);
    gst_buffer_unref (out);
  }
  gst_harness_teardown (h);
}
GST_END_TEST;

static void
expect_load_error_on (const gchar *folder, const gchar *device, const gchar *expect)
{
  GstElement *e = gst_element_factory_make ("vlmembed", NULL);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (e, bus);
  if (folder)
    g_object_set (e, "model", folder, NULL);
  if (device)
    g_object_set (e, "device", device, NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "no error message for %s", folder);
  g_autofree gchar *text = error_text (msg);
  GST_INFO ("%s", text);
  fail_unless (strstr (text, expect) != NULL, "\"%s\" does not mention \"%s\"", text, expect);
  gst_message_unref (msg);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (bus);
  gst_object_unref (e);
}

static void
expect_load_error (const gchar *folder, const gchar *expect)
{
  expect_load_error_on (folder, NULL, expect);
}

GST_START_TEST (test_missing_model)
{
  expect_load_error ("/nonexistent/clip-model", "/nonexistent/clip-model");
  /* no model: the demo CLIP model, here made absent; the error says where it looked */
  g_setenv ("VLM_DEMO_MODELS", "/nonexistent/demo-models", TRUE);
  expect_load_error (NULL, "/nonexistent/demo-models/clip");
  g_unsetenv ("VLM_DEMO_MODELS");
  g_autofree gchar *empty = g_dir_make_tmp ("vlm-empty-XXXXXX", NULL);
  expect_load_error (empty, empty);
  g_rmdir (empty);
  /* a well-formed device string naming no device */
  expect_load_error_on (model_dir, "vulkan:99", "vulkan:99");
}
GST_END_TEST;

GST_START_TEST (test_bad_properties)
{
  GstElement *e = gst_element_factory_make ("vlmembed", NULL);
  gchar *s = NULL;
  const gchar *bad[] = { "gpu", "vulkan:", "vulkan:x", "", "vulkan:-1", "CPU" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    ASSERT_WARNING (g_object_set (e, "device", bad[i], NULL));
    g_object_get (e, "device", &s, NULL);
    fail_unless_equals_string (s, "auto");
    g_free (s);
  }
  ASSERT_WARNING (g_object_set (e, "device", NULL, NULL));
  g_object_set (e, "device", "vulkan:1", NULL);
  g_object_get (e, "device", &s, NULL);
  fail_unless_equals_string (s, "vulkan:1");
  g_free (s);
  g_object_set (e, "device", "cpu", NULL);

  gint interval = 0;
  g_object_set (e, "interval", 4, NULL);
  ASSERT_WARNING (g_object_set (e, "interval", 0, NULL));
  ASSERT_WARNING (g_object_set (e, "interval", -3, NULL));
  g_object_get (e, "interval", &interval, NULL);
  fail_unless_equals_int (interval, 4);

  /* model and device are fixed while running */
  g_object_set (e, "model", model_dir, NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_SUCCESS);
  ASSERT_WARNING (g_object_set (e, "model", "/elsewhere", NULL));
  ASSERT_WARNING (g_object_set (e, "device", "auto", NULL));
  g_object_get (e, "model", &s, NULL);
  fail_unless_equals_string (s, model_dir);
  g_free (s);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_object_unref (e);
}
GST_END_TEST;

GST_START_TEST (test_unsupported_caps)
{
  /* the element itself, not in a bin: a ghost pad would refuse the caps
   * before the element sees them */
  GstElement *e = gst_element_factory_make ("vlmembed", NULL);
  g_object_set (e, "model", model_dir, NULL);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (e, bus);
  GstHarness *h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  GstCaps *caps = gst_caps_from_string ("video/x-raw,format=GRAY8,width=64,height=48,"
                                        "framerate=30/1");
  gst_pad_push_event (h->srcpad, gst_event_new_caps (caps));
  gst_caps_unref (caps);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  g_autofree gchar *text = error_text (msg);
  GST_INFO ("%s", text);
  fail_unless (strstr (text, "NV12") && strstr (text, "RGBA") && strstr (text, "GRAY8"), "%s",
               text);
  gst_message_unref (msg);
  /* buffers after that are refused, without a crash */
  GstSegment segment;
  gst_segment_init (&segment, GST_FORMAT_TIME);
  gst_pad_push_event (h->srcpad, gst_event_new_segment (&segment));
  GstBuffer *buf = gst_buffer_new_allocate (NULL, 64 * 48, NULL);
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_NOT_NEGOTIATED);

  /* and a buffer too small for its caps is an error, not a crash */
  gst_harness_set_src_caps_str (h, "video/x-raw,format=RGB,width=64,height=48,"
                                "framerate=30/1");
  buf = gst_buffer_new_allocate (NULL, 100, NULL);
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_ERROR);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

static guint64
wait_processed (GstElement *e, guint64 n)
{
  guint64 got = 0;
  for (gint i = 0; i < 3000 && (got = stats_u64 (e, "frames-processed")) < n; i++)
    g_usleep (10000);
  return got;
}

GST_START_TEST (test_state_changes)
{
  g_autofree gchar *launch = g_strdup_printf ("videotestsrc is-live=true ! "
      "video/x-raw,width=64,height=48,framerate=100/1 ! vlmembed name=e model=\"%s\" ! "
      "fakesink sync=true", model_dir);
  GstElement *pipeline = gst_parse_launch (launch, NULL);
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), "e");
  guint64 loads0 = stats_u64 (e, "model-loads");
  for (gint i = 0; i < 5; i++) {
    fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
    fail_unless (wait_processed (e, 3) >= 3, "cycle %d: no frames", i);
    fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
                            GST_STATE_CHANGE_SUCCESS);
    fail_unless_equals_int (stats_u64 (e, "model-users"), 0);
  }
  /* READY <-> PAUSED, and PLAYING <-> PAUSED */
  for (gint i = 0; i < 3; i++) {
    fail_unless (gst_element_set_state (pipeline, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
    fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
    fail_unless (wait_processed (e, 2) >= 2);
    fail_unless (gst_element_set_state (pipeline, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
    fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_READY),
                            GST_STATE_CHANGE_SUCCESS);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  fail_unless_equals_int (stats_u64 (e, "model-loads") - loads0, 8);
  gst_object_unref (e);
  gst_object_unref (pipeline);
}
GST_END_TEST;

/* One "vlm-embedding" message per processed frame, with times. */
GST_START_TEST (test_messages)
{
  g_autofree gchar *launch = g_strdup_printf ("videotestsrc num-buffers=6 ! "
      "video/x-raw,width=64,height=48 ! vlmembed name=e interval=2 model=\"%s\" ! fakesink",
      model_dir);
  GstElement *pipeline = gst_parse_launch (launch, NULL);
  GList *msgs = run_to_eos (pipeline);
  guint n = 0;
  for (GList *l = msgs; l; l = l->next) {
    const GstStructure *s = gst_message_get_structure (l->data);
    fail_unless (gst_structure_has_name (s, "vlm-embedding"));
    guint64 pts = 0, rt = 0, st = 0;
    guint dim = 0;
    gdouble norm = 0;
    fail_unless (gst_structure_get_uint64 (s, "pts", &pts));
    fail_unless (gst_structure_get_uint64 (s, "running-time", &rt));
    fail_unless (gst_structure_get_uint64 (s, "stream-time", &st));
    fail_unless (gst_structure_get_uint (s, "dimension", &dim));
    fail_unless (gst_structure_get_double (s, "norm", &norm));
    fail_unless_equals_string (gst_structure_get_string (s, "model-id"), model_id);
    fail_unless (GST_CLOCK_TIME_IS_VALID (pts) && rt == pts && st == pts);
    fail_unless (dim > 0 && fabs (norm - 1.0) < 1e-4);
    fail_unless_equals_uint64 (pts, gst_util_uint64_scale (2 * n, GST_SECOND, 30));
    n++;
  }
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  fail_unless_equals_int (n, 3);
  gst_element_set_state (pipeline, GST_STATE_NULL);

  /* post-messages=false: none */
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), "e");
  g_object_set (e, "post-messages", FALSE, NULL);
  gst_object_unref (e);
  msgs = run_to_eos (pipeline);
  fail_unless (msgs == NULL);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
}
GST_END_TEST;

/* vlmjsonsink: one object per processed frame with pts and every result. */
GST_START_TEST (test_json_lines)
{
  g_autofree gchar *tmp = g_dir_make_tmp ("vlm-json-XXXXXX", NULL);
  g_autofree gchar *path = g_build_filename (tmp, "out.jsonl", NULL);
  g_autofree gchar *launch = g_strdup_printf ("videotestsrc num-buffers=5 ! "
      "video/x-raw,width=64,height=48 ! vlmembed name=e model=\"%s\" interval=2 ! "
      "vlmmatch name=m model=\"%s\" labels=\"red, green,blue \" ! vlmjsonsink location=\"%s\" "
      "vectors=true", model_dir, model_dir, path);
  GstElement *pipeline = gst_parse_launch (launch, NULL);
  g_list_free_full (run_to_eos (pipeline), (GDestroyNotify) gst_message_unref);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);

  g_autofree gchar *text = NULL;
  fail_unless (g_file_get_contents (path, &text, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  fail_unless_equals_int (g_strv_length (lines), 6);   /* 5 lines + "" */
  fail_unless_equals_string (lines[5], "");
  for (guint i = 0; i < 5; i++) {
    g_autoptr (JsonParser) parser = json_parser_new ();
    g_autoptr (GError) error = NULL;
    fail_unless (json_parser_load_from_data (parser, lines[i], -1, &error), "line %u: %s", i,
                 error ? error->message : "");
    JsonObject *o = json_node_get_object (json_parser_get_root (parser));
    fail_unless_equals_uint64 (json_object_get_int_member (o, "pts"),
                               gst_util_uint64_scale (i, GST_SECOND, 30));
    JsonArray *results = json_object_get_array_member (o, "results");
    fail_unless_equals_int (json_array_get_length (results), 2);
    JsonObject *emb = json_array_get_object_element (results, 0);
    JsonObject *match = json_array_get_object_element (results, 1);
    fail_unless_equals_string (json_object_get_string_member (emb, "meta"), "VlmEmbeddingMeta");
    /* even frames: vlmembed's; odd ones: vlmmatch encoded them itself */
    fail_unless_equals_string (json_object_get_string_member (emb, "element"),
                               i % 2 ? "m" : "e");
    fail_unless_equals_string (json_object_get_string_member (emb, "model-id"), model_id);
    JsonArray *vec = json_object_get_array_member (emb, "vector");
    gint64 dim = json_object_get_int_member (emb, "dimension");
    fail_unless_equals_int (json_array_get_length (vec), dim);
    gdouble n = 0;
    for (guint k = 0; k < dim; k++)
      n += pow (json_array_get_double_element (vec, k), 2);
    fail_unless (fabs (sqrt (n) - 1) < 1e-4);
    fail_unless_equals_string (json_object_get_string_member (match, "meta"), "VlmMatchMeta");
    fail_unless_equals_string (json_object_get_string_member (match, "mode"), "classify");
    JsonArray *labels = json_object_get_array_member (match, "labels");
    fail_unless_equals_int (json_array_get_length (labels), 3);
    fail_unless_equals_string (json_array_get_string_element (labels, 0), "red");
    fail_unless_equals_string (json_array_get_string_element (labels, 1), "green");
    fail_unless_equals_string (json_array_get_string_element (labels, 2), "blue");
    JsonArray *scores = json_object_get_array_member (match, "scores");
    gdouble sum = 0;
    for (guint k = 0; k < 3; k++)
      sum += json_array_get_double_element (scores, k);
    fail_unless (fabs (sum - 1) < 1e-4);
    fail_unless (json_object_has_member (match, "best-label"));
  }
  g_unlink (path);
  g_rmdir (tmp);
}
GST_END_TEST;

static Suite *
vlmembed_suite (void)
{
  Suite *s = suite_create ("vlmembed");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 240);
  tcase_add_test (tc, test_formats);
  tcase_add_test (tc, test_same_as_engine);
  tcase_add_test (tc, test_vulkan);
  tcase_add_test (tc, test_interval);
  tcase_add_test (tc, test_passthrough);
  tcase_add_test (tc, test_renegotiate);
  tcase_add_test (tc, test_shared_model);
  tcase_add_test (tc, test_missing_model);
  tcase_add_test (tc, test_bad_properties);
  tcase_add_test (tc, test_unsupported_caps);
  tcase_add_test (tc, test_state_changes);
  tcase_add_test (tc, test_messages);
  tcase_add_test (tc, test_json_lines);
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
  return gst_check_run_suite (vlmembed_suite (), "vlmembed", __FILE__);
}
