/* gst-vlm — vlmcaption: image captions with a GIT model.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-vlmcaption
 * @title: vlmcaption
 * @short_description: captions video frames with a GIT model
 *
 * Encodes every processed frame (see #GstVlmBase:interval) once with the
 * image encoder of a GIT model (Hugging Face `GitForCausalLM` folder:
 * microsoft/git-base-coco, git-base-textcaps, …) and generates a caption
 * from it: greedy decoding, or beam search with #GstVlmCaption:num-beams,
 * at most #GstVlmCaption:max-tokens tokens. The video passes through
 * untouched.
 *
 * Results per captioned frame: a `VlmCaptionMeta` (`text`, `mean-logprob`,
 * `truncated`, `model-id`; see vlm-meta.h) and a "vlm-caption" element
 * message with `pts`, `duration`, `running-time`, `stream-time` (guint64
 * ns), `model-id`, `text` (string), `score` (double: the mean
 * log-probability of the generated tokens, end token included, ≤ 0),
 * `truncated` (boolean: #GstVlmCaption:max-tokens ran out before the model's
 * end token) and `tokens` (guint: generated tokens, end token excluded).
 *
 * Semantic gating: with #GstVlmCaption:min-change above 0, a frame carrying
 * a `VlmEmbeddingMeta` (from an upstream vlmembed with a CLIP model) is only
 * captioned when its embedding moved at least that cosine distance
 * (1 − cosine) away from the embedding of the last captioned frame; frames
 * in between get no caption meta and no message, and the last caption
 * stays current. Frames without an embedding are captioned as usual.
 *
 * ## The text pad
 *
 * The always source pad "text_src" (#GST_VLM_CAPTION_TEXT_PAD_NAME) carries
 * the captions as `text/x-raw, format=utf8` buffers (UTF-8, no terminating
 * NUL), after its own stream-start, caps and segment (a copy of the video
 * segment); flushes and EOS are forwarded. How its buffers are timed is
 * #GstVlmCaption:text-mode:
 *
 * - `subtitle`: one buffer per caption, pts = the captioned frame's pts,
 *   duration = until the next caption's pts. Each caption is pushed when the
 *   next one arrives; at EOS the last one is pushed lasting until the
 *   segment's stop, or else until the end of the last frame. A zero-length
 *   gap event at the first frame lets sinks preroll. The text runs one
 *   caption behind the video, so it suits files, appsink and subtitle
 *   encoders, but not elements that wait for the text of each frame on the
 *   video's thread.
 * - `overlay`: one buffer per video frame (with a timestamp), pushed just
 *   before the frame, holding the current caption with the frame's pts and
 *   duration; before the first caption a gap event covers the frame. This
 *   is what textoverlay needs: it waits for the text of each frame.
 * - `auto` (default): `overlay` when text_src leads to a textoverlay-family
 *   element (directly or through queues and other one-input one-output
 *   elements), `subtitle` otherwise; decided at the first frame of each
 *   stream.
 *
 * ## Example pipelines
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=10 ! vlmcaption model=/path/to/git name=c ! \
 *     fakesink c.text_src ! fakesink dump=true
 * ]| Dumps each caption as a text buffer with its timestamps.
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! \
 *     vlmcaption model=/path/to/git-base-coco interval=15 name=c ! \
 *     textoverlay name=o ! videoconvert ! autovideosink  c.text_src ! o.text_sink
 * ]| Draws the caption of every 15th frame on the video.
 * |[
 * gst-launch-1.0 -m v4l2src ! videoconvert ! vlmembed model=/path/to/clip ! \
 *     vlmcaption model=/path/to/git min-change=0.1 num-beams=3 ! fakesink
 * ]| Captions the camera only when the picture changes, with beam search.
 */
#include <math.h>
#include <string.h>

#include "gstvlmcaption.h"
#include "vlm-meta.h"

GST_DEBUG_CATEGORY_STATIC (gst_vlm_caption_debug);
#define GST_CAT_DEFAULT gst_vlm_caption_debug

#define DEFAULT_NUM_BEAMS 1
#define DEFAULT_MAX_TOKENS 20
#define DEFAULT_LENGTH_PENALTY 1.0
#define DEFAULT_MIN_CHANGE 0.0
#define DEFAULT_TEXT_MODE GST_VLM_CAPTION_TEXT_MODE_AUTO
#define TEXT_CAPS "text/x-raw, format=(string)utf8"
/* how many elements to follow from text_src when looking for a textoverlay */
#define MAX_SEARCH_DEPTH 16
/* items (buffers and events) waiting for the text pad's thread */
#define TEXT_QUEUE_MAX 64

