/* vlm index / vlm watch — video into the index, and standing queries on streams.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Both run GStreamer pipelines ending in the vlm plugin's elements:
 *
 *   index: uridecodebin ─► videoconvert ─► [one frame per --every s] ─► vlmembed
 *            [─► vlmcaption] ─► appsink → frames into the SQLite store (vlm-store.h)
 *   watch: uridecodebin | --pipeline ─► videoconvert ─► [one frame per --every s] ─►
 *            queue ─► vlmembed ─► vlmmatch mode=detect ─► fakesink; "vlm-detect"
 *            bus messages → appear / disappear lines
 *
 * Frames are chosen by a pad probe before the embedding: the first frame
 * whose stream time is at or after each multiple of --every is kept, the
 * others are dropped before any conversion or model work.
 */
#include <errno.h>
#include <glib-unix.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <json-glib/json-glib.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vlm-cmd.h"
#include "vlm-meta.h"
#include "vlm-store.h"
#include "models/vlm-clip.h"

/* ------------------------------------------------------------------------ */
/* shared: options, frame selection, pipeline pieces */

static gboolean
device_spec_ok (const gchar *spec)
{
  if (!spec || !strcmp (spec, "auto") || !strcmp (spec, "cpu") || !strcmp (spec, "vulkan"))
    return TRUE;
  if (!g_str_has_prefix (spec, "vulkan:") || !spec[7])
    return FALSE;
  for (const gchar *p = spec + 7; *p; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  return TRUE;
}

/* "1:02:03.5" / "2:03.5" */
static gchar *
format_time (gint64 ns)
{
  if (ns < 0)
    return g_strdup ("?");
  gdouble s = ns / 1e9;
  gint h = (gint) (s / 3600);
  gint m = (gint) (fmod (s, 3600) / 60);
  gdouble sec = fmod (s, 60);
  return h ? g_strdup_printf ("%d:%02d:%04.1f", h, m, sec)
           : g_strdup_printf ("%d:%04.1f", m, sec);
}

typedef struct {
  GMutex lock;
  GstClockTime every;        /* 0: every frame */
  GstClockTime next;         /* stream time of the next frame to keep */
  GstSegment segment;
  guint64 seen;
  guint64 kept;
} FrameSelector;

static GstPadProbeReturn
select_frames (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  FrameSelector *fs = data;
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
    if (GST_EVENT_TYPE (ev) == GST_EVENT_SEGMENT) {
      const GstSegment *seg;
      gst_event_parse_segment (ev, &seg);
      g_mutex_lock (&fs->lock);
      gst_segment_copy_into (seg, &fs->segment);
      g_mutex_unlock (&fs->lock);
    }
    return GST_PAD_PROBE_OK;
  }
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  g_mutex_lock (&fs->lock);
  fs->seen++;
  GstClockTime t = GST_CLOCK_TIME_NONE;
  if (GST_BUFFER_PTS_IS_VALID (buf) && fs->segment.format == GST_FORMAT_TIME)
    t = gst_segment_to_stream_time (&fs->segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buf));
  gboolean keep;
  if (fs->every == 0)
    keep = TRUE;
  else if (!GST_CLOCK_TIME_IS_VALID (t))
    keep = FALSE;  /* cannot be placed in time */
  else if (t >= fs->next || !GST_CLOCK_TIME_IS_VALID (fs->next)) {
    keep = TRUE;
    fs->next = (t / fs->every + 1) * fs->every;
  } else
    keep = FALSE;
  if (keep)
    fs->kept++;
  g_mutex_unlock (&fs->lock);
  return keep ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
}

static void
frame_selector_init (FrameSelector *fs, GstClockTime every)
{
  g_mutex_init (&fs->lock);
  fs->every = every;
  fs->next = 0;
  gst_segment_init (&fs->segment, GST_FORMAT_UNDEFINED);
}

static void
frame_selector_set_next (FrameSelector *fs, GstClockTime next)
{
  g_mutex_lock (&fs->lock);
  fs->next = next;
  g_mutex_unlock (&fs->lock);
}

typedef struct {
  GstElement *pipeline;
  GstElement *convert;       /* where decoded video goes */
  gint video_pads;
  gboolean no_more_pads;
} DecodeState;

static void
on_pad_added (GstElement *decode, GstPad *pad, gpointer data)
{
  DecodeState *d = data;
  GstCaps *caps = gst_pad_get_current_caps (pad);
  if (!caps)
    caps = gst_pad_query_caps (pad, NULL);
  const gchar *name = gst_structure_get_name (gst_caps_get_structure (caps, 0));
  gboolean video = g_str_has_prefix (name, "video/");
  gst_caps_unref (caps);
  if (video && g_atomic_int_add (&d->video_pads, 1) == 0) {
    GstPad *sink = gst_element_get_static_pad (d->convert, "sink");
    GstPadLinkReturn r = gst_pad_link (pad, sink);
    gst_object_unref (sink);
    if (r == GST_PAD_LINK_OK)
      return;
    GST_ELEMENT_ERROR (decode, CORE, NEGOTIATION, (NULL),
                       ("cannot link the decoded video (%s)", gst_pad_link_get_name (r)));
    return;
  }
  /* audio, subtitles, a second video stream: consumed and ignored */
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
  gst_bin_add (GST_BIN (d->pipeline), sink);
  gst_element_sync_state_with_parent (sink);
  GstPad *sinkpad = gst_element_get_static_pad (sink, "sink");
  gst_pad_link (pad, sinkpad);
  gst_object_unref (sinkpad);
}

static void
on_no_more_pads (GstElement *decode, gpointer data)
{
  DecodeState *d = data;
  if (g_atomic_int_get (&d->video_pads) == 0)
    GST_ELEMENT_ERROR (decode, STREAM, WRONG_TYPE, ("no video stream"),
                       ("the media has no video stream (only audio or other data)"));
}

static GstElement *
make (const gchar *factory, const gchar *name, GError **error)
{
  GstElement *e = gst_element_factory_make (factory, name);
  if (!e)
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
                 "the GStreamer element \"%s\" is missing (%s)", factory,
                 g_str_has_prefix (factory, "vlm")
                 ? "is GST_PLUGIN_PATH pointing at the vlm plugin?"
                 : "install gstreamer1.0-plugins-base/-good");
  return e;
}

