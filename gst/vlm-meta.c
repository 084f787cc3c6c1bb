/* gst-vlm — typed buffer metadata for vision-language results.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <string.h>

#include "vlm-meta.h"

/* Field names, shared by the writers and readers below. */
#define F_MODEL_ID "model-id"
#define F_ELEMENT "element"
#define F_DIMENSION "dimension"
#define F_VECTOR "vector"
#define F_MODE "mode"
#define F_LABELS "labels"
#define F_TEMPLATE "template"
#define F_SCORES "scores"
#define F_BEST_INDEX "best-index"
#define F_BEST_LABEL "best-label"
#define F_BEST_SCORE "best-score"
#define F_PRESENT "present"
#define F_TEXT "text"
#define F_MEAN_LOGPROB "mean-logprob"
#define F_TRUNCATED "truncated"
#define F_QUESTION "question"
#define F_ANSWER "answer"
#define F_SCORE "score"
#define F_QUESTION_TRUNCATED "question-truncated"

/**
 * gst_vlm_match_mode_get_type:
 *
 * Returns: the #GType of #GstVlmMatchMode (nicks "classify" and "detect").
 *
 * Since: 0.1
 */
GType
gst_vlm_match_mode_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    { GST_VLM_MATCH_MODE_CLASSIFY, "Softmax over the labels, one best label", "classify" },
    { GST_VLM_MATCH_MODE_DETECT, "Each label against the threshold, start/end messages",
      "detect" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstVlmMatchMode", values);
    g_once_init_leave (&type, t);
  }
  return (GType) type;
}

/**
 * gst_vlm_match_mode_to_string:
 * @mode: a mode
 *
 * Returns: "classify" or "detect" (the value of the `mode` field), or
 *   "unknown".
 *
 * Since: 0.1
 */
const gchar *
gst_vlm_match_mode_to_string (GstVlmMatchMode mode)
{
  switch (mode) {
    case GST_VLM_MATCH_MODE_CLASSIFY:
      return "classify";
    case GST_VLM_MATCH_MODE_DETECT:
      return "detect";
  }
  return "unknown";
}

/* Copies every field of the source meta's structure to a new meta of the
 * same name on @transbuf. Used for every kind of transform: a vlm result
 * describes the picture's content, which copies, scaling and conversions
 * keep. GBytes and GstValueArray values are shared or copied by GValue. */
static gboolean
copy_fields (GQuark field, const GValue *value, gpointer user_data)
{
  gst_structure_id_set_value (user_data, field, value);
  return TRUE;
}

static gboolean
vlm_meta_transform (GstBuffer *transbuf, GstCustomMeta *meta, GstBuffer *buffer, GQuark type,
                    gpointer data, gpointer user_data)
{
  const gchar *name = user_data;
  GstCustomMeta *copy = gst_buffer_add_custom_meta (transbuf, name);
  if (!copy)
    return FALSE;
  gst_structure_foreach (gst_custom_meta_get_structure (meta), copy_fields,
                         gst_custom_meta_get_structure (copy));
  return TRUE;
}

static const GstMetaInfo *
register_one (const gchar *name)
{
  /* No tags: the result does not depend on the buffer's memory, size,
   * colour space or orientation, so transforms keep it. */
  static const gchar *tags[] = { NULL };
  const GstMetaInfo *info = gst_meta_get_info (name);
  if (info)
    return info;
  return gst_meta_register_custom (name, tags, vlm_meta_transform, (gpointer) name, NULL);
}

static const GstMetaInfo *embedding_info;
static const GstMetaInfo *match_info;
static const GstMetaInfo *caption_info;
static const GstMetaInfo *answer_info;

/**
 * gst_vlm_meta_register:
 *
 * Registers the vlm custom metas (`VlmEmbeddingMeta`, `VlmMatchMeta`,
 * `VlmCaptionMeta`, `VlmAnswerMeta`). Safe
 * to call any number of times from any thread; the add and get functions
 * call it, and so does the vlm plugin when it loads (so Python's
 * Gst.Buffer.get_custom_meta() finds them once the plugin is loaded).
 *
 * Since: 0.1
 */