enum {
  PROP_0,
  PROP_NUM_BEAMS,
  PROP_MAX_TOKENS,
  PROP_LENGTH_PENALTY,
  PROP_MIN_CHANGE,
  PROP_TEXT_MODE,
};

struct _GstVlmCaption {
  GstVlmBase parent;
  GstPad *text_pad;

  /* properties, object lock */
  gint num_beams;
  gint max_tokens;
  gdouble length_penalty;
  gdouble min_change;
  GstVlmCaptionTextMode text_mode;

  /* streaming thread: semantic gating */
  gfloat *last_embedding;       /* of the last captioned frame, or NULL */
  guint last_dim;
  gchar *last_embedding_model;

  /* streaming thread: the caption of the frame being processed */
  gchar *fresh_text;

  /* streaming thread: text pad */
  GstVlmCaptionTextMode mode;   /* resolved; AUTO = not decided yet */
  gboolean need_stream_start;
  gboolean need_segment;
  GstSegment segment;           /* the video segment, copied */
  gboolean pushed;              /* a buffer or gap went out since the segment */
  gchar *held_text;             /* subtitle: caption waiting for its end */
  GstClockTime held_pts;
  gchar *current_text;          /* overlay: caption of the current frames */
  GstClockTime last_end;        /* end of the last video frame seen */

  /* text pad thread: queue, tq_lock */
  GMutex tq_lock;
  GCond tq_cond;
  GQueue tq;
  gboolean tq_flushing;
  GstFlowReturn tq_ret;         /* last non-OK flow of the text pad */
};

G_DEFINE_TYPE (GstVlmCaption, gst_vlm_caption, GST_TYPE_VLM_BASE);
GST_ELEMENT_REGISTER_DEFINE (vlmcaption, "vlmcaption", GST_RANK_NONE, GST_TYPE_VLM_CAPTION);

static GstStaticPadTemplate text_template = GST_STATIC_PAD_TEMPLATE (
    GST_VLM_CAPTION_TEXT_PAD_NAME, GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (TEXT_CAPS));

/**
 * gst_vlm_caption_text_mode_get_type:
 *
 * Returns: the #GType of #GstVlmCaptionTextMode (nicks "auto", "subtitle"
 *   and "overlay").
 */
GType
gst_vlm_caption_text_mode_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    { GST_VLM_CAPTION_TEXT_MODE_AUTO, "Overlay when text_src feeds a textoverlay, else subtitle",
      "auto" },
    { GST_VLM_CAPTION_TEXT_MODE_SUBTITLE, "One buffer per caption lasting until the next "
      "caption (one caption behind the video)", "subtitle" },
    { GST_VLM_CAPTION_TEXT_MODE_OVERLAY, "One buffer per video frame with the current caption, "
      "pushed before the frame", "overlay" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstVlmCaptionTextMode", values);
    g_once_init_leave (&type, t);
  }
  return (GType) type;
}

static const gchar *
mode_name (GstVlmCaptionTextMode mode)
{
  switch (mode) {
    case GST_VLM_CAPTION_TEXT_MODE_AUTO:
      return "auto";
    case GST_VLM_CAPTION_TEXT_MODE_SUBTITLE:
      return "subtitle";
    case GST_VLM_CAPTION_TEXT_MODE_OVERLAY:
      return "overlay";
  }
  return "unknown";
}

/* ------------------------------------------------------------------------ */
/* text pad */

/* Whether @src leads to a GstBaseTextOverlay, following ghost pads and
 * elements with exactly one sink and one source pad (queues). */
static gboolean
leads_to_text_overlay (GstPad *src)
{
  GType overlay_type = g_type_from_name ("GstBaseTextOverlay");
  if (!overlay_type)
    return FALSE;
  gboolean found = FALSE;
  GstPad *pad = gst_object_ref (src);
  for (gint depth = 0; pad && !found && depth < MAX_SEARCH_DEPTH; depth++) {
    GstPad *peer = gst_pad_get_peer (pad);
    gst_clear_object (&pad);
    /* into a bin: the ghost pad's target */
    while (peer && GST_IS_GHOST_PAD (peer)) {
      GstPad *target = gst_ghost_pad_get_target (GST_GHOST_PAD (peer));
      gst_object_unref (peer);
      peer = target;
    }
    if (!peer)
      break;
    GstElement *element = gst_pad_get_parent_element (peer);
    if (!element) {
      /* out of a bin: the internal pad of a source ghost pad */
      if (GST_IS_PROXY_PAD (peer))
        pad = GST_PAD (gst_proxy_pad_get_internal (GST_PROXY_PAD (peer)));
      gst_object_unref (peer);
      continue;
    }
    gst_object_unref (peer);
    if (G_TYPE_CHECK_INSTANCE_TYPE (element, overlay_type)) {
      found = TRUE;
    } else {
      GST_OBJECT_LOCK (element);
      if (element->numsinkpads == 1 && element->numsrcpads == 1)
        pad = gst_object_ref (element->srcpads->data);
      GST_OBJECT_UNLOCK (element);
    }
    gst_object_unref (element);
  }
  gst_clear_object (&pad);
  return found;
}

