/* gst-vlm — vlmmatch: zero-shot matching of frames against text labels.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-vlmmatch
 * @title: vlmmatch
 * @short_description: scores video frames against text labels with CLIP
 *
 * Puts each label into the prompt #GstVlmMatch:template ("a photo of {}"),
 * encodes the prompts once with the model's text tower (again only when the
 * labels or the template change), and compares them with the embedding of
 * every processed frame. The frame's embedding is taken from a
 * `VlmEmbeddingMeta` of the same model already on the buffer (an upstream
 * vlmembed), otherwise the frame is encoded here and the embedding attached
 * for elements further down.
 *
 * Two modes:
 *
 * - `classify`: softmax over the labels of exp(logit_scale) · cosine (CLIP's
 *   zero-shot classification); the best label and every probability.
 * - `detect`: each label on its own: its cosine similarity in [-1, 1] is
 *   compared with #GstVlmMatch:threshold. A label becomes present when its
 *   cosine reaches the threshold and stays present until the cosine falls
 *   below threshold − #GstVlmMatch:hysteresis, so one appearance gives one
 *   "start" and one "end" message. Labels still present at EOS, at a flush
 *   or when they are removed get an "end" message too.
 *
 * Results per processed frame: a `VlmMatchMeta` (see vlm-meta.h) and a
 * "vlm-match" element message with `pts`, `duration`, `running-time`,
 * `stream-time` (guint64 ns), `model-id`, `mode` (string), `labels` (array
 * of strings), `scores` (array of floats: probabilities or cosines),
 * `best-index` (int), `best-label` (string), `best-score` (double),
 * `reused-embedding` (boolean) and, in detect mode, `present` (array of
 * booleans). Detect mode also posts "vlm-detect" messages with `event`
 * ("start" or "end"), `label`, `index`, `score` (the cosine), `threshold`,
 * for "end" `reason` ("below-threshold", "labels-changed", "mode-changed",
 * "flush" or "eos") and `start-pts`, plus the timing fields.
 *
 * Labels change at run time through the #GstVlmMatch:labels and
 * #GstVlmMatch:template properties (applied from the next buffer) or,
 * frame-accurately, with a serialized custom downstream event named
 * "vlm-set-labels" (#GST_VLM_SET_LABELS_EVENT) which applies from the
 * buffer after it:
 * |[<!-- language="C" -->
 * gst_pad_send_event (sinkpad, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
 *     gst_structure_new ("vlm-set-labels", "labels", G_TYPE_STRING, "cat, dog",
 *                        "template", G_TYPE_STRING, "a photo of a {}", NULL)));
 * ]|
 * The event is passed on downstream. An empty label list gives no results
 * and one warning.
 *
 * ## Example pipelines
 * |[
 * gst-launch-1.0 -m videotestsrc num-buffers=30 ! vlmembed model=/path/to/clip ! \
 *     vlmmatch model=/path/to/clip labels="red,green,blue" ! fakesink
 * ]| Classifies each frame; vlmmatch reuses vlmembed's embeddings.
 * |[
 * gst-launch-1.0 -m v4l2src ! vlmmatch model=/path/to/clip mode=detect threshold=0.25 \
 *     labels="a person,a dog" template="a photo of {}" interval=5 ! autovideosink
 * ]| Posts vlm-detect start/end messages as people and dogs come and go.
 */
#include <string.h>

#include "gstvlmmatch.h"
#include "vlm-meta.h"

GST_DEBUG_CATEGORY_STATIC (gst_vlm_match_debug);
#define GST_CAT_DEFAULT gst_vlm_match_debug

#define DEFAULT_LABELS ""
#define DEFAULT_TEMPLATE "{}"
#define DEFAULT_MODE GST_VLM_MATCH_MODE_CLASSIFY
#define DEFAULT_THRESHOLD 0.25
#define DEFAULT_HYSTERESIS 0.02
#define MAX_LABELS 4096
#define TEXT_BATCH 64

enum {
  PROP_0,
  PROP_LABELS,
  PROP_TEMPLATE,
  PROP_MODE,
  PROP_THRESHOLD,
  PROP_HYSTERESIS,
};

struct _GstVlmMatch {
  GstVlmBase parent;