void
gst_vlm_meta_register (void)
{
  static gsize done = 0;
  if (g_once_init_enter (&done)) {
    embedding_info = register_one (GST_VLM_EMBEDDING_META_NAME);
    match_info = register_one (GST_VLM_MATCH_META_NAME);
    caption_info = register_one (GST_VLM_CAPTION_META_NAME);
    answer_info = register_one (GST_VLM_ANSWER_META_NAME);
    g_once_init_leave (&done, 1);
  }
}

/**
 * gst_vlm_embedding_meta_get_info:
 *
 * Returns: (transfer none): the #GstMetaInfo of `VlmEmbeddingMeta`.
 *
 * Since: 0.1
 */
const GstMetaInfo *
gst_vlm_embedding_meta_get_info (void)
{
  gst_vlm_meta_register ();
  return embedding_info;
}

/**
 * gst_vlm_match_meta_get_info:
 *
 * Returns: (transfer none): the #GstMetaInfo of `VlmMatchMeta`.
 *
 * Since: 0.1
 */
const GstMetaInfo *
gst_vlm_match_meta_get_info (void)
{
  gst_vlm_meta_register ();
  return match_info;
}

/**
 * gst_vlm_caption_meta_get_info:
 *
 * Returns: (transfer none): the #GstMetaInfo of `VlmCaptionMeta`.
 *
 * Since: 0.1
 */
const GstMetaInfo *
gst_vlm_caption_meta_get_info (void)
{
  gst_vlm_meta_register ();
  return caption_info;
}

/**
 * gst_vlm_answer_meta_get_info:
 *
 * Returns: (transfer none): the #GstMetaInfo of `VlmAnswerMeta`.
 *
 * Since: 0.1
 */
const GstMetaInfo *
gst_vlm_answer_meta_get_info (void)
{
  gst_vlm_meta_register ();
  return answer_info;
}

/**
 * gst_vlm_meta_is_vlm:
 * @meta: any meta
 *
 * Returns: %TRUE when @meta is a custom meta whose name starts with
 *   #GST_VLM_META_PREFIX, i.e. a result of a vlm element (of this or a later
 *   version).
 *
 * Since: 0.1
 */
gboolean
gst_vlm_meta_is_vlm (GstMeta *meta)
{
  if (!meta || !gst_meta_info_is_custom (meta->info))
    return FALSE;
  const gchar *name = gst_structure_get_name (
      gst_custom_meta_get_structure ((GstCustomMeta *) meta));
  return g_str_has_prefix (name, GST_VLM_META_PREFIX);
}

static GBytes *
float_bytes (const gfloat *values, guint n)
{
  return g_bytes_new (values, (gsize) n * sizeof (gfloat));
}

static GstCustomMeta *
add_common (GstBuffer *buffer, const GstMetaInfo *info, const gchar *name,
            const gchar *model_id, const gchar *element)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), NULL);
  g_return_val_if_fail (model_id != NULL, NULL);
  if (!info)
    return NULL;
  GstCustomMeta *meta = gst_buffer_add_custom_meta (buffer, name);
  if (!meta)
    return NULL;
  gst_structure_set (gst_custom_meta_get_structure (meta), F_MODEL_ID, G_TYPE_STRING, model_id,
                     F_ELEMENT, G_TYPE_STRING, element ? element : "", NULL);
  return meta;
}

/* First meta of @info on @buffer whose model-id is @model_id (any when
 * NULL). */
static GstCustomMeta *
find (GstBuffer *buffer, const GstMetaInfo *info, const gchar *model_id)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  if (!info)
    return NULL;
  gpointer state = NULL;
  GstMeta *meta;
  while ((meta = gst_buffer_iterate_meta_filtered (buffer, &state, info->api))) {
    if (meta->info != info)
      continue;
    GstCustomMeta *cm = (GstCustomMeta *) meta;
    if (!model_id)
      return cm;
    const gchar *id = gst_structure_get_string (gst_custom_meta_get_structure (cm), F_MODEL_ID);
    if (g_strcmp0 (id, model_id) == 0)
      return cm;
  }
  return NULL;
}

static GstStructure *
structure_of (GstCustomMeta *meta, const gchar *name)
{
  if (!meta || !gst_custom_meta_has_name (meta, name))
    return NULL;
  return gst_custom_meta_get_structure (meta);
}