/* make() + gst_bin_add(): the bin owns the element */
static GstElement *
add (GstElement *bin, const gchar *factory, const gchar *name, GError **error)
{
  GstElement *e = make (factory, name, error);
  if (e)
    gst_bin_add (GST_BIN (bin), e);
  return e;
}

/* An error message's text plus the useful part of its debug string
 * (GST_ELEMENT_ERROR puts "file.c(line): function (): /element/path:" on
 * the first line; the details, when any, follow on the next). */
static gchar *
describe_error (GstMessage *msg, GQuark *domain, gint *code)
{
  GError *err = NULL;
  gchar *dbg = NULL;
  gst_message_parse_error (msg, &err, &dbg);
  const gchar *detail = dbg ? strchr (dbg, '\n') : NULL;
  detail = detail ? detail + 1 : NULL;
  gchar *text = detail && *detail && !strstr (err->message, detail)
                ? g_strdup_printf ("%s (%s)", err->message, detail)
                : g_strdup (err->message);
  if (domain)
    *domain = err->domain;
  if (code)
    *code = err->code;
  g_error_free (err);
  g_free (dbg);
  return text;
}

/* Pops the first error on @bus, if any, as a GError; also reports EOS. */
static gboolean
bus_error (GstBus *bus, GError **error, gboolean *eos)
{
  GstMessage *msg;
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR | GST_MESSAGE_EOS))) {
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
      if (eos)
        *eos = TRUE;
      gst_message_unref (msg);
      continue;
    }
    GQuark domain;
    gint code;
    g_autofree gchar *text = describe_error (msg, &domain, &code);
    g_set_error_literal (error, domain, code, text);
    gst_message_unref (msg);
    return TRUE;
  }
  return FALSE;
}

/* SIGINT/SIGTERM during `vlm index`: finish the current frame, commit, stop. */
static volatile sig_atomic_t interrupted;

static void
on_signal (int sig)
{
  interrupted = sig;
}

/* ------------------------------------------------------------------------ */
/* vlm index */

typedef struct {
  gchar *db;
  gchar *model;
  gchar *device;
  gdouble every;
  gboolean captions;
  gchar *caption_model;
  gboolean quiet;
  gint batch;
} IndexOptions;

typedef struct {
  IndexOptions *o;
  VlmStore *store;
  gchar *model_dir;          /* canonical */
  gchar *caption_dir;        /* canonical, with --captions */
  gchar *caption_fp;
  gint dim;
  gboolean progress;         /* a bar on a terminal */
} Indexer;

typedef struct {
  gchar *uri;
  gchar *path;               /* canonical local path, NULL for other URIs */
  gchar *shown;              /* the argument as given */
  gint64 size;
  gint64 mtime_ns;
} VideoSource;

static void
video_source_clear (VideoSource *v)
{
  g_free (v->uri);
  g_free (v->path);
  g_free (v->shown);
}

/* A path or a URI → URI, canonical path, size and mtime. */
static gboolean
resolve_video (const gchar *arg, VideoSource *v, GError **error)
{
  memset (v, 0, sizeof *v);
  v->shown = g_strdup (arg);
  v->size = v->mtime_ns = -1;
  if (strstr (arg, "://") && gst_uri_is_valid (arg)) {
    if (!g_str_has_prefix (arg, "file://")) {
      v->uri = g_strdup (arg);
      return TRUE;
    }
    v->path = g_filename_from_uri (arg, NULL, error);
    if (!v->path)
      return FALSE;
  } else {
    v->path = g_strdup (arg);
  }
  struct stat st;
  if (stat (v->path, &st) != 0) {
    int e = errno;
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "%s: %s", arg,
                 g_strerror (e));
    return FALSE;
  }
  if (S_ISDIR (st.st_mode)) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_ISDIR, "%s: is a directory, not a video",
                 arg);
    return FALSE;
  }
  if (access (v->path, R_OK) != 0) {
    int e = errno;
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "%s: cannot read: %s", arg,
                 g_strerror (e));
    return FALSE;
  }
  char *canon = realpath (v->path, NULL);
  if (canon) {
    g_free (v->path);
    v->path = g_strdup (canon);
    free (canon);
  }
  v->size = st.st_size;
  v->mtime_ns = (gint64) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  v->uri = gst_filename_to_uri (v->path, error);
  return v->uri != NULL;
}

typedef struct {
  GstElement *pipeline;
  GstElement *appsink;
  DecodeState decode;
  FrameSelector select;
} IndexPipeline;

static void
index_pipeline_clear (IndexPipeline *p)
{
  if (p->pipeline) {
    gst_element_set_state (p->pipeline, GST_STATE_NULL);
    gst_object_unref (p->pipeline);
  }
  g_mutex_clear (&p->select.lock);
}

static gboolean
build_index_pipeline (Indexer *ix, const VideoSource *v, IndexPipeline *p, GError **error)
{
  memset (p, 0, sizeof *p);
  frame_selector_init (&p->select, (GstClockTime) llround (ix->o->every * GST_SECOND));
  GstElement *decode, *convert, *embed, *caption = NULL, *sink, *text_sink = NULL;
  p->pipeline = gst_pipeline_new ("vlm-index");
  if (!(decode = add (p->pipeline, "uridecodebin", "decode", error)) ||
      !(convert = add (p->pipeline, "videoconvert", "convert", error)) ||
      !(embed = add (p->pipeline, "vlmembed", "embed", error)) ||
      !(sink = add (p->pipeline, "appsink", "sink", error)))
    return FALSE;
  g_object_set (decode, "uri", v->uri, NULL);
  g_object_set (embed, "model", ix->model_dir, "post-messages", FALSE, NULL);
  if (ix->o->device)
    g_object_set (embed, "device", ix->o->device, NULL);
  g_object_set (sink, "sync", FALSE, "max-buffers", 4, "drop", FALSE, "emit-signals", FALSE,
                NULL);
  gboolean linked;
  if (ix->caption_dir) {
    if (!(caption = add (p->pipeline, "vlmcaption", "caption", error)) ||
        !(text_sink = add (p->pipeline, "fakesink", "text-sink", error)))
      return FALSE;
    g_object_set (caption, "model", ix->caption_dir, "post-messages", FALSE, NULL);
    if (ix->o->device)
      g_object_set (caption, "device", ix->o->device, NULL);
    g_object_set (text_sink, "sync", FALSE, "async", FALSE, NULL);
    linked = gst_element_link_many (convert, embed, caption, sink, NULL) &&
             gst_element_link_pads (caption, "text_src", text_sink, "sink");
  } else {
    linked = gst_element_link_many (convert, embed, sink, NULL);
  }
  if (!linked) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
                 "cannot link the indexing pipeline");
    return FALSE;
  }
  p->appsink = sink;
  p->decode.pipeline = p->pipeline;
  p->decode.convert = convert;
  g_signal_connect (decode, "pad-added", G_CALLBACK (on_pad_added), &p->decode);
  g_signal_connect (decode, "no-more-pads", G_CALLBACK (on_no_more_pads), &p->decode);
  GstPad *pad = gst_element_get_static_pad (convert, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                     select_frames, &p->select, NULL);
  gst_object_unref (pad);
  return TRUE;
}