static void
resolve_mode (GstVlmCaption *self)
{
  if (self->mode != GST_VLM_CAPTION_TEXT_MODE_AUTO)
    return;
  GST_OBJECT_LOCK (self);
  GstVlmCaptionTextMode mode = self->text_mode;
  GST_OBJECT_UNLOCK (self);
  if (mode == GST_VLM_CAPTION_TEXT_MODE_AUTO)
    mode = leads_to_text_overlay (self->text_pad) ? GST_VLM_CAPTION_TEXT_MODE_OVERLAY
                                                  : GST_VLM_CAPTION_TEXT_MODE_SUBTITLE;
  self->mode = mode;
  GST_INFO_OBJECT (self, "text pad in %s mode", mode_name (mode));
}

/* The text pad has its own streaming thread fed through a small queue, so
 * a sink prerolling on the text blocks neither the video nor the captioning
 * (`vlmcaption ! fakesink c.text_src ! fakesink` needs no queues). Items
 * are buffers and serialized events, in order. */
static void
text_queue_clear_locked (GstVlmCaption *self)
{
  GstMiniObject *obj;
  while ((obj = g_queue_pop_head (&self->tq)))
    gst_mini_object_unref (obj);
  g_cond_broadcast (&self->tq_cond);
}

static void
text_loop (gpointer user_data)
{
  GstPad *pad = user_data;
  GstVlmCaption *self = GST_VLM_CAPTION (GST_PAD_PARENT (pad));
  g_mutex_lock (&self->tq_lock);
  while (!self->tq_flushing && g_queue_is_empty (&self->tq))
    g_cond_wait (&self->tq_cond, &self->tq_lock);
  if (self->tq_flushing) {
    g_mutex_unlock (&self->tq_lock);
    gst_pad_pause_task (pad);
    return;
  }
  GstMiniObject *obj = g_queue_pop_head (&self->tq);
  g_cond_broadcast (&self->tq_cond);
  g_mutex_unlock (&self->tq_lock);

  GstFlowReturn ret = GST_FLOW_OK;
  if (GST_IS_BUFFER (obj))
    ret = gst_pad_push (pad, GST_BUFFER_CAST (obj));
  else
    gst_pad_push_event (pad, GST_EVENT_CAST (obj));
  if (ret == GST_FLOW_OK)
    return;
  g_mutex_lock (&self->tq_lock);
  gboolean first = self->tq_ret >= GST_FLOW_EOS;
  self->tq_ret = ret;
  g_mutex_unlock (&self->tq_lock);
  GST_DEBUG_OBJECT (self, "text pad: %s", gst_flow_get_name (ret));
  if (ret < GST_FLOW_EOS && first)
    GST_ELEMENT_FLOW_ERROR (self, ret);
}

static gboolean
text_activate_mode (GstPad *pad, GstObject *parent, GstPadMode mode, gboolean active)
{
  GstVlmCaption *self = GST_VLM_CAPTION (parent);
  if (mode != GST_PAD_MODE_PUSH)
    return FALSE;
  g_mutex_lock (&self->tq_lock);
  self->tq_flushing = !active;
  self->tq_ret = GST_FLOW_OK;
  text_queue_clear_locked (self);
  g_mutex_unlock (&self->tq_lock);
  return active ? gst_pad_start_task (pad, text_loop, pad, NULL) : gst_pad_stop_task (pad);
}

/* Queues @obj for the text thread; waits while the queue is full. Returns
 * what the text pad last reported: not-linked, EOS and flushing downstream
 * do not stop the video, an error does. */
static GstFlowReturn
text_queue_push (GstVlmCaption *self, GstMiniObject *obj)
{
  g_mutex_lock (&self->tq_lock);
  while (!self->tq_flushing && g_queue_get_length (&self->tq) >= TEXT_QUEUE_MAX)
    g_cond_wait (&self->tq_cond, &self->tq_lock);
  if (self->tq_flushing) {
    g_mutex_unlock (&self->tq_lock);
    gst_mini_object_unref (obj);
    return GST_FLOW_FLUSHING;
  }
  g_queue_push_tail (&self->tq, obj);
  g_cond_broadcast (&self->tq_cond);
  GstFlowReturn ret = self->tq_ret;
  g_mutex_unlock (&self->tq_lock);
  return ret < GST_FLOW_EOS ? ret : GST_FLOW_OK;
}