/* Float array of a GBytes field; NULL (and *n = 0) when absent. */
static const gfloat *
get_floats (const GstStructure *s, const gchar *field, guint *n)
{
  const GValue *v = s ? gst_structure_get_value (s, field) : NULL;
  gsize size = 0;
  const gfloat *data = NULL;
  if (v && G_VALUE_HOLDS (v, G_TYPE_BYTES) && g_value_get_boxed (v))
    data = g_bytes_get_data (g_value_get_boxed (v), &size);
  if (n)
    *n = data ? (guint) (size / sizeof (gfloat)) : 0;
  return size >= sizeof (gfloat) ? data : NULL;
}

/**
 * gst_buffer_add_vlm_embedding_meta:
 * @buffer: a writable buffer
 * @model_id: the model's id (its canonical folder)
 * @element: (nullable): name of the producing element
 * @vector: (array length=dimension): the L2-normalised embedding
 * @dimension: number of floats in @vector (> 0)
 *
 * Attaches an image embedding. The vector is copied.
 *
 * Returns: (transfer none) (nullable): the new meta, or %NULL on invalid
 *   arguments.
 *
 * Since: 0.1
 */
GstCustomMeta *
gst_buffer_add_vlm_embedding_meta (GstBuffer *buffer, const gchar *model_id,
                                   const gchar *element, const gfloat *vector, guint dimension)
{
  g_return_val_if_fail (vector != NULL && dimension > 0, NULL);
  GstCustomMeta *meta = add_common (buffer, gst_vlm_embedding_meta_get_info (),
                                    GST_VLM_EMBEDDING_META_NAME, model_id, element);
  if (!meta)
    return NULL;
  g_autoptr (GBytes) bytes = float_bytes (vector, dimension);
  gst_structure_set (gst_custom_meta_get_structure (meta), F_DIMENSION, G_TYPE_UINT, dimension,
                     F_VECTOR, G_TYPE_BYTES, bytes, NULL);
  return meta;
}

/**
 * gst_buffer_get_vlm_embedding_meta:
 * @buffer: a buffer
 * @model_id: (nullable): only return an embedding of this model; %NULL for
 *   the first embedding of any model
 *
 * Returns: (transfer none) (nullable): the embedding meta, or %NULL.
 *
 * Since: 0.1
 */
GstCustomMeta *
gst_buffer_get_vlm_embedding_meta (GstBuffer *buffer, const gchar *model_id)
{
  return find (buffer, gst_vlm_embedding_meta_get_info (), model_id);
}

/**
 * gst_vlm_embedding_meta_get_model_id:
 * @meta: an embedding meta
 *
 * Returns: (nullable): the model id, valid as long as @meta is.
 *
 * Since: 0.1
 */
const gchar *
gst_vlm_embedding_meta_get_model_id (GstCustomMeta *meta)
{
  GstStructure *s = structure_of (meta, GST_VLM_EMBEDDING_META_NAME);
  return s ? gst_structure_get_string (s, F_MODEL_ID) : NULL;
}

/**
 * gst_vlm_embedding_meta_get_vector:
 * @meta: an embedding meta
 * @dimension: (out) (optional): number of floats
 *
 * Returns: (transfer none) (nullable) (array length=dimension): the
 *   L2-normalised vector, valid as long as @meta is.
 *
 * Since: 0.1
 */
const gfloat *
gst_vlm_embedding_meta_get_vector (GstCustomMeta *meta, guint *dimension)
{
  return get_floats (structure_of (meta, GST_VLM_EMBEDDING_META_NAME), F_VECTOR, dimension);
}

/**
 * gst_buffer_add_vlm_match_meta:
 * @buffer: a writable buffer
 * @model_id: the model's id (its canonical folder)
 * @element: (nullable): name of the producing element
 * @mode: how @scores were computed
 * @prompt_template: (nullable): the prompt template ("{}" when %NULL)
 * @labels: (array length=n_labels): the labels
 * @scores: (array length=n_labels): one score per label
 * @present: (array length=n_labels) (nullable): detect mode: whether each
 *   label is present
 * @n_labels: number of labels (> 0)
 *
 * Attaches text-match results. The best label (highest score, the first on
 * ties) is computed here.
 *
 * Returns: (transfer none) (nullable): the new meta, or %NULL on invalid
 *   arguments.
 *
 * Since: 0.1
 */