/* Waits for PAUSED (or an error): the file is readable and the model loaded. */
static gboolean
preroll (GstElement *pipeline, GError **error)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstStateChangeReturn r = gst_element_set_state (pipeline, GST_STATE_PAUSED);
  gboolean ok = r != GST_STATE_CHANGE_FAILURE;
  while (ok && r == GST_STATE_CHANGE_ASYNC) {
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, 200 * GST_MSECOND,
                                                  GST_MESSAGE_ERROR | GST_MESSAGE_ASYNC_DONE);
    if (interrupted) {
      g_clear_pointer (&msg, gst_message_unref);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "interrupted");
      ok = FALSE;
      break;
    }
    if (!msg)
      continue;
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ASYNC_DONE) {
      gst_message_unref (msg);
      break;
    }
    GQuark domain;
    gint code;
    g_autofree gchar *text = describe_error (msg, &domain, &code);
    g_set_error_literal (error, domain, code, text);
    gst_message_unref (msg);
    ok = FALSE;
  }
  if (ok && r == GST_STATE_CHANGE_FAILURE)
    ok = FALSE;
  if (!ok && error && !*error && !bus_error (bus, error, NULL))
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_STATE_CHANGE,
                 "the pipeline did not start");
  gst_object_unref (bus);
  return ok;
}

typedef struct {
  gint64 t0_us;
  gint64 last_draw_us;
  guint64 frames;
} Progress;

static void
draw_progress (Indexer *ix, const VideoSource *v, Progress *pr, gint64 pos, gint64 dur,
               gboolean force)
{
  if (!ix->progress)
    return;
  gint64 now = g_get_monotonic_time ();
  if (!force && now - pr->last_draw_us < 200000)
    return;
  pr->last_draw_us = now;
  gdouble elapsed = (now - pr->t0_us) / 1e6;
  gdouble fps = elapsed > 0 ? pr->frames / elapsed : 0;
  g_autofree gchar *base = g_path_get_basename (v->path ? v->path : v->uri);
  g_autofree gchar *p = format_time (pos), *d = format_time (dur);
  GString *line = g_string_new (NULL);
  g_string_append_printf (line, "\r%-.24s ", base);
  if (dur > 0 && pos >= 0) {
    gdouble frac = CLAMP ((gdouble) pos / dur, 0, 1);
    gint fill = (gint) (frac * 24);
    g_string_append_c (line, '[');
    for (gint i = 0; i < 24; i++)
      g_string_append_c (line, i < fill ? '#' : '.');
    g_string_append_printf (line, "] %3d%%  %s/%s  %.1f frames/s", (gint) (frac * 100), p, d,
                            fps);
    if (frac > 0.01 && elapsed > 1) {
      g_autofree gchar *eta = format_time ((gint64) (elapsed * (1 - frac) / frac * 1e9));
      g_string_append_printf (line, "  ETA %s", eta);
    }
  } else {
    g_string_append_printf (line, "%s  %.1f frames/s", p, fps);
  }
  g_string_append (line, "\033[K");
  fputs (line->str, stderr);
  fflush (stderr);
  g_string_free (line, TRUE);
}

static void
end_progress (Indexer *ix)
{
  if (ix->progress) {
    fputs ("\r\033[K", stderr);
    fflush (stderr);
  }
}

typedef enum { INDEX_OK, INDEX_SKIPPED, INDEX_FAILED, INDEX_INTERRUPTED } IndexResult;

static void
say (Indexer *ix, const gchar *fmt, ...) G_GNUC_PRINTF (2, 3);

static void
say (Indexer *ix, const gchar *fmt, ...)
{
  if (ix->o->quiet)
    return;
  va_list ap;
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
  fflush (stdout);
}

/* Stores one sample's frame; FALSE with @error on a store failure. */
static gboolean
store_sample (Indexer *ix, gint64 video_id, GstSample *sample, gint64 *pos, gboolean *stored,
              GError **error)
{
  *stored = FALSE;
  GstBuffer *buf = gst_sample_get_buffer (sample);
  const GstSegment *seg = gst_sample_get_segment (sample);
  if (!buf || !GST_BUFFER_PTS_IS_VALID (buf))
    return TRUE;
  GstClockTime t = GST_BUFFER_PTS (buf);
  if (seg && seg->format == GST_FORMAT_TIME)
    t = gst_segment_to_stream_time (seg, GST_FORMAT_TIME, t);
  if (!GST_CLOCK_TIME_IS_VALID (t))
    return TRUE;
  GstCustomMeta *meta = gst_buffer_get_vlm_embedding_meta (buf, NULL);
  guint dim = 0;
  const gfloat *vec = meta ? gst_vlm_embedding_meta_get_vector (meta, &dim) : NULL;
  if (!vec || (gint) dim != ix->dim)
    return TRUE;  /* not an embedded frame */
  const gchar *caption = NULL;
  if (ix->caption_dir) {
    GstCustomMeta *cm = gst_buffer_get_vlm_caption_meta (buf, NULL);
    caption = cm ? gst_vlm_caption_meta_get_text (cm) : NULL;
  }
  *pos = (gint64) t;
  if (!vlm_store_add_frame (ix->store, video_id, (gint64) t, vec, caption, error))
    return FALSE;
  *stored = TRUE;
  return TRUE;
}

/* Ends a video that failed part-way: keeps its frames (a later run
 * resumes), or forgets it when it has none. */
static void
abandon_video (Indexer *ix, const VideoSource *v, gint64 video_id, guint64 stored)
{
  g_autoptr (GError) error = NULL;
  gboolean deleted = FALSE;
  if (!vlm_store_abandon_video (ix->store, video_id, &deleted, &error))
    fprintf (stderr, "vlm index: %s\n", error->message);
  else if (!deleted)
    fprintf (stderr, "vlm index: %s stays partly indexed (%" G_GUINT64_FORMAT
             " frames this run; run again to resume)\n", v->shown, stored);
}