/* Queues stream-start, caps and segment for the text pad when due. */
static void
ensure_text_stream (GstVlmCaption *self)
{
  if (self->need_stream_start) {
    GstPad *sink = GST_BASE_TRANSFORM_SINK_PAD (self);
    g_autofree gchar *id = gst_pad_create_stream_id (self->text_pad, GST_ELEMENT (self), "text");
    GstEvent *ev = gst_event_new_stream_start (id);
    GstEvent *upstream = gst_pad_get_sticky_event (sink, GST_EVENT_STREAM_START, 0);
    guint group;
    if (upstream && gst_event_parse_group_id (upstream, &group))
      gst_event_set_group_id (ev, group);
    else
      gst_event_set_group_id (ev, gst_util_group_id_next ());
    if (upstream)
      gst_event_unref (upstream);
    text_queue_push (self, GST_MINI_OBJECT_CAST (ev));
    g_autoptr (GstCaps) caps = gst_caps_from_string (TEXT_CAPS);
    text_queue_push (self, GST_MINI_OBJECT_CAST (gst_event_new_caps (caps)));
    self->need_stream_start = FALSE;
  }
  if (self->need_segment) {
    text_queue_push (self, GST_MINI_OBJECT_CAST (gst_event_new_segment (&self->segment)));
    self->need_segment = FALSE;
    self->pushed = FALSE;
  }
}

static void
push_event (GstVlmCaption *self, GstEvent *event)
{
  ensure_text_stream (self);
  text_queue_push (self, GST_MINI_OBJECT_CAST (event));
}

static GstFlowReturn
push_text (GstVlmCaption *self, const gchar *text, GstClockTime pts, GstClockTime duration)
{
  ensure_text_stream (self);
  gsize len = strlen (text);
  GstBuffer *buf = len ? gst_buffer_new_memdup (text, len) : gst_buffer_new ();
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = duration;
  self->pushed = TRUE;
  GST_LOG_OBJECT (self, "text %" GST_TIME_FORMAT " + %" GST_TIME_FORMAT ": \"%s\"",
                  GST_TIME_ARGS (pts), GST_TIME_ARGS (duration), text);
  return text_queue_push (self, GST_MINI_OBJECT_CAST (buf));
}

static void
push_gap (GstVlmCaption *self, GstClockTime pts, GstClockTime duration)
{
  push_event (self, gst_event_new_gap (pts, duration));
  self->pushed = TRUE;
}

/* Subtitle mode: pushes the held caption, lasting until @end. */
static GstFlowReturn
push_held (GstVlmCaption *self, GstClockTime end)
{
  if (!self->held_text)
    return GST_FLOW_OK;
  GstClockTime duration = GST_CLOCK_TIME_NONE;
  if (GST_CLOCK_TIME_IS_VALID (end))
    duration = end > self->held_pts ? end - self->held_pts : 0;
  g_autofree gchar *text = g_steal_pointer (&self->held_text);
  return push_text (self, text, self->held_pts, duration);
}

/* Where the held caption ends when no next caption comes: the segment's
 * stop, or the end of the last frame. */
static GstClockTime
stream_end (GstVlmCaption *self)
{
  if (self->segment.format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID (self->segment.stop) &&
      self->segment.stop > self->held_pts)
    return self->segment.stop;
  return self->last_end;
}

/* Frame duration: the buffer's, else one frame at the negotiated rate. */
static GstClockTime
frame_duration (GstVlmCaption *self, GstBuffer *buffer)
{
  if (GST_BUFFER_DURATION_IS_VALID (buffer))
    return GST_BUFFER_DURATION (buffer);
  GstVideoInfo *info = &GST_VIDEO_FILTER (self)->in_info;
  if (info->fps_n > 0 && info->fps_d > 0)
    return gst_util_uint64_scale_int (GST_SECOND, info->fps_d, info->fps_n);
  return GST_CLOCK_TIME_NONE;
}