  /* properties and pending label set, object lock */
  gchar *labels_str;
  gchar **labels_v;
  gchar *prompt_template;
  GstVlmMatchMode mode;
  gdouble threshold;
  gdouble hysteresis;
  guint generation;          /* bumped by every labels/template change */

  /* streaming thread */
  guint active_generation;   /* 0: nothing encoded yet */
  gchar **labels;            /* active labels */
  gchar *active_template;
  gint n_labels;
  gboolean prompts_ok;
  gboolean empty_warned;
  gint dim;
  gfloat *text_emb;          /* n_labels × dim */
  gfloat *image_emb;         /* dim */
  gfloat *logits;            /* n_labels */
  gfloat *scores;            /* n_labels */
  gboolean *present;         /* n_labels */
  GstClockTime *start_pts;   /* n_labels */
  GstVlmMatchMode last_mode;
  GstClockTime last_pts;
};

G_DEFINE_TYPE (GstVlmMatch, gst_vlm_match, GST_TYPE_VLM_BASE);
GST_ELEMENT_REGISTER_DEFINE (vlmmatch, "vlmmatch", GST_RANK_NONE, GST_TYPE_VLM_MATCH);

/* ------------------------------------------------------------------------ */
/* labels */

/* Splits at commas, trims whitespace, drops empty items. */
static gchar **
parse_labels (const gchar *str)
{
  GPtrArray *out = g_ptr_array_new ();
  if (str) {
    g_auto (GStrv) parts = g_strsplit (str, ",", -1);
    for (gchar **p = parts; *p; p++) {
      gchar *label = g_strstrip (g_strdup (*p));
      if (*label && out->len < MAX_LABELS)
        g_ptr_array_add (out, label);
      else
        g_free (label);
    }
  }
  g_ptr_array_add (out, NULL);
  return (gchar **) g_ptr_array_free (out, FALSE);
}

/* Labels from an event field: a comma-separated string, or an array or list
 * of strings (whose items may hold commas). */
static gchar **
labels_from_value (const GValue *v, gboolean *ok)
{
  *ok = TRUE;
  if (G_VALUE_HOLDS_STRING (v))
    return parse_labels (g_value_get_string (v));
  gboolean array = GST_VALUE_HOLDS_ARRAY (v), list = GST_VALUE_HOLDS_LIST (v);
  if (!array && !list) {
    *ok = FALSE;
    return NULL;
  }
  guint n = array ? gst_value_array_get_size (v) : gst_value_list_get_size (v);
  GPtrArray *out = g_ptr_array_new ();
  for (guint i = 0; i < n; i++) {
    const GValue *item = array ? gst_value_array_get_value (v, i) : gst_value_list_get_value (v, i);
    if (!G_VALUE_HOLDS_STRING (item) || !g_value_get_string (item))
      continue;
    gchar *label = g_strstrip (g_strdup (g_value_get_string (item)));
    if (*label && out->len < MAX_LABELS)
      g_ptr_array_add (out, label);
    else
      g_free (label);
  }
  g_ptr_array_add (out, NULL);
  return (gchar **) g_ptr_array_free (out, FALSE);
}

static gboolean
template_is_valid (const gchar *t)
{
  return t && strstr (t, "{}") != NULL;
}

static gchar *
make_prompt (const gchar *prompt_template, const gchar *label)
{
  g_auto (GStrv) parts = g_strsplit (prompt_template, "{}", -1);
  return g_strjoinv (label, parts);
}

/* Object lock held. */
static void
set_labels_locked (GstVlmMatch *self, gchar *str, gchar **labels)
{
  /* the same labels again: nothing to re-encode */
  if (!self->labels_v || !g_strv_equal ((const gchar *const *) labels,
                                        (const gchar *const *) self->labels_v))
    self->generation++;
  g_free (self->labels_str);
  g_strfreev (self->labels_v);
  self->labels_str = str;
  self->labels_v = labels;
}

/* ------------------------------------------------------------------------ */
/* detect state */