/* Runs a prerolled pipeline to the end, storing every embedded frame. */
static IndexResult
run_index (Indexer *ix, const VideoSource *v, const VlmStoreVideo *old, const gchar *why,
           gboolean resume, IndexPipeline *p)
{
  g_autoptr (GError) error = NULL;
  gint64 every_ns = llround (ix->o->every * 1e9);
  gint64 video_id = -1, duration = -1, pos = -1;
  guint64 stored = 0;
  gint64 t0 = g_get_monotonic_time ();
  if (!gst_element_query_duration (p->pipeline, GST_FORMAT_TIME, &duration))
    duration = -1;
  if (why)
    say (ix, "re-indexing %s (%s)", v->shown, why);
  VlmStoreVideo row = {
    .uri = v->uri, .path = v->path, .size = v->size, .mtime_ns = v->mtime_ns,
    .every_ns = every_ns, .caption_model = ix->caption_fp,
  };
  if (!vlm_store_begin_video (ix->store, &row, resume, &video_id, &error)) {
    fprintf (stderr, "vlm index: %s\n", error->message);
    return INDEX_FAILED;
  }
  if (resume) {
    GstClockTime next = ((GstClockTime) old->last_pts_ns / every_ns + 1) * every_ns;
    g_autofree gchar *at = format_time ((gint64) next);
    say (ix, "resuming %s at %s (%" G_GINT64_FORMAT " frames already indexed)", v->shown, at,
         old->n_frames);
    frame_selector_set_next (&p->select, next);
    /* to a key frame at or before the point; the selector drops what
     * precedes it. Where seeking fails, decoding starts from the beginning
     * and the selector skips what is already stored. */
    gst_element_seek_simple (p->pipeline, GST_FORMAT_TIME,
                             GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_KEY_UNIT |
                             GST_SEEK_FLAG_SNAP_BEFORE, (gint64) next);
  }
  GstBus *bus = gst_element_get_bus (p->pipeline);
  gboolean failed = FALSE;
  if (gst_element_set_state (p->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    if (!bus_error (bus, &error, NULL))
      g_set_error (&error, GST_CORE_ERROR, GST_CORE_ERROR_STATE_CHANGE, "cannot start playing");
    fprintf (stderr, "vlm index: cannot index %s: %s\n", v->shown, error->message);
    failed = TRUE;
  }
  Progress pr = { .t0_us = g_get_monotonic_time () };
  while (!failed && !interrupted) {
    GstSample *sample = gst_app_sink_try_pull_sample (GST_APP_SINK (p->appsink),
                                                      100 * GST_MSECOND);
    if (sample) {
      gboolean is_frame;
      gboolean ok = store_sample (ix, video_id, sample, &pos, &is_frame, &error);
      gst_sample_unref (sample);
      if (!ok) {
        end_progress (ix);
        fprintf (stderr, "vlm index: %s\n", error->message);
        failed = TRUE;
        break;
      }
      if (is_frame) {
        stored++;
        pr.frames++;
      }
      draw_progress (ix, v, &pr, pos, duration, FALSE);
    }
    if (bus_error (bus, &error, NULL)) {
      end_progress (ix);
      fprintf (stderr, "vlm index: error while indexing %s: %s\n", v->shown, error->message);
      failed = TRUE;
      break;
    }
    if (!sample && gst_app_sink_is_eos (GST_APP_SINK (p->appsink)))
      break;
  }
  gst_object_unref (bus);
  end_progress (ix);
  if (failed) {
    abandon_video (ix, v, video_id, stored);
    return INDEX_FAILED;
  }
  if (interrupted) {
    if (!vlm_store_commit (ix->store, &error))
      fprintf (stderr, "vlm index: %s\n", error->message);
    say (ix, "interrupted: %s partly indexed (%" G_GUINT64_FORMAT " frames this run); run "
         "again to resume", v->shown, stored);
    return INDEX_INTERRUPTED;
  }
  if (duration < 0 && !gst_element_query_duration (p->pipeline, GST_FORMAT_TIME, &duration))
    duration = -1;
  if (!vlm_store_finish_video (ix->store, video_id, duration, &error)) {
    fprintf (stderr, "vlm index: %s\n", error->message);
    return INDEX_FAILED;
  }
  gdouble secs = (g_get_monotonic_time () - t0) / 1e6;
  g_autofree gchar *d = format_time (duration);
  gint64 total = (resume ? old->n_frames : 0) + (gint64) stored;
  say (ix, "indexed %s: %" G_GINT64_FORMAT " frames of %s in %.1f s (%.1f frames/s)",
       v->shown, total, d, secs, secs > 0 ? stored / secs : 0.0);
  return INDEX_OK;
}

static IndexResult
index_video (Indexer *ix, const gchar *arg)
{
  g_autoptr (GError) error = NULL;
  VideoSource v;
  if (!resolve_video (arg, &v, &error)) {
    fprintf (stderr, "vlm index: %s\n", error->message);
    video_source_clear (&v);
    return INDEX_FAILED;
  }
  gint64 every_ns = llround (ix->o->every * 1e9);
  g_auto (VlmStoreVideo) old = { 0 };
  gboolean found = FALSE, resume = FALSE;
  if (!vlm_store_find_video (ix->store, v.uri, &old, &found, &error)) {
    fprintf (stderr, "vlm index: %s\n", error->message);
    video_source_clear (&v);
    return INDEX_FAILED;
  }
  const gchar *why = NULL;
  if (found) {
    if (old.size != v.size || old.mtime_ns != v.mtime_ns)
      why = "the file changed";
    else if (old.every_ns != every_ns)
      why = "another --every";
    else if (ix->caption_fp && g_strcmp0 (old.caption_model, ix->caption_fp) != 0)
      why = old.caption_model ? "another caption model" : "captions wanted";
    if (!why && old.complete) {
      say (ix, "skipped %s: already indexed (%" G_GINT64_FORMAT " frames)", v.shown,
           old.n_frames);
      video_source_clear (&v);
      return INDEX_SKIPPED;
    }
    resume = !why && old.n_frames > 0;
  }
  /* nothing is written before the video is known to decode and the model
   * to load */
  IndexPipeline p;
  IndexResult result = INDEX_FAILED;
  if (!build_index_pipeline (ix, &v, &p, &error) || !preroll (p.pipeline, &error)) {
    if (interrupted)
      result = INDEX_INTERRUPTED;
    else
      fprintf (stderr, "vlm index: cannot index %s: %s\n", v.shown, error->message);
  } else {
    result = run_index (ix, &v, &old, why, resume, &p);
  }
  index_pipeline_clear (&p);
  video_source_clear (&v);
  return result;
}

static gchar *
canonical_dir (const gchar *dir, GError **error)
{
  char *c = realpath (dir, NULL);
  if (!c) {
    int e = errno;
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "model %s: %s", dir,
                 g_strerror (e));
    return NULL;
  }
  gchar *out = g_strdup (c);
  free (c);
  return out;
}