/* Streaming thread, for every frame before it is pushed downstream. */
static GstFlowReturn
text_for_frame (GstVlmCaption *self, GstBuffer *buffer)
{
  GstClockTime pts = GST_BUFFER_PTS (buffer);
  GstClockTime duration = frame_duration (self, buffer);
  g_autofree gchar *fresh = g_steal_pointer (&self->fresh_text);
  resolve_mode (self);
  if (!GST_CLOCK_TIME_IS_VALID (pts)) {
    if (fresh)
      GST_DEBUG_OBJECT (self, "frame without a timestamp: its caption is not sent as text");
    return GST_FLOW_OK;
  }
  GstFlowReturn ret = GST_FLOW_OK;
  self->last_end = GST_CLOCK_TIME_IS_VALID (duration) ? pts + duration : pts;

  if (self->mode == GST_VLM_CAPTION_TEXT_MODE_OVERLAY) {
    if (fresh) {
      g_free (self->current_text);
      self->current_text = g_steal_pointer (&fresh);
    }
    if (self->current_text)
      return push_text (self, self->current_text, pts, duration);
    /* no caption yet: tell renderers not to wait for one */
    push_gap (self, pts, GST_CLOCK_TIME_IS_VALID (duration) && duration > 0 ? duration : 1);
    return GST_FLOW_OK;
  }

  if (fresh) {
    ret = push_held (self, pts);
    self->held_text = g_steal_pointer (&fresh);
    self->held_pts = pts;
  }
  /* a zero-length gap lets sinks preroll while the caption waits */
  if (ret == GST_FLOW_OK && !self->pushed)
    push_gap (self, pts, 0);
  return ret;
}

/* Forgets the text state of the current stream (flush, stop). */
static void
reset_text (GstVlmCaption *self)
{
  g_clear_pointer (&self->held_text, g_free);
  g_clear_pointer (&self->current_text, g_free);
  g_clear_pointer (&self->fresh_text, g_free);
  self->held_pts = GST_CLOCK_TIME_NONE;
  self->last_end = GST_CLOCK_TIME_NONE;
  self->pushed = FALSE;
}

static void
reset_gating (GstVlmCaption *self)
{
  g_clear_pointer (&self->last_embedding, g_free);
  g_clear_pointer (&self->last_embedding_model, g_free);
  self->last_dim = 0;
}

/* ------------------------------------------------------------------------ */
/* processing */

static gboolean
gst_vlm_caption_model_loaded (GstVlmBase *base, GError **error)
{
  GstVlmCaption *self = GST_VLM_CAPTION (base);
  g_autofree gchar *vocab = g_build_filename (gst_vlm_base_get_model_id (base), "vocab.txt",
                                              NULL);
  if (!g_file_test (vocab, G_FILE_TEST_IS_REGULAR)) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FILE, "no vocab.txt in the model folder: the "
                 "WordPiece vocabulary is needed to turn tokens into text");
    return FALSE;
  }
  reset_gating (self);
  reset_text (self);
  self->mode = GST_VLM_CAPTION_TEXT_MODE_AUTO;
  self->need_stream_start = TRUE;
  self->need_segment = TRUE;
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  return TRUE;
}

static void
gst_vlm_caption_model_unloading (GstVlmBase *base)
{
  GstVlmCaption *self = GST_VLM_CAPTION (base);
  reset_gating (self);
  reset_text (self);
}

static gdouble
cosine (const gfloat *a, const gfloat *b, guint n)
{
  gdouble dot = 0.0, na = 0.0, nb = 0.0;
  for (guint i = 0; i < n; i++) {
    dot += (gdouble) a[i] * b[i];
    na += (gdouble) a[i] * a[i];
    nb += (gdouble) b[i] * b[i];
  }
  return na > 0.0 && nb > 0.0 ? dot / sqrt (na * nb) : 0.0;
}

/* Semantic gating: %TRUE when the frame's embedding is still within
 * @min_change of the last captioned frame's. Remembers the embedding in
 * *@emb / *@dim / *@emb_model for the caller to keep once captioned. */
static gboolean
unchanged (GstVlmCaption *self, GstBuffer *buffer, gdouble min_change, const gfloat **emb,
           guint *dim, const gchar **emb_model)
{
  GstCustomMeta *meta = gst_buffer_get_vlm_embedding_meta (buffer, NULL);
  *emb = meta ? gst_vlm_embedding_meta_get_vector (meta, dim) : NULL;
  *emb_model = meta ? gst_vlm_embedding_meta_get_model_id (meta) : NULL;
  if (!*emb || min_change <= 0.0 || !self->last_embedding || *dim != self->last_dim ||
      g_strcmp0 (*emb_model, self->last_embedding_model) != 0)
    return FALSE;
  gdouble distance = 1.0 - cosine (*emb, self->last_embedding, *dim);
  GST_LOG_OBJECT (self, "cosine distance to the last captioned frame: %.6f (min-change %.6f)",
                  distance, min_change);
  return distance < min_change;
}

