/* gst-vlm tests — pipelines of all four vlm elements driven hard, for the
 * leak check under valgrind (tests/valgrind/run.sh), the race check under
 * ThreadSanitizer (tests/tsan/run.sh) and, in short versions, the normal
 * test suite (issue 9, points 4 and 7).
 *
 *   stress-pipelines [--cycles N] [--changes N] [--shared N] [--device D]
 *
 *   --cycles N   N NULL → PLAYING → NULL cycles of one pipeline
 *                videotestsrc num-buffers=2 ! vlmembed ! vlmmatch !
 *                vlmcaption ! vlmvqa ! fakesink (+ the caption text pad),
 *                each running to EOS with every frame annotated
 *   --changes N  N property changes while that pipeline plays an endless
 *                source: vlmmatch labels, vlmvqa question, the interval of
 *                one of the four elements, in turn; a frame passes between
 *                two changes
 *   --shared N   two such pipelines at once, each at full speed over N
 *                frames of the same pattern, sharing one CLIP and one GIT
 *                instance (checked: one load each, four users each); the two
 *                must get the same embedding norms, labels, captions and
 *                answers for every frame
 *   --device D   the elements' device (default cpu)
 *   --fallback   with --shared: the device is expected to fail on the way
 *                (VLM_VULKAN_FAULT with device auto, VLM_DEVICE=vulkan:0):
 *                both pipelines must still annotate every frame and post at
 *                least one fallback warning; results may differ by device,
 *                so they are not compared
 *
 * Models: VLM_TEST_MODEL (CLIP folder) and VLM_TEST_GIT_MODEL (GIT folder).
 * Prints one line per phase with its figures; exits 1 on the first failure,
 * with the reason.
 */
#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>

static const gchar *clip_dir, *git_dir, *device = "cpu";

static void G_GNUC_PRINTF (1, 2) G_GNUC_NORETURN
die (const gchar *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_autofree gchar *msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_printerr ("stress-pipelines: FAIL: %s\n", msg);
  exit (1);
}

/* The four elements in a row; @src is the source with its options. */
static GstElement *
make_pipeline (const gchar *src, const gchar *name)
{
  g_autofree gchar *launch = g_strdup_printf (
      "%s ! video/x-raw,format=RGB,width=64,height=48,framerate=30/1 ! "
      "vlmembed name=e model=\"%s\" device=%s ! "
      "vlmmatch name=m model=\"%s\" device=%s labels=\"red,green,blue\" ! "
      "vlmcaption name=c model=\"%s\" device=%s max-tokens=4 ! "
      "vlmvqa name=q model=\"%s\" device=%s max-tokens=3 question=\"what color is it?\" ! "
      "fakesink name=sink c.text_src ! fakesink async=false",
      src, clip_dir, device, clip_dir, device, git_dir, device, git_dir, device);
  g_autoptr (GError) error = NULL;
  GstElement *p = gst_parse_launch (launch, &error);
  if (!p)
    die ("%s: %s", launch, error->message);
  gst_object_set_name (GST_OBJECT (p), name);
  return p;
}

static void
die_on_error (GstMessage *msg)
{
  if (GST_MESSAGE_TYPE (msg) != GST_MESSAGE_ERROR)
    return;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *debug = NULL;
  gst_message_parse_error (msg, &error, &debug);
  die ("error from %s: %s (%s)", GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)), error->message,
       debug ? debug : "");
}

/* Results of one run, by message name. */
typedef struct {
  guint embeddings, matches, captions, answers, warnings;
  GString *log;     /* one line per result: name pts value */
} Results;