GstCustomMeta *
gst_buffer_add_vlm_match_meta (GstBuffer *buffer, const gchar *model_id, const gchar *element,
                               GstVlmMatchMode mode, const gchar *prompt_template,
                               const gchar *const *labels, const gfloat *scores,
                               const gboolean *present, guint n_labels)
{
  g_return_val_if_fail (labels != NULL && scores != NULL && n_labels > 0, NULL);
  for (guint i = 0; i < n_labels; i++)
    g_return_val_if_fail (labels[i] != NULL, NULL);
  GstCustomMeta *meta = add_common (buffer, gst_vlm_match_meta_get_info (),
                                    GST_VLM_MATCH_META_NAME, model_id, element);
  if (!meta)
    return NULL;
  GstStructure *s = gst_custom_meta_get_structure (meta);

  guint best = 0;
  for (guint i = 1; i < n_labels; i++)
    if (scores[i] > scores[best])
      best = i;

  GValue array = G_VALUE_INIT, item = G_VALUE_INIT;
  g_value_init (&array, GST_TYPE_ARRAY);
  for (guint i = 0; i < n_labels; i++) {
    g_value_init (&item, G_TYPE_STRING);
    g_value_set_string (&item, labels[i]);
    gst_value_array_append_and_take_value (&array, &item);
  }
  gst_structure_take_value (s, F_LABELS, &array);

  g_autoptr (GBytes) bytes = float_bytes (scores, n_labels);
  gst_structure_set (s, F_MODE, G_TYPE_STRING, gst_vlm_match_mode_to_string (mode),
                     F_TEMPLATE, G_TYPE_STRING, prompt_template ? prompt_template : "{}",
                     F_SCORES, G_TYPE_BYTES, bytes,
                     F_BEST_INDEX, G_TYPE_INT, (gint) best,
                     F_BEST_LABEL, G_TYPE_STRING, labels[best],
                     F_BEST_SCORE, G_TYPE_DOUBLE, (gdouble) scores[best], NULL);

  if (present) {
    g_value_init (&array, GST_TYPE_ARRAY);
    for (guint i = 0; i < n_labels; i++) {
      g_value_init (&item, G_TYPE_BOOLEAN);
      g_value_set_boolean (&item, present[i]);
      gst_value_array_append_and_take_value (&array, &item);
    }
    gst_structure_take_value (s, F_PRESENT, &array);
  }
  return meta;
}

/**
 * gst_buffer_get_vlm_match_meta:
 * @buffer: a buffer
 * @model_id: (nullable): only return a match of this model; %NULL for the
 *   first match of any model
 *
 * Returns: (transfer none) (nullable): the match meta, or %NULL.
 *
 * Since: 0.1
 */
GstCustomMeta *
gst_buffer_get_vlm_match_meta (GstBuffer *buffer, const gchar *model_id)
{
  return find (buffer, gst_vlm_match_meta_get_info (), model_id);
}

/**
 * gst_vlm_match_meta_get_model_id:
 * @meta: a match meta
 *
 * Returns: (nullable): the model id, valid as long as @meta is.
 *
 * Since: 0.1
 */
const gchar *
gst_vlm_match_meta_get_model_id (GstCustomMeta *meta)
{
  GstStructure *s = structure_of (meta, GST_VLM_MATCH_META_NAME);
  return s ? gst_structure_get_string (s, F_MODEL_ID) : NULL;
}

/**
 * gst_vlm_match_meta_get_mode:
 * @meta: a match meta
 *
 * Returns: how the scores were computed.
 *
 * Since: 0.1
 */
GstVlmMatchMode
gst_vlm_match_meta_get_mode (GstCustomMeta *meta)
{
  GstStructure *s = structure_of (meta, GST_VLM_MATCH_META_NAME);
  const gchar *mode = s ? gst_structure_get_string (s, F_MODE) : NULL;
  return g_strcmp0 (mode, "detect") == 0 ? GST_VLM_MATCH_MODE_DETECT
                                         : GST_VLM_MATCH_MODE_CLASSIFY;
}

/**
 * gst_vlm_match_meta_get_n_labels:
 * @meta: a match meta
 *
 * Returns: the number of labels (0 for an invalid meta).
 *
 * Since: 0.1
 */