static GstFlowReturn
gst_vlm_caption_process (GstVlmBase *base, GstBuffer *buffer, GstVideoFrame *frame)
{
  GstVlmCaption *self = GST_VLM_CAPTION (base);
  GST_OBJECT_LOCK (self);
  VlmGitParams params = { .num_beams = self->num_beams, .max_tokens = self->max_tokens,
                          .length_penalty = (gfloat) self->length_penalty };
  gdouble min_change = self->min_change;
  GST_OBJECT_UNLOCK (self);

  const gfloat *emb;
  guint dim = 0;
  const gchar *emb_model;
  if (unchanged (self, buffer, min_change, &emb, &dim, &emb_model)) {
    GST_DEBUG_OBJECT (self, "frame %" GST_TIME_FORMAT " unchanged: caption kept",
                      GST_TIME_ARGS (GST_BUFFER_PTS (buffer)));
    return GST_FLOW_OK;
  }

  g_autoptr (GError) error = NULL;
  g_autoptr (VlmGitImage) image = gst_vlm_base_encode_git_frame (base, frame, &error);
  VlmGitOutput out = { 0 };
  g_autofree gchar *text = image ? vlm_git_caption (gst_vlm_base_get_git (base), image, &params,
                                                    &out, &error) : NULL;
  if (!text) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("captioning failed"), ("%s", error->message));
    return GST_FLOW_ERROR;
  }
  gdouble score = out.n_scored > 0 ? out.sum_logprob / out.n_scored : 0.0;
  guint tokens = out.ids ? out.ids->len : 0;
  gboolean truncated = out.truncated;
  vlm_git_output_clear (&out);
  if (!g_utf8_validate (text, -1, NULL)) {
    /* a vocabulary with broken UTF-8: keep what can be shown */
    gchar *valid = g_utf8_make_valid (text, -1);
    g_free (text);
    text = valid;
  }

  /* the reference for gating: this frame's embedding, or none */
  g_clear_pointer (&self->last_embedding, g_free);
  g_clear_pointer (&self->last_embedding_model, g_free);
  self->last_dim = 0;
  if (emb && dim > 0) {
    self->last_embedding = g_memdup2 (emb, sizeof (gfloat) * dim);
    self->last_dim = dim;
    self->last_embedding_model = g_strdup (emb_model);
  }

  const gchar *model_id = gst_vlm_base_get_model_id (base);
  gst_buffer_add_vlm_caption_meta (buffer, model_id, GST_OBJECT_NAME (self), text, score,
                                   truncated);
  GstStructure *s = gst_vlm_base_new_result (base, "vlm-caption", buffer);
  gst_structure_set (s, "model-id", G_TYPE_STRING, model_id,
                     "text", G_TYPE_STRING, text,
                     "score", G_TYPE_DOUBLE, score,
                     "truncated", G_TYPE_BOOLEAN, truncated,
                     "tokens", G_TYPE_UINT, tokens, NULL);
  gst_vlm_base_post_result (base, s);
  GST_DEBUG_OBJECT (self, "%" GST_TIME_FORMAT ": \"%s\" (%.3f%s)",
                    GST_TIME_ARGS (GST_BUFFER_PTS (buffer)), text, score,
                    truncated ? ", truncated" : "");
  g_free (self->fresh_text);
  self->fresh_text = g_steal_pointer (&text);
  return GST_FLOW_OK;
}

/* The base class selects and processes the frame; the text for it goes out
 * before the frame itself. */
static GstFlowReturn
gst_vlm_caption_transform_ip (GstBaseTransform *trans, GstBuffer *buffer)
{
  GstVlmCaption *self = GST_VLM_CAPTION (trans);
  g_clear_pointer (&self->fresh_text, g_free);
  GstFlowReturn ret = GST_BASE_TRANSFORM_CLASS (gst_vlm_caption_parent_class)->transform_ip (
      trans, buffer);
  if (ret != GST_FLOW_OK)
    return ret;
  return text_for_frame (self, buffer);
}

/* ------------------------------------------------------------------------ */
/* events */