static void
post_detect (GstVlmMatch *self, gint i, gboolean start, const gchar *reason, GstBuffer *buffer)
{
  GstVlmBase *base = GST_VLM_BASE (self);
  GST_OBJECT_LOCK (self);
  gdouble threshold = self->threshold;
  GST_OBJECT_UNLOCK (self);
  /* without a buffer (EOS, flush, label change): at the last frame's time */
  GstStructure *s = buffer ? gst_vlm_base_new_result (base, "vlm-detect", buffer)
                           : gst_vlm_base_new_result_at (base, "vlm-detect", self->last_pts,
                                                         GST_CLOCK_TIME_NONE);
  gst_structure_set (s, "model-id", G_TYPE_STRING, gst_vlm_base_get_model_id (base),
                     "event", G_TYPE_STRING, start ? "start" : "end",
                     "label", G_TYPE_STRING, self->labels[i],
                     "index", G_TYPE_INT, i,
                     "score", G_TYPE_DOUBLE, (gdouble) self->scores[i],
                     "threshold", G_TYPE_DOUBLE, threshold, NULL);
  if (!start)
    gst_structure_set (s, "reason", G_TYPE_STRING, reason,
                       "start-pts", G_TYPE_UINT64, (guint64) self->start_pts[i], NULL);
  GST_DEBUG_OBJECT (self, "%s %s (%s)", self->labels[i], start ? "start" : "end",
                    reason ? reason : "");
  gst_vlm_base_post_result (base, s);
}

/* Ends every present label. */
static void
end_all (GstVlmMatch *self, const gchar *reason)
{
  for (gint i = 0; i < self->n_labels; i++) {
    if (self->present && self->present[i]) {
      post_detect (self, i, FALSE, reason, NULL);
      self->present[i] = FALSE;
    }
  }
}

static void
clear_active (GstVlmMatch *self)
{
  g_clear_pointer (&self->labels, g_strfreev);
  g_clear_pointer (&self->active_template, g_free);
  g_clear_pointer (&self->text_emb, g_free);
  g_clear_pointer (&self->logits, g_free);
  g_clear_pointer (&self->scores, g_free);
  g_clear_pointer (&self->present, g_free);
  g_clear_pointer (&self->start_pts, g_free);
  self->n_labels = 0;
  self->prompts_ok = FALSE;
}

/* Streaming thread (or READY→PAUSED). Brings the active label set up to
 * date with the properties; encodes the prompts when they changed. Detect
 * state follows labels by name; present labels that disappear are ended. */
static void
update_prompts (GstVlmMatch *self)
{
  GstVlmBase *base = GST_VLM_BASE (self);
  GST_OBJECT_LOCK (self);
  if (self->active_generation == self->generation && self->labels) {
    GST_OBJECT_UNLOCK (self);
    return;
  }
  guint generation = self->generation;
  g_auto (GStrv) labels = g_strdupv (self->labels_v);
  g_autofree gchar *prompt_template = g_strdup (self->prompt_template);
  GST_OBJECT_UNLOCK (self);

  gint n = (gint) g_strv_length (labels);
  gboolean *present = g_new0 (gboolean, MAX (n, 1));
  GstClockTime *start_pts = g_new (GstClockTime, MAX (n, 1));
  for (gint j = 0; j < n; j++)
    start_pts[j] = GST_CLOCK_TIME_NONE;
  for (gint i = 0; i < self->n_labels; i++) {
    if (!self->present || !self->present[i])
      continue;
    gint j = 0;
    while (j < n && (strcmp (labels[j], self->labels[i]) != 0 || present[j]))
      j++;
    if (j < n) {
      present[j] = TRUE;
      start_pts[j] = self->start_pts[i];
    } else {
      post_detect (self, i, FALSE, "labels-changed", NULL);
    }
  }
  clear_active (self);
  self->labels = g_steal_pointer (&labels);
  self->active_template = g_steal_pointer (&prompt_template);
  self->n_labels = n;
  self->present = present;
  self->start_pts = start_pts;
  self->active_generation = generation;
  self->dim = vlm_clip_model_get_config (gst_vlm_base_get_clip (base))->projection_dim;
  self->logits = g_new0 (gfloat, MAX (n, 1));
  self->scores = g_new0 (gfloat, MAX (n, 1));
  g_free (self->image_emb);
  self->image_emb = g_new0 (gfloat, MAX (self->dim, 1));
  if (n == 0) {
    GST_INFO_OBJECT (self, "no labels");
    return;
  }
  self->empty_warned = FALSE;

  self->text_emb = g_new0 (gfloat, (gsize) n * self->dim);
  gchar **prompts = g_new0 (gchar *, n + 1);
  for (gint i = 0; i < n; i++)
    prompts[i] = make_prompt (self->active_template, self->labels[i]);
  g_autoptr (GError) error = NULL;
  gboolean ok = TRUE;
  for (gint i = 0; ok && i < n; i += TEXT_BATCH)
    ok = gst_vlm_base_encode_texts (base, (const gchar *const *) prompts + i,
                                    MIN (TEXT_BATCH, n - i), self->text_emb + (gsize) i * self->dim,
                                    &error);
  if (ok) {
    GST_INFO_OBJECT (self, "encoded %d prompts (\"%s\", …)", n, prompts[0]);
  } else {
    GST_ELEMENT_WARNING (self, STREAM, FAILED, ("could not encode the label prompts; no "
        "matches until the labels change"), ("%s", error->message));
  }
  self->prompts_ok = ok;
  g_strfreev (prompts);
}