static void
count_result (Results *r, GstMessage *msg)
{
  const GstStructure *s = gst_message_get_structure (msg);
  if (!s)
    return;
  const gchar *name = gst_structure_get_name (s);
  guint64 pts = 0;
  gst_structure_get_uint64 (s, "pts", &pts);
  if (g_str_equal (name, "vlm-embedding")) {
    gdouble norm = 0;
    gst_structure_get_double (s, "norm", &norm);
    r->embeddings++;
    if (r->log)
      g_string_append_printf (r->log, "embedding %" G_GUINT64_FORMAT " %.5f\n", pts, norm);
  } else if (g_str_equal (name, "vlm-match")) {
    r->matches++;
    if (r->log)
      g_string_append_printf (r->log, "match %" G_GUINT64_FORMAT " %s\n", pts,
                              gst_structure_get_string (s, "best-label"));
  } else if (g_str_equal (name, "vlm-caption")) {
    r->captions++;
    if (r->log)
      g_string_append_printf (r->log, "caption %" G_GUINT64_FORMAT " %s\n", pts,
                              gst_structure_get_string (s, "text"));
  } else if (g_str_equal (name, "vlm-answer")) {
    r->answers++;
    if (r->log)
      g_string_append_printf (r->log, "answer %" G_GUINT64_FORMAT " %s\n", pts,
                              gst_structure_get_string (s, "answer"));
  }
}

/* Runs @p from its current state to EOS, counting results. */
static void
run_to_eos (GstElement *p, Results *r)
{
  GstBus *bus = gst_element_get_bus (p);
  if (gst_element_set_state (p, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    die ("%s: cannot start", GST_OBJECT_NAME (p));
  for (;;) {
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, 600 * GST_SECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT | GST_MESSAGE_WARNING);
    if (!msg)
      die ("%s: no EOS within 600 s", GST_OBJECT_NAME (p));
    die_on_error (msg);
    gboolean eos = GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS;
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_WARNING)
      r->warnings++;
    else if (!eos)
      count_result (r, msg);
    gst_message_unref (msg);
    if (eos)
      break;
  }
  gst_object_unref (bus);
}

static void
cycles (guint n)
{
  GstElement *p = make_pipeline ("videotestsrc num-buffers=2 pattern=smpte", "cycles");
  gint64 t0 = g_get_monotonic_time ();
  Results r = { 0 };
  for (guint i = 0; i < n; i++) {
    Results one = { 0 };
    run_to_eos (p, &one);
    if (one.embeddings != 2 || one.matches != 2 || one.captions != 2 || one.answers != 2)
      die ("cycle %u: %u embeddings, %u matches, %u captions, %u answers (2 each expected)",
           i, one.embeddings, one.matches, one.captions, one.answers);
    if (gst_element_set_state (p, GST_STATE_NULL) != GST_STATE_CHANGE_SUCCESS)
      die ("cycle %u: PLAYING → NULL failed", i);
    r.embeddings += one.embeddings;
    r.captions += one.captions;
  }
  gst_object_unref (p);
  g_print ("cycles: %u NULL->PLAYING->NULL cycles, %u frames embedded, %u captioned, "
           "%.1f s\n", n, r.embeddings, r.captions, (g_get_monotonic_time () - t0) / 1e6);
}

typedef struct {
  GMutex lock;
  GCond cond;
  guint64 frames;
} FrameCounter;

static GstPadProbeReturn
count_frame (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  FrameCounter *c = user_data;
  g_mutex_lock (&c->lock);
  c->frames++;
  g_cond_broadcast (&c->cond);
  g_mutex_unlock (&c->lock);
  return GST_PAD_PROBE_OK;
}