/* --model (or the index's recorded model) → identity checked against the
 * index; records it in a new index. */
static gboolean
bind_model (VlmStore *store, const gchar *given, gboolean record, VlmStoreModel *model,
            GError **error)
{
  g_auto (VlmStoreModel) have = { 0 };
  if (!vlm_store_get_model (store, &have, error))
    return FALSE;
  g_autofree gchar *demo = NULL;
  if (!given && !have.path) {
    /* a new index without --model: the demo CLIP */
    g_autoptr (GError) demo_error = NULL;
    demo = record ? vlm_demo_model_find (VLM_DEMO_MODEL_CLIP, &demo_error) : NULL;
    if (!demo) {
      g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_INVALID,
                   "%s has no model yet%s%s: give --model DIR", vlm_store_get_path (store),
                   demo_error ? " and " : "", demo_error ? demo_error->message : "");
      return FALSE;
    }
    given = demo;
  }
  g_autofree gchar *dir = canonical_dir (given ? given : have.path, error);
  if (!dir) {
    if (!given)
      g_prefix_error (error, "%s was built with model %s, which cannot be found (give "
                      "--model DIR with the same model): ", vlm_store_get_path (store),
                      have.path);
    return FALSE;
  }
  VlmClipConfig config;
  g_autoptr (GError) cfg_error = NULL;
  if (!vlm_clip_config_load (dir, &config, &cfg_error)) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_MODEL_FILES, "model %s: %s", dir,
                 cfg_error->message);
    return FALSE;
  }
  model->path = g_steal_pointer (&dir);
  model->dimension = config.projection_dim;
  if (!vlm_store_model_fingerprint (model->path, &model->fingerprint, error))
    return FALSE;
  return vlm_store_check_model (store, model, record, error);
}

/**
 * vlm_cmd_index:
 * @argc: argument count
 * @argv: arguments from the command name on
 *
 * `vlm index VIDEO… --db FILE [--model DIR] [--every S] [--captions
 * --caption-model DIR]`: embeds one frame every S seconds of each video
 * into the index; skips videos already indexed, resumes interrupted ones.
 *
 * Returns: the exit status: 0, 1 when a video failed, 2 for bad options,
 *   130 when interrupted.
 */
int
vlm_cmd_index (int argc, char **argv)
{
  IndexOptions o = { .every = 1.0 };
  GOptionEntry entries[] = {
    { "db", 0, 0, G_OPTION_ARG_FILENAME, &o.db, "the index (SQLite; created when missing)",
      "FILE" },
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &o.model,
      "CLIP model folder (default: the one the index was built with; for a new index, "
      "the demo CLIP)", "DIR" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &o.device,
      "auto (default), cpu, vulkan or vulkan:N", "DEV" },
    { "every", 'e', 0, G_OPTION_ARG_DOUBLE, &o.every,
      "seconds between indexed frames (default 1)", "SECONDS" },
    { "captions", 0, 0, G_OPTION_ARG_NONE, &o.captions,
      "caption each indexed frame (with --caption-model, or the demo GIT)", NULL },
    { "caption-model", 0, 0, G_OPTION_ARG_FILENAME, &o.caption_model,
      "GIT model folder for --captions (default: the demo GIT)", "DIR" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o.quiet, "print errors only", NULL },
    { "batch", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &o.batch,
      "frames per transaction (default 64)", "N" },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new ("VIDEO… — index videos for `vlm search`");
  g_option_context_set_summary (ctx,
      "Decodes each video (file path or URI) with GStreamer, embeds one frame every --every "
      "seconds with the CLIP model (vlmembed) and stores uri, time, embedding (and caption) "
      "in the SQLite index. Videos already indexed with the same model, interval and "
      "captions are skipped; changed files are re-indexed; interrupted ones resume.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  int status = 2;
  Indexer ix = { .o = &o };
  g_auto (VlmStoreModel) model = { 0 };
  g_autoptr (GError) error = NULL;
  if (!vlm_cmd_parse (ctx, &argc, &argv))
    goto done;
  if (!o.db) {
    fprintf (stderr, "vlm index: --db FILE is required\n");
    goto done;
  }
  if (argc < 2) {
    fprintf (stderr, "vlm index: give at least one video file or URI\n");
    goto done;
  }
  if (!(o.every >= 0.001 && o.every <= 86400)) {
    fprintf (stderr, "vlm index: --every must be a number of seconds in [0.001, 86400], not "
             "%g\n", o.every);
    goto done;
  }
  if (!device_spec_ok (o.device)) {
    fprintf (stderr, "vlm index: --device must be auto, cpu, vulkan or vulkan:N, not \"%s\"\n",
             o.device);
    goto done;
  }
  if (o.caption_model && !o.captions) {
    fprintf (stderr, "vlm index: --caption-model is only used with --captions\n");
    goto done;
  }
  if (o.captions && !o.caption_model &&
      !(o.caption_model = vlm_cmd_model_or_demo ("index", "--caption-model", NULL,
                                                 VLM_DEMO_MODEL_GIT)))
    goto done;
  if (o.batch < 0) {
    fprintf (stderr, "vlm index: --batch must be positive\n");
    goto done;
  }
  status = 1;
  gst_init (NULL, NULL);
  gst_vlm_meta_register ();
  if (o.captions) {
    GstElementFactory *f = gst_element_factory_find ("vlmcaption");
    if (!f) {
      fprintf (stderr, "vlm index: --captions is not yet available: the vlm plugin found "
               "by GStreamer has no vlmcaption element (is GST_PLUGIN_PATH pointing at a "
               "build with it?)\n");
      goto done;
    }
    gst_object_unref (f);
    ix.caption_dir = canonical_dir (o.caption_model, &error);
    if (!ix.caption_dir ||
        !vlm_store_model_fingerprint (ix.caption_dir, &ix.caption_fp, &error)) {
      fprintf (stderr, "vlm index: caption %s\n", error->message);
      goto done;
    }
  }
  ix.store = vlm_store_open (o.db, VLM_STORE_OPEN_CREATE, &error);
  if (!ix.store) {
    fprintf (stderr, "vlm index: %s\n", error->message);
    goto done;
  }
  if (vlm_store_get_migrated_from (ix.store))
    fprintf (stderr, "vlm index: migrated %s from schema version %d to %d\n", o.db,
             vlm_store_get_migrated_from (ix.store), VLM_STORE_SCHEMA_VERSION);
  if (o.batch)
    vlm_store_set_batch (ix.store, (guint) o.batch, 0);
  if (!bind_model (ix.store, o.model, TRUE, &model, &error)) {
    fprintf (stderr, "vlm index: %s\n", error->message);
    goto done;
  }
  ix.model_dir = model.path;
  ix.dim = model.dimension;
  ix.progress = !o.quiet && isatty (STDERR_FILENO);

  struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, &old_int);
  sigaction (SIGTERM, &sa, &old_term);
  gint failed = 0, done = 0, skipped = 0;
  for (gint i = 1; i < argc && !interrupted; i++) {
    IndexResult r = index_video (&ix, argv[i]);
    failed += r == INDEX_FAILED;
    done += r == INDEX_OK;
    skipped += r == INDEX_SKIPPED;
  }
  sigaction (SIGINT, &old_int, NULL);
  sigaction (SIGTERM, &old_term, NULL);
  if (argc > 2)
    say (&ix, "%d indexed, %d skipped, %d failed%s", done, skipped, failed,
         interrupted ? ", interrupted" : "");
  status = interrupted ? 130 : failed ? 1 : 0;

done:
  if (ix.store)
    vlm_store_close (ix.store);
  g_free (ix.caption_dir);
  g_free (ix.caption_fp);
  g_free (o.db);
  g_free (o.model);
  g_free (o.device);
  g_free (o.caption_model);
  return status;
}