guint
gst_vlm_match_meta_get_n_labels (GstCustomMeta *meta)
{
  GstStructure *s = structure_of (meta, GST_VLM_MATCH_META_NAME);
  const GValue *v = s ? gst_structure_get_value (s, F_LABELS) : NULL;
  return v && GST_VALUE_HOLDS_ARRAY (v) ? gst_value_array_get_size (v) : 0;
}

/**
 * gst_vlm_match_meta_get_label:
 * @meta: a match meta
 * @index: label index
 *
 * Returns: (nullable): label @index, or %NULL when out of range; valid as
 *   long as @meta is.
 *
 * Since: 0.1
 */
const gchar *
gst_vlm_match_meta_get_label (GstCustomMeta *meta, guint index)
{
  if (index >= gst_vlm_match_meta_get_n_labels (meta))
    return NULL;
  const GValue *v = gst_structure_get_value (gst_custom_meta_get_structure (meta), F_LABELS);
  const GValue *item = gst_value_array_get_value (v, index);
  return G_VALUE_HOLDS_STRING (item) ? g_value_get_string (item) : NULL;
}

/**
 * gst_vlm_match_meta_get_scores:
 * @meta: a match meta
 * @n_scores: (out) (optional): number of scores (one per label)
 *
 * Returns: (transfer none) (nullable) (array length=n_scores): the scores
 *   (probabilities in classify mode, cosines in detect mode), valid as long as
 *   @meta is.
 *
 * Since: 0.1
 */
const gfloat *
gst_vlm_match_meta_get_scores (GstCustomMeta *meta, guint *n_scores)
{
  return get_floats (structure_of (meta, GST_VLM_MATCH_META_NAME), F_SCORES, n_scores);
}

/**
 * gst_vlm_match_meta_get_present:
 * @meta: a match meta
 * @index: label index
 *
 * Returns: in detect mode, whether label @index is present; %FALSE in
 *   classify mode or when @index is out of range.
 *
 * Since: 0.1
 */
gboolean
gst_vlm_match_meta_get_present (GstCustomMeta *meta, guint index)
{
  GstStructure *s = structure_of (meta, GST_VLM_MATCH_META_NAME);
  const GValue *v = s ? gst_structure_get_value (s, F_PRESENT) : NULL;
  if (!v || !GST_VALUE_HOLDS_ARRAY (v) || index >= gst_value_array_get_size (v))
    return FALSE;
  const GValue *item = gst_value_array_get_value (v, index);
  return G_VALUE_HOLDS_BOOLEAN (item) && g_value_get_boolean (item);
}

/**
 * gst_vlm_match_meta_get_best:
 * @meta: a match meta
 * @label: (out) (optional) (transfer none): the best label
 * @score: (out) (optional): its score
 *
 * Returns: index of the best label, or -1 for an invalid meta.
 *
 * Since: 0.1
 */
gint
gst_vlm_match_meta_get_best (GstCustomMeta *meta, const gchar **label, gfloat *score)
{
  GstStructure *s = structure_of (meta, GST_VLM_MATCH_META_NAME);
  gint index = -1;
  gdouble best = 0.0;
  if (!s || !gst_structure_get_int (s, F_BEST_INDEX, &index) ||
      !gst_structure_get_double (s, F_BEST_SCORE, &best))
    index = -1;
  if (label)
    *label = index >= 0 ? gst_structure_get_string (s, F_BEST_LABEL) : NULL;
  if (score)
    *score = index >= 0 ? (gfloat) best : 0.0f;
  return index;
}

/* A double field, or @fallback when absent. */
static gdouble
get_double (const GstStructure *s, const gchar *field, gdouble fallback)
{
  gdouble v;
  return s && gst_structure_get_double (s, field, &v) ? v : fallback;
}

static gboolean
get_boolean (const GstStructure *s, const gchar *field)
{
  gboolean v;
  return s && gst_structure_get_boolean (s, field, &v) && v;
}

/**
 * gst_buffer_add_vlm_caption_meta:
 * @buffer: a writable buffer
 * @model_id: the model's id (its canonical folder)
 * @element: (nullable): name of the producing element
 * @text: the caption, UTF-8
 * @mean_logprob: mean log-probability of the generated tokens (≤ 0)
 * @truncated: whether generation stopped at the token limit
 *
 * Attaches an image caption. The text is copied.
 *
 * Returns: (transfer none) (nullable): the new meta, or %NULL on invalid
 *   arguments (no text, or text that is not UTF-8).
 *
 * Since: 0.1
 */