static void
changes (guint n)
{
  GstElement *p = make_pipeline ("videotestsrc pattern=ball", "changes");
  GstElement *el[4];
  const gchar *names[4] = { "e", "m", "c", "q" };
  for (guint i = 0; i < 4; i++)
    el[i] = gst_bin_get_by_name (GST_BIN (p), names[i]);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  GstPad *pad = gst_element_get_static_pad (sink, "sink");
  FrameCounter counter = { 0 };
  g_mutex_init (&counter.lock);
  g_cond_init (&counter.cond);
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_frame, &counter, NULL);

  static const gchar *labels[] = {
    "red,green,blue", "a ball", "cat,dog,car,person,tree,sky,house", "x",
  };
  static const gchar *questions[] = {
    "what color is it?", "is there a ball?", "", "how many things are there in this picture?",
  };
  GstBus *bus = gst_element_get_bus (p);
  gint64 t0 = g_get_monotonic_time ();
  if (gst_element_set_state (p, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    die ("changes: cannot start");
  for (guint i = 0; i < n; i++) {
    switch (i % 3) {
      case 0:
        g_object_set (el[1], "labels", labels[(i / 3) % G_N_ELEMENTS (labels)], NULL);
        break;
      case 1:
        g_object_set (el[3], "question", questions[(i / 3) % G_N_ELEMENTS (questions)], NULL);
        break;
      default:
        g_object_set (el[(i / 3) % 4], "interval", 1 + (gint) ((i / 12) % 3), NULL);
        break;
    }
    /* let a frame through */
    g_mutex_lock (&counter.lock);
    guint64 seen = counter.frames;
    gint64 deadline = g_get_monotonic_time () + 120 * G_TIME_SPAN_SECOND;
    while (counter.frames == seen)
      if (!g_cond_wait_until (&counter.cond, &counter.lock, deadline))
        die ("changes: no frame within 120 s after change %u", i);
    g_mutex_unlock (&counter.lock);
    GstMessage *msg;
    while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR))) {
      die_on_error (msg);
      gst_message_unref (msg);
    }
  }
  if (gst_element_set_state (p, GST_STATE_NULL) != GST_STATE_CHANGE_SUCCESS)
    die ("changes: PLAYING → NULL failed");
  g_print ("changes: %u property changes while playing, %" G_GUINT64_FORMAT " frames, %.1f s\n",
           n, counter.frames, (g_get_monotonic_time () - t0) / 1e6);
  gst_object_unref (bus);
  gst_object_unref (pad);
  gst_object_unref (sink);
  for (guint i = 0; i < 4; i++)
    gst_object_unref (el[i]);
  gst_object_unref (p);
  g_mutex_clear (&counter.lock);
  g_cond_clear (&counter.cond);
}

typedef struct {
  GstElement *pipeline;
  Results results;
} Runner;

static gpointer
run_thread (gpointer data)
{
  Runner *r = data;
  run_to_eos (r->pipeline, &r->results);
  return NULL;
}

static guint64
stat_u64 (GstElement *p, const gchar *element, const gchar *field)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (p), element);
  GstStructure *s = NULL;
  g_object_get (e, "stats", &s, NULL);
  guint64 v = 0;
  guint u = 0;
  if (gst_structure_get_uint (s, field, &u))
    v = u;
  else
    gst_structure_get_uint64 (s, field, &v);
  gst_structure_free (s);
  gst_object_unref (e);
  return v;
}