/* ------------------------------------------------------------------------ */
/* vlm watch */

typedef struct {
  gchar *model;
  gchar *device;
  gdouble threshold;
  gdouble hysteresis;
  gdouble every;
  gchar *pipeline;
  gboolean realtime;
  gboolean json;
} WatchOptions;

#define EOS_GRACE_S 5

typedef struct {
  WatchOptions *o;
  GMainLoop *loop;
  GstElement *pipeline;
  GstElement *queue;
  gboolean live;
  gboolean eos_sent;
  guint eos_timer;
  int status;
  guint events;
} Watcher;

static void
print_event (Watcher *w, const GstStructure *s)
{
  const gchar *event = gst_structure_get_string (s, "event");
  const gchar *label = gst_structure_get_string (s, "label");
  const gchar *reason = gst_structure_get_string (s, "reason");
  gdouble score = 0, threshold = 0;
  guint64 pts = GST_CLOCK_TIME_NONE, stream = GST_CLOCK_TIME_NONE, start = GST_CLOCK_TIME_NONE;
  gst_structure_get_double (s, "score", &score);
  gst_structure_get_double (s, "threshold", &threshold);
  gst_structure_get_uint64 (s, "pts", &pts);
  gst_structure_get_uint64 (s, "stream-time", &stream);
  gst_structure_get_uint64 (s, "start-pts", &start);
  if (!event || !label)
    return;
  gboolean appear = strcmp (event, "start") == 0;
  GstClockTime t = GST_CLOCK_TIME_IS_VALID (stream) ? stream : pts;
  gdouble secs = GST_CLOCK_TIME_IS_VALID (t) ? t / 1e9 : -1;
  gdouble lasted = !appear && GST_CLOCK_TIME_IS_VALID (start) && GST_CLOCK_TIME_IS_VALID (pts)
                   && pts >= start ? (pts - start) / 1e9 : -1;
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree gchar *wall = g_date_time_format_iso8601 (now);
  w->events++;
  if (w->o->json) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "event");
    json_builder_add_string_value (b, appear ? "appear" : "disappear");
    json_builder_set_member_name (b, "label");
    json_builder_add_string_value (b, label);
    json_builder_set_member_name (b, "time");
    if (secs >= 0)
      json_builder_add_double_value (b, secs);
    else
      json_builder_add_null_value (b);
    json_builder_set_member_name (b, "score");
    json_builder_add_double_value (b, score);
    json_builder_set_member_name (b, "threshold");
    json_builder_add_double_value (b, threshold);
    if (!appear) {
      json_builder_set_member_name (b, "reason");
      json_builder_add_string_value (b, reason ? reason : "");
      json_builder_set_member_name (b, "duration");
      if (lasted >= 0)
        json_builder_add_double_value (b, lasted);
      else
        json_builder_add_null_value (b);
    }
    json_builder_set_member_name (b, "wallclock");
    json_builder_add_string_value (b, wall);
    json_builder_end_object (b);
    g_autoptr (JsonNode) root = json_builder_get_root (b);
    g_autofree gchar *text = json_to_string (root, FALSE);
    printf ("%s\n", text);
  } else {
    g_autofree gchar *ts = format_time (GST_CLOCK_TIME_IS_VALID (t) ? (gint64) t : -1);
    printf ("%10s  %-9s  \"%s\"  score %.4f", ts, appear ? "appear" : "disappear", label,
            score);
    if (!appear) {
      printf ("  (%s", reason ? reason : "");
      if (lasted >= 0)
        printf (", lasted %.1f s", lasted);
      printf (")");
    }
    if (w->live) {
      g_autofree gchar *clock = g_date_time_format (now, "%H:%M:%S");
      printf ("  at %s", clock);
    }
    printf ("\n");
  }
  fflush (stdout);
}