GstCustomMeta *
gst_buffer_add_vlm_caption_meta (GstBuffer *buffer, const gchar *model_id, const gchar *element,
                                 const gchar *text, gdouble mean_logprob, gboolean truncated)
{
  g_return_val_if_fail (text != NULL && g_utf8_validate (text, -1, NULL), NULL);
  GstCustomMeta *meta = add_common (buffer, gst_vlm_caption_meta_get_info (),
                                    GST_VLM_CAPTION_META_NAME, model_id, element);
  if (!meta)
    return NULL;
  gst_structure_set (gst_custom_meta_get_structure (meta), F_TEXT, G_TYPE_STRING, text,
                     F_MEAN_LOGPROB, G_TYPE_DOUBLE, mean_logprob,
                     F_TRUNCATED, G_TYPE_BOOLEAN, truncated, NULL);
  return meta;
}

/**
 * gst_buffer_get_vlm_caption_meta:
 * @buffer: a buffer
 * @model_id: (nullable): only return a caption of this model; %NULL for the
 *   first caption of any model
 *
 * Returns: (transfer none) (nullable): the caption meta, or %NULL.
 *
 * Since: 0.1
 */
GstCustomMeta *
gst_buffer_get_vlm_caption_meta (GstBuffer *buffer, const gchar *model_id)
{
  return find (buffer, gst_vlm_caption_meta_get_info (), model_id);
}

/**
 * gst_vlm_caption_meta_get_model_id:
 * @meta: a caption meta
 *
 * Returns: (nullable): the model id, valid as long as @meta is.
 *
 * Since: 0.1
 */
const gchar *
gst_vlm_caption_meta_get_model_id (GstCustomMeta *meta)
{
  GstStructure *s = structure_of (meta, GST_VLM_CAPTION_META_NAME);
  return s ? gst_structure_get_string (s, F_MODEL_ID) : NULL;
}

/**
 * gst_vlm_caption_meta_get_text:
 * @meta: a caption meta
 *
 * Returns: (nullable): the caption, valid as long as @meta is; %NULL for an
 *   invalid meta.
 *
 * Since: 0.1
 */
const gchar *
gst_vlm_caption_meta_get_text (GstCustomMeta *meta)
{
  GstStructure *s = structure_of (meta, GST_VLM_CAPTION_META_NAME);
  return s ? gst_structure_get_string (s, F_TEXT) : NULL;
}

/**
 * gst_vlm_caption_meta_get_mean_logprob:
 * @meta: a caption meta
 *
 * Returns: the mean log-probability of the caption's tokens; -infinity for
 *   an invalid meta.
 *
 * Since: 0.1
 */
gdouble
gst_vlm_caption_meta_get_mean_logprob (GstCustomMeta *meta)
{
  return get_double (structure_of (meta, GST_VLM_CAPTION_META_NAME), F_MEAN_LOGPROB,
                     -INFINITY);
}

/**
 * gst_vlm_caption_meta_get_truncated:
 * @meta: a caption meta
 *
 * Returns: %TRUE when the caption stopped at the token limit.
 *
 * Since: 0.1
 */
gboolean
gst_vlm_caption_meta_get_truncated (GstCustomMeta *meta)
{
  return get_boolean (structure_of (meta, GST_VLM_CAPTION_META_NAME), F_TRUNCATED);
}

/**
 * gst_buffer_add_vlm_answer_meta:
 * @buffer: a writable buffer
 * @model_id: the model's id (its canonical folder)
 * @element: (nullable): name of the producing element
 * @question: the question, UTF-8
 * @answer: the answer, UTF-8
 * @score: mean log-probability of the answer's tokens (≤ 0)
 * @truncated: whether the answer stopped at the token limit
 * @question_truncated: whether only the beginning of @question fitted the
 *   model
 *
 * Attaches the answer to a question about the image. The strings are
 * copied.
 *
 * Returns: (transfer none) (nullable): the new meta, or %NULL on invalid
 *   arguments.
 *
 * Since: 0.1
 */