/* ------------------------------------------------------------------------ */
/* processing */

static gboolean
gst_vlm_match_model_loaded (GstVlmBase *base, GError **error)
{
  GstVlmMatch *self = GST_VLM_MATCH (base);
  self->active_generation = 0;
  self->last_pts = GST_CLOCK_TIME_NONE;
  GST_OBJECT_LOCK (self);
  self->last_mode = self->mode;
  GST_OBJECT_UNLOCK (self);
  update_prompts (self);
  return TRUE;
}

static void
gst_vlm_match_model_unloading (GstVlmBase *base)
{
  GstVlmMatch *self = GST_VLM_MATCH (base);
  clear_active (self);
  g_clear_pointer (&self->image_emb, g_free);
  self->active_generation = 0;
}

static GValue *
array_value (GValue *array)
{
  g_value_init (array, GST_TYPE_ARRAY);
  return array;
}

static void
append_item (GValue *array, GType type, gconstpointer v)
{
  GValue item = G_VALUE_INIT;
  g_value_init (&item, type);
  if (type == G_TYPE_STRING)
    g_value_set_string (&item, v);
  else if (type == G_TYPE_FLOAT)
    g_value_set_float (&item, *(const gfloat *) v);
  else
    g_value_set_boolean (&item, *(const gboolean *) v);
  gst_value_array_append_and_take_value (array, &item);
}