static gboolean
on_bus (GstBus *bus, GstMessage *msg, gpointer data)
{
  Watcher *w = data;
  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ELEMENT: {
      const GstStructure *s = gst_message_get_structure (msg);
      if (s && gst_structure_has_name (s, "vlm-detect"))
        print_event (w, s);
      break;
    }
    case GST_MESSAGE_ERROR: {
      g_autofree gchar *text = describe_error (msg, NULL, NULL);
      fprintf (stderr, "vlm watch: %s\n", text);
      w->status = 1;
      g_main_loop_quit (w->loop);
      break;
    }
    case GST_MESSAGE_EOS:
      g_main_loop_quit (w->loop);
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

/* EOS did not come through (a source stuck connecting): give up. */
static gboolean
on_eos_timeout (gpointer data)
{
  Watcher *w = data;
  fprintf (stderr, "vlm watch: the stream did not end within %d s; stopping\n",
           EOS_GRACE_S);
  w->status = 130;
  w->eos_timer = 0;
  g_main_loop_quit (w->loop);
  return G_SOURCE_REMOVE;
}

/* Ctrl-C: end the stream cleanly (vlmmatch posts "end" for present labels);
 * a second Ctrl-C, or no EOS within a few seconds, quits at once. */
static gboolean
on_interrupt (gpointer data)
{
  Watcher *w = data;
  if (w->eos_sent) {
    w->status = 130;
    g_main_loop_quit (w->loop);
    return G_SOURCE_CONTINUE;
  }
  w->eos_sent = TRUE;
  gst_element_send_event (w->pipeline, gst_event_new_eos ());
  w->eos_timer = g_timeout_add_seconds (EOS_GRACE_S, on_eos_timeout, w);
  return G_SOURCE_CONTINUE;
}

static GstElement *
build_watch_source (Watcher *w, const gchar *uri, DecodeState *d, GstElement *convert,
                    GError **error)
{
  if (w->o->pipeline) {
    GError *perr = NULL;
    /* a trailing identity makes "v4l2src ! video/x-raw,width=640" valid
     * (caps are only allowed between two elements) and gives one src pad */
    g_autofree gchar *desc = g_strdup_printf ("%s ! identity silent=true", w->o->pipeline);
    GstElement *bin = gst_parse_bin_from_description (desc, TRUE, &perr);
    if (!bin) {
      g_set_error (error, perr ? perr->domain : GST_CORE_ERROR,
                   perr ? perr->code : GST_CORE_ERROR_FAILED, "--pipeline \"%s\": %s",
                   w->o->pipeline, perr ? perr->message : "cannot be parsed");
      g_clear_error (&perr);
      return NULL;
    }
    if (perr) {  /* parsed with a recoverable problem (e.g. a missing property) */
      g_set_error (error, perr->domain, perr->code, "--pipeline \"%s\": %s", w->o->pipeline,
                   perr->message);
      g_error_free (perr);
      gst_object_unref (gst_object_ref_sink (bin));
      return NULL;
    }
    GstPad *src = gst_element_get_static_pad (bin, "src");
    if (!src) {
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
                   "--pipeline \"%s\" has no free source pad to take video from",
                   w->o->pipeline);
      gst_object_unref (gst_object_ref_sink (bin));
      return NULL;
    }
    gst_object_unref (src);
    gst_bin_add (GST_BIN (w->pipeline), bin);
    if (!gst_element_link (bin, convert)) {
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
                   "--pipeline \"%s\" does not give raw video", w->o->pipeline);
      return NULL;
    }
    return bin;
  }
  GstElement *decode = make ("uridecodebin", "decode", error);
  if (!decode)
    return NULL;
  gst_bin_add (GST_BIN (w->pipeline), decode);
  g_object_set (decode, "uri", uri, NULL);
  d->pipeline = w->pipeline;
  d->convert = convert;
  g_signal_connect (decode, "pad-added", G_CALLBACK (on_pad_added), d);
  g_signal_connect (decode, "no-more-pads", G_CALLBACK (on_no_more_pads), d);
  return decode;
}

static int
run_watch (WatchOptions *o, const gchar *uri, const gchar *text)
{
  g_autoptr (GError) error = NULL;
  Watcher w = { .o = o, .status = 0 };
  DecodeState d = { 0 };
  FrameSelector fs;
  frame_selector_init (&fs, (GstClockTime) llround (o->every * GST_SECOND));
  w.pipeline = gst_pipeline_new ("vlm-watch");
  /* --realtime: clocksync paces a file like a camera, before the leaky queue */
  GstElement *convert, *pace = NULL, *queue, *embed, *match, *sink;
  if (!(convert = add (w.pipeline, "videoconvert", "convert", &error)) ||
      (o->realtime && !(pace = add (w.pipeline, "clocksync", "pace", &error))) ||
      !(queue = add (w.pipeline, "queue", "queue", &error)) ||
      !(embed = add (w.pipeline, "vlmembed", "embed", &error)) ||
      !(match = add (w.pipeline, "vlmmatch", "match", &error)) ||
      !(sink = add (w.pipeline, "fakesink", "sink", &error))) {
    fprintf (stderr, "vlm watch: %s\n", error->message);
    gst_object_unref (w.pipeline);
    g_mutex_clear (&fs.lock);
    return 1;
  }
  w.queue = queue;
  g_object_set (queue, "max-size-buffers", 2, "max-size-bytes", 0, "max-size-time",
                (guint64) 0, NULL);
  g_object_set (embed, "model", o->model, "post-messages", FALSE, NULL);
  g_object_set (match, "model", o->model, "labels", text, "post-messages", TRUE, NULL);
  gst_util_set_object_arg (G_OBJECT (match), "mode", "detect");
  g_object_set (match, "threshold", o->threshold, "hysteresis", o->hysteresis, NULL);
  if (o->device) {
    g_object_set (embed, "device", o->device, NULL);
    g_object_set (match, "device", o->device, NULL);
  }
  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
  gboolean linked = pace ? gst_element_link_many (convert, pace, queue, embed, match, sink, NULL)
                         : gst_element_link_many (convert, queue, embed, match, sink, NULL);
  if (!linked) {
    fprintf (stderr, "vlm watch: cannot link the pipeline\n");
    gst_object_unref (w.pipeline);
    g_mutex_clear (&fs.lock);
    return 1;
  }
  GstPad *pad = gst_element_get_static_pad (queue, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                     select_frames, &fs, NULL);
  gst_object_unref (pad);
  if (!build_watch_source (&w, uri, &d, convert, &error)) {
    fprintf (stderr, "vlm watch: %s\n", error->message);
    gst_object_unref (w.pipeline);
    g_mutex_clear (&fs.lock);
    return 1;
  }

  w.loop = g_main_loop_new (NULL, FALSE);
  GstBus *bus = gst_element_get_bus (w.pipeline);
  gst_bus_add_watch (bus, on_bus, &w);
  guint sig_int = g_unix_signal_add (SIGINT, on_interrupt, &w);
  guint sig_term = g_unix_signal_add (SIGTERM, on_interrupt, &w);
  GstStateChangeReturn r = gst_element_set_state (w.pipeline, GST_STATE_PLAYING);
  if (r == GST_STATE_CHANGE_NO_PREROLL || o->realtime) {
    /* live (or played like live): never fall behind, drop what the model
     * cannot keep up with */
    w.live = r == GST_STATE_CHANGE_NO_PREROLL;
    g_object_set (queue, "leaky", 2 /* downstream */, "max-size-buffers", 1, NULL);
  }
  if (r == GST_STATE_CHANGE_FAILURE) {
    /* the error message on the bus says why */
    GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    if (msg) {
      on_bus (bus, msg, &w);
      gst_message_unref (msg);
    } else {
      fprintf (stderr, "vlm watch: the pipeline did not start\n");
    }
    w.status = 1;
  } else {
    if (isatty (STDERR_FILENO))
      fprintf (stderr, "watching %s for \"%s\" (threshold %.3f)%s\n",
               o->pipeline ? o->pipeline : uri, text, o->threshold,
               w.live ? "; Ctrl-C to stop" : "");
    g_main_loop_run (w.loop);
  }
  if (w.eos_timer)
    g_source_remove (w.eos_timer);
  gst_element_set_state (w.pipeline, GST_STATE_NULL);
  g_source_remove (sig_int);
  g_source_remove (sig_term);
  gst_bus_remove_watch (bus);
  gst_object_unref (bus);
  gst_object_unref (w.pipeline);
  g_main_loop_unref (w.loop);
  g_mutex_clear (&fs.lock);
  return w.status;
}