GstCustomMeta *
gst_buffer_add_vlm_answer_meta (GstBuffer *buffer, const gchar *model_id, const gchar *element,
                                const gchar *question, const gchar *answer, gdouble score,
                                gboolean truncated, gboolean question_truncated)
{
  g_return_val_if_fail (question != NULL && g_utf8_validate (question, -1, NULL), NULL);
  g_return_val_if_fail (answer != NULL && g_utf8_validate (answer, -1, NULL), NULL);
  GstCustomMeta *meta = add_common (buffer, gst_vlm_answer_meta_get_info (),
                                    GST_VLM_ANSWER_META_NAME, model_id, element);
  if (!meta)
    return NULL;
  gst_structure_set (gst_custom_meta_get_structure (meta), F_QUESTION, G_TYPE_STRING, question,
                     F_ANSWER, G_TYPE_STRING, answer,
                     F_SCORE, G_TYPE_DOUBLE, score,
                     F_TRUNCATED, G_TYPE_BOOLEAN, truncated,
                     F_QUESTION_TRUNCATED, G_TYPE_BOOLEAN, question_truncated, NULL);
  return meta;
}

/**
 * gst_buffer_get_vlm_answer_meta:
 * @buffer: a buffer
 * @model_id: (nullable): only return an answer of this model; %NULL for the
 *   first answer of any model
 *
 * Returns: (transfer none) (nullable): the answer meta, or %NULL.
 *
 * Since: 0.1
 */
GstCustomMeta *
gst_buffer_get_vlm_answer_meta (GstBuffer *buffer, const gchar *model_id)
{
  return find (buffer, gst_vlm_answer_meta_get_info (), model_id);
}

/**
 * gst_vlm_answer_meta_get_model_id:
 * @meta: an answer meta
 *
 * Returns: (nullable): the model id, valid as long as @meta is.
 *
 * Since: 0.1
 */
const gchar *
gst_vlm_answer_meta_get_model_id (GstCustomMeta *meta)
{
  GstStructure *s = structure_of (meta, GST_VLM_ANSWER_META_NAME);
  return s ? gst_structure_get_string (s, F_MODEL_ID) : NULL;
}

/**
 * gst_vlm_answer_meta_get_question:
 * @meta: an answer meta
 *
 * Returns: (nullable): the question, valid as long as @meta is.
 *
 * Since: 0.1
 */
const gchar *
gst_vlm_answer_meta_get_question (GstCustomMeta *meta)
{
  GstStructure *s = structure_of (meta, GST_VLM_ANSWER_META_NAME);
  return s ? gst_structure_get_string (s, F_QUESTION) : NULL;
}

/**
 * gst_vlm_answer_meta_get_answer:
 * @meta: an answer meta
 *
 * Returns: (nullable): the answer, valid as long as @meta is.
 *
 * Since: 0.1
 */
const gchar *
gst_vlm_answer_meta_get_answer (GstCustomMeta *meta)
{
  GstStructure *s = structure_of (meta, GST_VLM_ANSWER_META_NAME);
  return s ? gst_structure_get_string (s, F_ANSWER) : NULL;
}

/**
 * gst_vlm_answer_meta_get_score:
 * @meta: an answer meta
 *
 * Returns: the mean log-probability of the answer's tokens; -infinity for
 *   an invalid meta.
 *
 * Since: 0.1
 */
gdouble
gst_vlm_answer_meta_get_score (GstCustomMeta *meta)
{
  return get_double (structure_of (meta, GST_VLM_ANSWER_META_NAME), F_SCORE, -INFINITY);
}

/**
 * gst_vlm_answer_meta_get_truncated:
 * @meta: an answer meta
 *
 * Returns: %TRUE when the answer stopped at the token limit.
 *
 * Since: 0.1
 */
gboolean
gst_vlm_answer_meta_get_truncated (GstCustomMeta *meta)
{
  return get_boolean (structure_of (meta, GST_VLM_ANSWER_META_NAME), F_TRUNCATED);
}

/**
 * gst_vlm_answer_meta_get_question_truncated:
 * @meta: an answer meta
 *
 * Returns: %TRUE when only the beginning of the question was used.
 *
 * Since: 0.1
 */
gboolean
gst_vlm_answer_meta_get_question_truncated (GstCustomMeta *meta)
{
  return get_boolean (structure_of (meta, GST_VLM_ANSWER_META_NAME), F_QUESTION_TRUNCATED);
}