static void
shared (guint n, gboolean fallback)
{
  g_autofree gchar *src = g_strdup_printf ("videotestsrc num-buffers=%u pattern=ball", n);
  Runner r[2] = {
    { make_pipeline (src, "shared-a"), { 0, 0, 0, 0, 0, g_string_new (NULL) } },
    { make_pipeline (src, "shared-b"), { 0, 0, 0, 0, 0, g_string_new (NULL) } },
  };
  guint loads0 = (guint) stat_u64 (r[0].pipeline, "e", "model-loads");
  for (guint i = 0; i < 2; i++)
    if (gst_element_set_state (r[i].pipeline, GST_STATE_PAUSED) == GST_STATE_CHANGE_FAILURE)
      die ("shared: cannot preroll pipeline %u", i);
  for (guint i = 0; i < 2; i++)
    if (gst_element_get_state (r[i].pipeline, NULL, NULL, 600 * GST_SECOND) ==
        GST_STATE_CHANGE_FAILURE)
      die ("shared: pipeline %u failed to preroll", i);
  guint loads = (guint) stat_u64 (r[0].pipeline, "e", "model-loads") - loads0;
  guint clip_users = (guint) stat_u64 (r[0].pipeline, "m", "model-users");
  guint git_users = (guint) stat_u64 (r[1].pipeline, "q", "model-users");
  if (loads != 2 || clip_users != 4 || git_users != 4)
    die ("shared: %u model loads (2 expected), %u CLIP users and %u GIT users (4 each "
         "expected)", loads, clip_users, git_users);

  gint64 t0 = g_get_monotonic_time ();
  GThread *t[2];
  for (guint i = 0; i < 2; i++)
    t[i] = g_thread_new ("runner", run_thread, &r[i]);
  for (guint i = 0; i < 2; i++)
    g_thread_join (t[i]);
  gdouble secs = (g_get_monotonic_time () - t0) / 1e6;
  for (guint i = 0; i < 2; i++) {
    Results *x = &r[i].results;
    if (x->embeddings != n || x->matches != n || x->captions != n || x->answers != n)
      die ("shared: pipeline %u: %u embeddings, %u matches, %u captions, %u answers (%u each "
           "expected)", i, x->embeddings, x->matches, x->captions, x->answers, n);
  }
  if (fallback && (!r[0].results.warnings || !r[1].results.warnings))
    die ("shared: the device was to fail: %u and %u warnings", r[0].results.warnings,
         r[1].results.warnings);
  if (!fallback && strcmp (r[0].results.log->str, r[1].results.log->str) != 0)
    die ("shared: the two pipelines got different results for the same frames:\n%s\n---\n%s",
         r[0].results.log->str, r[1].results.log->str);
  for (guint i = 0; i < 2; i++) {
    gst_element_set_state (r[i].pipeline, GST_STATE_NULL);
    gst_object_unref (r[i].pipeline);
    g_string_free (r[i].results.log, TRUE);
  }
  if (fallback)
    g_print ("shared: 2 pipelines x %u frames on one CLIP and one GIT instance (%s), the device "
             "failed, %u + %u fallback warnings, every frame annotated, %.1f s\n", n, device,
             r[0].results.warnings, r[1].results.warnings, secs);
  else
    g_print ("shared: 2 pipelines x %u frames on one CLIP and one GIT instance (%s), identical "
             "results, %.1f s\n", n, device, secs);
}

int
main (int argc, char **argv)
{
  gint n_cycles = 0, n_changes = 0, n_shared = 0;
  gboolean fallback = FALSE;
  const gchar *dev = NULL;
  GOptionEntry entries[] = {
    { "cycles", 0, 0, G_OPTION_ARG_INT, &n_cycles, "NULL→PLAYING→NULL cycles", "N" },
    { "changes", 0, 0, G_OPTION_ARG_INT, &n_changes, "property changes while playing", "N" },
    { "shared", 0, 0, G_OPTION_ARG_INT, &n_shared, "frames for each of two pipelines "
      "sharing the models", "N" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &dev, "the elements' device (default cpu)", "D" },
    { "fallback", 0, 0, G_OPTION_ARG_NONE, &fallback, "with --shared: the device fails on the "
      "way (VLM_VULKAN_FAULT), the elements fall back to the CPU", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- stress the vlm elements");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("stress-pipelines: %s\n", error->message);
    return 2;
  }
  clip_dir = g_getenv ("VLM_TEST_MODEL");
  git_dir = g_getenv ("VLM_TEST_GIT_MODEL");
  if (!clip_dir || !git_dir) {
    g_printerr ("stress-pipelines: set VLM_TEST_MODEL (CLIP) and VLM_TEST_GIT_MODEL (GIT)\n");
    return 2;
  }
  if (dev)
    device = dev;
  gst_init (NULL, NULL);
  if (n_cycles > 0)
    cycles ((guint) n_cycles);
  if (n_changes > 0)
    changes ((guint) n_changes);
  if (n_shared > 0)
    shared ((guint) n_shared, fallback);
  g_free ((gchar *) dev);
  g_option_context_free (g_steal_pointer (&ctx));
  gst_deinit ();
  return 0;
}