static gboolean
gst_vlm_caption_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstVlmCaption *self = GST_VLM_CAPTION (trans);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:
      /* a new stream: the text pad follows with its own stream-start */
      if (self->mode == GST_VLM_CAPTION_TEXT_MODE_SUBTITLE)
        push_held (self, stream_end (self));
      self->need_stream_start = TRUE;
      self->mode = GST_VLM_CAPTION_TEXT_MODE_AUTO;
      reset_text (self);
      reset_gating (self);
      break;
    case GST_EVENT_SEGMENT: {
      const GstSegment *segment;
      gst_event_parse_segment (event, &segment);
      if (self->mode == GST_VLM_CAPTION_TEXT_MODE_SUBTITLE)
        push_held (self, stream_end (self));
      gst_segment_copy_into (segment, &self->segment);
      self->need_segment = TRUE;
      break;
    }
    case GST_EVENT_GAP:
      /* overlay mode: nothing to show there; subtitle mode: a held caption
       * covers the gap */
      if (!self->held_text) {
        push_event (self, gst_event_ref (event));
        self->pushed = TRUE;
      }
      break;
    case GST_EVENT_EOS:
      if (self->mode == GST_VLM_CAPTION_TEXT_MODE_SUBTITLE)
        push_held (self, stream_end (self));
      push_event (self, gst_event_ref (event));
      break;
    case GST_EVENT_FLUSH_START:
      g_mutex_lock (&self->tq_lock);
      self->tq_flushing = TRUE;
      text_queue_clear_locked (self);
      g_mutex_unlock (&self->tq_lock);
      gst_pad_push_event (self->text_pad, gst_event_ref (event));
      gst_pad_pause_task (self->text_pad);
      break;
    case GST_EVENT_FLUSH_STOP:
      reset_text (self);
      reset_gating (self);
      g_mutex_lock (&self->tq_lock);
      self->tq_flushing = FALSE;
      self->tq_ret = GST_FLOW_OK;
      text_queue_clear_locked (self);
      g_mutex_unlock (&self->tq_lock);
      gst_pad_push_event (self->text_pad, gst_event_ref (event));
      self->need_segment = TRUE;
      /* the flush may have dropped a queued stream-start or caps */
      if (!gst_pad_has_current_caps (self->text_pad))
        self->need_stream_start = TRUE;
      if (GST_PAD_IS_ACTIVE (self->text_pad))
        gst_pad_start_task (self->text_pad, text_loop, self->text_pad, NULL);
      break;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (gst_vlm_caption_parent_class)->sink_event (trans, event);
}

/* ------------------------------------------------------------------------ */
/* GObject */