static GstFlowReturn
gst_vlm_match_process (GstVlmBase *base, GstBuffer *buffer, GstVideoFrame *frame)
{
  GstVlmMatch *self = GST_VLM_MATCH (base);
  VlmClipModel *clip = gst_vlm_base_get_clip (base);
  const gchar *model_id = gst_vlm_base_get_model_id (base);

  update_prompts (self);
  GST_OBJECT_LOCK (self);
  GstVlmMatchMode mode = self->mode;
  gdouble threshold = self->threshold;
  gdouble hysteresis = self->hysteresis;
  GST_OBJECT_UNLOCK (self);
  if (mode != self->last_mode) {
    end_all (self, "mode-changed");
    self->last_mode = mode;
  }

  if (self->n_labels == 0) {
    if (!self->empty_warned) {
      GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS, ("no labels to match (property "
          "\"labels\" is empty); frames pass without match results"), (NULL));
      self->empty_warned = TRUE;
    }
    return GST_FLOW_OK;
  }
  if (!self->prompts_ok)
    return GST_FLOW_OK;

  /* the frame's embedding: reused from upstream or computed here */
  gboolean reused = FALSE;
  GstCustomMeta *meta = gst_buffer_get_vlm_embedding_meta (buffer, model_id);
  if (meta) {
    guint dim = 0;
    const gfloat *v = gst_vlm_embedding_meta_get_vector (meta, &dim);
    if (v && dim == (guint) self->dim) {
      memcpy (self->image_emb, v, sizeof (gfloat) * dim);
      reused = TRUE;
    } else {
      GST_WARNING_OBJECT (self, "ignoring an embedding of %u values (model has %d)", dim,
                          self->dim);
    }
  }
  if (!reused) {
    g_autoptr (GError) error = NULL;
    if (!gst_vlm_base_encode_frame (base, frame, self->image_emb, &error)) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("image encoder failed"), ("%s",
                         error->message));
      return GST_FLOW_ERROR;
    }
    gst_buffer_add_vlm_embedding_meta (buffer, model_id, GST_OBJECT_NAME (self),
                                       self->image_emb, (guint) self->dim);
  }

  gint n = self->n_labels;
  vlm_clip_scores (clip, self->image_emb, 1, self->text_emb, n, self->logits,
                   mode == GST_VLM_MATCH_MODE_CLASSIFY ? self->scores : NULL);
  if (mode == GST_VLM_MATCH_MODE_DETECT) {
    gfloat scale = vlm_clip_model_logit_scale (clip);
    for (gint i = 0; i < n; i++)
      self->scores[i] = scale > 0.0f ? self->logits[i] / scale : 0.0f;
  }

  if (mode == GST_VLM_MATCH_MODE_DETECT) {
    for (gint i = 0; i < n; i++) {
      if (!self->present[i] && self->scores[i] >= threshold) {
        self->present[i] = TRUE;
        self->start_pts[i] = GST_BUFFER_PTS (buffer);
        post_detect (self, i, TRUE, NULL, buffer);
      } else if (self->present[i] && self->scores[i] < threshold - hysteresis) {
        self->present[i] = FALSE;
        post_detect (self, i, FALSE, "below-threshold", buffer);
      }
    }
  }
  gst_buffer_add_vlm_match_meta (buffer, model_id, GST_OBJECT_NAME (self), mode,
                                 self->active_template, (const gchar *const *) self->labels,
                                 self->scores,
                                 mode == GST_VLM_MATCH_MODE_DETECT ? self->present : NULL,
                                 (guint) n);
  self->last_pts = GST_BUFFER_PTS (buffer);

  const gchar *best_label;
  gfloat best_score;
  gint best = 0;
  for (gint i = 1; i < n; i++)
    if (self->scores[i] > self->scores[best])
      best = i;
  best_label = self->labels[best];
  best_score = self->scores[best];

  GstStructure *s = gst_vlm_base_new_result (base, "vlm-match", buffer);
  GValue labels = G_VALUE_INIT, scores = G_VALUE_INIT, present = G_VALUE_INIT;
  array_value (&labels);
  array_value (&scores);
  for (gint i = 0; i < n; i++) {
    append_item (&labels, G_TYPE_STRING, self->labels[i]);
    append_item (&scores, G_TYPE_FLOAT, &self->scores[i]);
  }
  gst_structure_set (s, "model-id", G_TYPE_STRING, model_id,
                     "mode", G_TYPE_STRING, gst_vlm_match_mode_to_string (mode), NULL);
  gst_structure_take_value (s, "labels", &labels);
  gst_structure_take_value (s, "scores", &scores);
  gst_structure_set (s, "best-index", G_TYPE_INT, best,
                     "best-label", G_TYPE_STRING, best_label,
                     "best-score", G_TYPE_DOUBLE, (gdouble) best_score,
                     "reused-embedding", G_TYPE_BOOLEAN, reused, NULL);
  if (mode == GST_VLM_MATCH_MODE_DETECT) {
    array_value (&present);
    for (gint i = 0; i < n; i++)
      append_item (&present, G_TYPE_BOOLEAN, &self->present[i]);
    gst_structure_take_value (s, "present", &present);
  }
  gst_vlm_base_post_result (base, s);
  return GST_FLOW_OK;
}

/* ------------------------------------------------------------------------ */
/* events */

static void
apply_label_event (GstVlmMatch *self, const GstStructure *s)
{
  const gchar *target = gst_structure_get_string (s, "element");
  if (target && g_strcmp0 (target, GST_OBJECT_NAME (self)) != 0)
    return;
  const GValue *lv = gst_structure_get_value (s, "labels");
  const gchar *prompt_template = gst_structure_get_string (s, "template");
  gboolean has_template = gst_structure_has_field (s, "template");
  gchar **labels = NULL;
  gboolean ok = TRUE;
  if (lv)
    labels = labels_from_value (lv, &ok);
  if (!ok) {
    GST_ELEMENT_WARNING (self, STREAM, FORMAT, ("ignoring a \"vlm-set-labels\" event: "
        "\"labels\" must be a comma-separated string or an array of strings"), (NULL));
    return;
  }
  if (has_template && !template_is_valid (prompt_template)) {
    GST_ELEMENT_WARNING (self, STREAM, FORMAT, ("\"vlm-set-labels\" event: the template "
        "must be a string containing \"{}\"; keeping the current template"), (NULL));
    has_template = FALSE;
  }
  GST_OBJECT_LOCK (self);
  if (labels) {
    g_autofree gchar *joined = g_strjoinv (", ", labels);
    set_labels_locked (self, g_steal_pointer (&joined), labels);
  }
  if (has_template && strcmp (prompt_template, self->prompt_template) != 0) {
    g_free (self->prompt_template);
    self->prompt_template = g_strdup (prompt_template);
    self->generation++;
  }
  GST_OBJECT_UNLOCK (self);
  GST_INFO_OBJECT (self, "labels set by event: %" GST_PTR_FORMAT, s);
  if (labels)
    g_object_notify (G_OBJECT (self), "labels");
  if (has_template)
    g_object_notify (G_OBJECT (self), "template");
}