/**
 * vlm_cmd_watch:
 * @argc: argument count
 * @argv: arguments from the command name on
 *
 * `vlm watch URI "TEXT" [--model DIR] [--threshold T]` (or `--pipeline DESC
 * "TEXT"` for a source such as v4l2src): prints when the text appears in the
 * video and when it disappears, from vlmmatch's detect mode.
 *
 * Returns: the exit status.
 */
int
vlm_cmd_watch (int argc, char **argv)
{
  WatchOptions o = { .threshold = 0.25, .hysteresis = 0.02, .every = 1.0 };
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &o.model,
      "CLIP model folder (default: the demo CLIP)", "DIR" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &o.device,
      "auto (default), cpu, vulkan or vulkan:N", "DEV" },
    { "threshold", 't', 0, G_OPTION_ARG_DOUBLE, &o.threshold,
      "cosine at which the text counts as present (default 0.25)", "T" },
    { "hysteresis", 0, 0, G_OPTION_ARG_DOUBLE, &o.hysteresis,
      "it disappears below threshold − this (default 0.02)", "H" },
    { "every", 'e', 0, G_OPTION_ARG_DOUBLE, &o.every,
      "seconds between analysed frames (default 1; 0: every frame)", "SECONDS" },
    { "pipeline", 'p', 0, G_OPTION_ARG_STRING, &o.pipeline,
      "a source pipeline giving raw video instead of URI, e.g. \"v4l2src\"", "DESC" },
    { "realtime", 0, 0, G_OPTION_ARG_NONE, &o.realtime,
      "play files at their own speed, as a live source (frames the model cannot keep up "
      "with are dropped)", NULL },
    { "json", 'j', 0, G_OPTION_ARG_NONE, &o.json, "one JSON object per event", NULL },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new ("URI \"TEXT\" — print when TEXT appears and "
                                              "disappears in a video or stream");
  g_option_context_set_summary (ctx,
      "Runs uridecodebin (or --pipeline) ! vlmembed ! vlmmatch mode=detect and prints an "
      "appear/disappear line for each vlm-detect message: time in the stream, label, cosine. "
      "Files play to the end; live sources (rtsp://, --pipeline v4l2src) run until Ctrl-C. "
      "Commas in TEXT separate several queries watched at once.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  int status = 2;
  g_autofree gchar *stripped = NULL, *uri = NULL;
  if (!vlm_cmd_parse (ctx, &argc, &argv))
    goto done;
  gint want = o.pipeline ? 2 : 3;
  if (argc != want) {
    fprintf (stderr, "vlm watch: give %s\n", o.pipeline ? "the TEXT to watch for (with "
             "--pipeline, no URI)" : "a URI (or file) and the TEXT to watch for");
    goto done;
  }
  if (!o.model && !(o.model = vlm_cmd_model_or_demo ("watch", NULL, NULL, VLM_DEMO_MODEL_CLIP)))
    goto done;
  const gchar *text = argv[want - 1];
  stripped = g_strstrip (g_strdup (text));
  if (!g_utf8_validate (text, -1, NULL) || !*stripped) {
    fprintf (stderr, "vlm watch: the text to watch for is %s\n",
             *stripped ? "not valid UTF-8" : "empty");
    goto done;
  }
  if (!(o.threshold >= -1 && o.threshold <= 1) || !(o.hysteresis >= 0 && o.hysteresis <= 2) ||
      !(o.every >= 0 && o.every <= 86400)) {
    fprintf (stderr, "vlm watch: --threshold must be in [-1, 1], --hysteresis in [0, 2] and "
             "--every in [0, 86400]\n");
    goto done;
  }
  if (!device_spec_ok (o.device)) {
    fprintf (stderr, "vlm watch: --device must be auto, cpu, vulkan or vulkan:N, not \"%s\"\n",
             o.device);
    goto done;
  }
  gst_init (NULL, NULL);
  if (!o.pipeline) {
    const gchar *arg = argv[1];
    if (strstr (arg, "://") && gst_uri_is_valid (arg)) {
      uri = g_strdup (arg);
    } else {
      g_autoptr (GError) error = NULL;
      if (!g_file_test (arg, G_FILE_TEST_IS_REGULAR)) {
        fprintf (stderr, "vlm watch: %s: no such file (give a file or a URI such as "
                 "rtsp://…)\n", arg);
        status = 1;
        goto done;
      }
      uri = gst_filename_to_uri (arg, &error);
      if (!uri) {
        fprintf (stderr, "vlm watch: %s: %s\n", arg, error->message);
        status = 1;
        goto done;
      }
    }
  }
  status = run_watch (&o, uri, text);

done:
  g_free (o.model);
  g_free (o.device);
  g_free (o.pipeline);
  return status;
}