static void
gst_vlm_caption_set_property (GObject *object, guint prop_id, const GValue *value,
                              GParamSpec *pspec)
{
  GstVlmCaption *self = GST_VLM_CAPTION (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_NUM_BEAMS:
      self->num_beams = g_value_get_int (value);
      break;
    case PROP_MAX_TOKENS:
      self->max_tokens = g_value_get_int (value);
      break;
    case PROP_LENGTH_PENALTY:
      self->length_penalty = g_value_get_double (value);
      break;
    case PROP_MIN_CHANGE:
      self->min_change = g_value_get_double (value);
      break;
    case PROP_TEXT_MODE:
      self->text_mode = g_value_get_enum (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_vlm_caption_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstVlmCaption *self = GST_VLM_CAPTION (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_NUM_BEAMS:
      g_value_set_int (value, self->num_beams);
      break;
    case PROP_MAX_TOKENS:
      g_value_set_int (value, self->max_tokens);
      break;
    case PROP_LENGTH_PENALTY:
      g_value_set_double (value, self->length_penalty);
      break;
    case PROP_MIN_CHANGE:
      g_value_set_double (value, self->min_change);
      break;
    case PROP_TEXT_MODE:
      g_value_set_enum (value, self->text_mode);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_vlm_caption_finalize (GObject *object)
{
  GstVlmCaption *self = GST_VLM_CAPTION (object);
  reset_gating (self);
  reset_text (self);
  g_mutex_lock (&self->tq_lock);
  text_queue_clear_locked (self);
  g_mutex_unlock (&self->tq_lock);
  g_mutex_clear (&self->tq_lock);
  g_cond_clear (&self->tq_cond);
  G_OBJECT_CLASS (gst_vlm_caption_parent_class)->finalize (object);
}

static void
gst_vlm_caption_init (GstVlmCaption *self)
{
  self->num_beams = DEFAULT_NUM_BEAMS;
  self->max_tokens = DEFAULT_MAX_TOKENS;
  self->length_penalty = DEFAULT_LENGTH_PENALTY;
  self->min_change = DEFAULT_MIN_CHANGE;
  self->text_mode = DEFAULT_TEXT_MODE;
  self->mode = GST_VLM_CAPTION_TEXT_MODE_AUTO;
  self->need_stream_start = TRUE;
  self->need_segment = TRUE;
  self->held_pts = GST_CLOCK_TIME_NONE;
  self->last_end = GST_CLOCK_TIME_NONE;
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  g_mutex_init (&self->tq_lock);
  g_cond_init (&self->tq_cond);
  g_queue_init (&self->tq);
  self->tq_flushing = TRUE;
  self->text_pad = gst_pad_new_from_static_template (&text_template,
                                                     GST_VLM_CAPTION_TEXT_PAD_NAME);
  gst_pad_use_fixed_caps (self->text_pad);
  gst_pad_set_activatemode_function (self->text_pad, text_activate_mode);
  gst_element_add_pad (GST_ELEMENT (self), self->text_pad);
}

static void
gst_vlm_caption_class_init (GstVlmCaptionClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVlmBaseClass *base_class = GST_VLM_BASE_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_vlm_caption_debug, "vlmcaption", 0, "gst-vlm image captions");

  gobject_class->set_property = gst_vlm_caption_set_property;
  gobject_class->get_property = gst_vlm_caption_get_property;
  gobject_class->finalize = gst_vlm_caption_finalize;

  /**
   * GstVlmCaption:num-beams:
   *
   * 1 for greedy decoding; more for beam search with that many beams
   * (slower, usually better captions).
   */
  g_object_class_install_property (gobject_class, PROP_NUM_BEAMS,
      g_param_spec_int ("num-beams", "Beams",
          "Beam search width (1 = greedy decoding)",
          1, 16, DEFAULT_NUM_BEAMS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstVlmCaption:max-tokens:
   *
   * Most tokens generated per caption (the end token counts; the model's
   * text positions may lower it). A caption cut by this limit is flagged
   * `truncated`.
   */
  g_object_class_install_property (gobject_class, PROP_MAX_TOKENS,
      g_param_spec_int ("max-tokens", "Maximum tokens",
          "Most tokens generated per caption (captions that hit it are flagged truncated)",
          1, 512, DEFAULT_MAX_TOKENS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstVlmCaption:length-penalty:
   *
   * Beam search ranks finished captions by sum(log p) / length^penalty:
   * 0 ranks by total probability (favours short captions), 1 by mean
   * log-probability; greedy decoding ignores it.
   */
  g_object_class_install_property (gobject_class, PROP_LENGTH_PENALTY,
      g_param_spec_double ("length-penalty", "Length penalty",
          "Beam search: captions are ranked by sum(log p) / length^length-penalty",
          -8.0, 8.0, DEFAULT_LENGTH_PENALTY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstVlmCaption:min-change:
   *
   * Semantic gating: when above 0, a frame carrying an upstream CLIP
   * embedding (`VlmEmbeddingMeta`, from vlmembed) is captioned only when
   * the cosine distance (1 − cosine, 0 to 2) between its embedding and the
   * last captioned frame's reaches this value. 0 turns gating off.
   */
  g_object_class_install_property (gobject_class, PROP_MIN_CHANGE,
      g_param_spec_double ("min-change", "Minimum change",
          "Caption a frame only when its upstream CLIP embedding is at least this cosine "
          "distance (1 - cosine) from the last captioned frame's (0 = caption every processed "
          "frame; frames without an embedding are always captioned)",
          0.0, 2.0, DEFAULT_MIN_CHANGE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstVlmCaption:text-mode:
   *
   * How the "text_src" pad times its buffers (see #GstVlmCaptionTextMode).
   * Read when a stream starts.
   */
  g_object_class_install_property (gobject_class, PROP_TEXT_MODE,
      g_param_spec_enum ("text-mode", "Text mode",
          "Timing of the text_src buffers: subtitle (one per caption, lasting until the next "
          "caption, pushed when it is known), overlay (one per frame before the frame, for "
          "textoverlay) or auto (overlay when text_src feeds a textoverlay)",
          GST_TYPE_VLM_CAPTION_TEXT_MODE, DEFAULT_TEXT_MODE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (element_class, &text_template);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_vlm_caption_transform_ip);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_vlm_caption_sink_event);
  base_class->model_kind = GST_VLM_MODEL_KIND_GIT;
  base_class->model_loaded = GST_DEBUG_FUNCPTR (gst_vlm_caption_model_loaded);
  base_class->model_unloading = GST_DEBUG_FUNCPTR (gst_vlm_caption_model_unloading);
  base_class->process = GST_DEBUG_FUNCPTR (gst_vlm_caption_process);

  gst_element_class_set_static_metadata (element_class,
      "VLM caption", "Filter/Analyzer/Video",
      "Captions every processed frame with a GIT model (greedy or beam search): attaches a "
      "VlmCaptionMeta (text, mean-logprob, truncated), posts a \"vlm-caption\" element "
      "message and pushes the caption on the \"text_src\" pad (text/x-raw, format=utf8) for "
      "textoverlay or subtitle consumers. min-change skips frames whose upstream CLIP "
      "embedding barely moved. Example: gst-launch-1.0 videotestsrc ! vlmcaption "
      "model=/path/to/git name=c ! textoverlay name=o ! videoconvert ! autovideosink "
      "c.text_src ! o.text_sink",
      "gst-vlm developers");

  gst_type_mark_as_plugin_api (GST_TYPE_VLM_CAPTION_TEXT_MODE, 0);
}