static gboolean
gst_vlm_match_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstVlmMatch *self = GST_VLM_MATCH (trans);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CUSTOM_DOWNSTREAM:
      if (gst_event_has_name (event, GST_VLM_SET_LABELS_EVENT))
        apply_label_event (self, gst_event_get_structure (event));
      break;
    case GST_EVENT_EOS:
      end_all (self, "eos");
      break;
    case GST_EVENT_FLUSH_STOP:
      end_all (self, "flush");
      break;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (gst_vlm_match_parent_class)->sink_event (trans, event);
}

/* ------------------------------------------------------------------------ */
/* GObject */

static void
gst_vlm_match_set_property (GObject *object, guint prop_id, const GValue *value,
                            GParamSpec *pspec)
{
  GstVlmMatch *self = GST_VLM_MATCH (object);
  switch (prop_id) {
    case PROP_LABELS: {
      const gchar *str = g_value_get_string (value);
      GST_OBJECT_LOCK (self);
      set_labels_locked (self, g_strdup (str ? str : ""), parse_labels (str));
      GST_OBJECT_UNLOCK (self);
      break;
    }
    case PROP_TEMPLATE: {
      const gchar *t = g_value_get_string (value);
      if (!template_is_valid (t)) {
        g_warning ("%s: invalid template \"%s\": it must contain \"{}\" (where the label "
                   "goes); keeping \"%s\"", GST_OBJECT_NAME (self), t ? t : "(null)",
                   self->prompt_template);
        break;
      }
      GST_OBJECT_LOCK (self);
      if (strcmp (t, self->prompt_template) != 0) {
        g_free (self->prompt_template);
        self->prompt_template = g_strdup (t);
        self->generation++;
      }
      GST_OBJECT_UNLOCK (self);
      break;
    }
    case PROP_MODE:
      GST_OBJECT_LOCK (self);
      self->mode = g_value_get_enum (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_THRESHOLD:
      GST_OBJECT_LOCK (self);
      self->threshold = g_value_get_double (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_HYSTERESIS:
      GST_OBJECT_LOCK (self);
      self->hysteresis = g_value_get_double (value);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_vlm_match_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstVlmMatch *self = GST_VLM_MATCH (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LABELS:
      g_value_set_string (value, self->labels_str);
      break;
    case PROP_TEMPLATE:
      g_value_set_string (value, self->prompt_template);
      break;
    case PROP_MODE:
      g_value_set_enum (value, self->mode);
      break;
    case PROP_THRESHOLD:
      g_value_set_double (value, self->threshold);
      break;
    case PROP_HYSTERESIS:
      g_value_set_double (value, self->hysteresis);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_vlm_match_finalize (GObject *object)
{
  GstVlmMatch *self = GST_VLM_MATCH (object);
  clear_active (self);
  g_free (self->image_emb);
  g_free (self->labels_str);
  g_strfreev (self->labels_v);
  g_free (self->prompt_template);
  G_OBJECT_CLASS (gst_vlm_match_parent_class)->finalize (object);
}

static void
gst_vlm_match_init (GstVlmMatch *self)
{
  self->labels_str = g_strdup (DEFAULT_LABELS);
  self->labels_v = parse_labels (DEFAULT_LABELS);
  self->prompt_template = g_strdup (DEFAULT_TEMPLATE);
  self->mode = DEFAULT_MODE;
  self->threshold = DEFAULT_THRESHOLD;
  self->hysteresis = DEFAULT_HYSTERESIS;
  self->generation = 1;
  self->last_pts = GST_CLOCK_TIME_NONE;
}

static void
gst_vlm_match_class_init (GstVlmMatchClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVlmBaseClass *base_class = GST_VLM_BASE_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_vlm_match_debug, "vlmmatch", 0, "gst-vlm text matching");

  gobject_class->set_property = gst_vlm_match_set_property;
  gobject_class->get_property = gst_vlm_match_get_property;
  gobject_class->finalize = gst_vlm_match_finalize;

  /**
   * GstVlmMatch:labels:
   *
   * Comma-separated labels; whitespace around each is trimmed and empty
   * items are dropped (at most 4096). Changes apply from the next buffer.
   */
  g_object_class_install_property (gobject_class, PROP_LABELS,
      g_param_spec_string ("labels", "Labels",
          "Comma-separated labels to match frames against (whitespace trimmed; applied from "
          "the next buffer when changed while playing)",
          DEFAULT_LABELS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstVlmMatch:template:
   *
   * Prompt template; every "{}" is replaced by the label ("a photo of {}").
   * A template without "{}" is rejected with a warning and the old one kept.
   */
  g_object_class_install_property (gobject_class, PROP_TEMPLATE,
      g_param_spec_string ("template", "Prompt template",
          "Text prompt for each label; \"{}\" is replaced by the label, e.g. "
          "\"a photo of {}\" (must contain \"{}\")",
          DEFAULT_TEMPLATE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstVlmMatch:mode:
   *
   * classify: softmax over the labels; detect: each label against
   * #GstVlmMatch:threshold with start/end messages.
   */
  g_object_class_install_property (gobject_class, PROP_MODE,
      g_param_spec_enum ("mode", "Mode",
          "classify: softmax over the labels (best label + probabilities); detect: each "
          "label's cosine against the threshold, start/end messages",
          GST_TYPE_VLM_MATCH_MODE, DEFAULT_MODE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstVlmMatch:threshold:
   *
   * Detect mode: cosine similarity (between the L2-normalised image and
   * prompt embeddings, -1 to 1) at which a label becomes present. Real CLIP
   * models give about 0.2–0.35 for a matching prompt, so 0.25 is a start;
   * tune per model and labels.
   */
  g_object_class_install_property (gobject_class, PROP_THRESHOLD,
      g_param_spec_double ("threshold", "Threshold",
          "Detect mode: cosine similarity (-1 to 1) at which a label starts being present "
          "(CLIP ViT-B: about 0.2-0.35 for a matching prompt)",
          -1.0, 1.0, DEFAULT_THRESHOLD,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstVlmMatch:hysteresis:
   *
   * Detect mode: a present label ends only when its cosine falls below
   * threshold − hysteresis, so scores hovering around the threshold give
   * one start and one end.
   */
  g_object_class_install_property (gobject_class, PROP_HYSTERESIS,
      g_param_spec_double ("hysteresis", "Hysteresis",
          "Detect mode: cosine margin; a present label ends when its cosine falls below "
          "threshold - hysteresis",
          0.0, 2.0, DEFAULT_HYSTERESIS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_vlm_match_sink_event);
  base_class->model_loaded = GST_DEBUG_FUNCPTR (gst_vlm_match_model_loaded);
  base_class->model_unloading = GST_DEBUG_FUNCPTR (gst_vlm_match_model_unloading);
  base_class->process = GST_DEBUG_FUNCPTR (gst_vlm_match_process);

  gst_element_class_set_static_metadata (element_class,
      "VLM text match", "Filter/Analyzer/Video",
      "Scores every processed frame against text labels with CLIP: mode=classify gives a "
      "softmax over the labels (best label and probabilities), mode=detect compares each "
      "label's cosine with a threshold and posts vlm-detect start/end messages. Attaches a "
      "VlmMatchMeta and posts a \"vlm-match\" element message per frame; reuses an "
      "upstream vlmembed's embedding of the same model. Labels change through the "
      "properties or a serialized \"vlm-set-labels\" custom event. Example: "
      "gst-launch-1.0 -m videotestsrc num-buffers=30 ! vlmembed model=/path/to/clip ! "
      "vlmmatch model=/path/to/clip labels=\"red,green,blue\" template=\"a {} picture\" ! "
      "fakesink",
      "gst-vlm developers");

  gst_type_mark_as_plugin_api (GST_TYPE_VLM_MATCH_MODE, 0);
}
