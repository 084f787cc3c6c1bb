/* gst-vlm — typed buffer metadata for vision-language results.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/**
 * SECTION:vlm-meta
 * @title: VLM metadata
 * @short_description: embeddings, text matches, captions and answers attached
 *   to video buffers
 *
 * The vlm elements (vlmembed, vlmmatch, vlmcaption, vlmvqa) annotate the buffers they process
 * with metadata. Every kind of result is a #GstCustomMeta (GStreamer ≥ 1.20)
 * whose #GstStructure holds the fields, so any language with GObject
 * introspection reads them without a dedicated binding:
 *
 * |[<!-- language="python" -->
 * meta = buf.get_custom_meta("VlmEmbeddingMeta")
 * s = meta.get_structure()
 * vec = numpy.frombuffer(s.get_value("vector").get_data(), dtype=numpy.float32)
 * ]|
 *
 * C code uses the typed functions below and never touches field names.
 *
 * Fields common to every vlm meta:
 *
 * - `model-id` (string): the canonical (absolute, symlink-free) model folder
 * - `element` (string): name of the element that produced the result
 *
 * `VlmEmbeddingMeta` (#GST_VLM_EMBEDDING_META_NAME):
 *
 * - `dimension` (uint): number of floats in `vector`
 * - `vector` (#GBytes): @dimension native-endian float32 values, L2-normalised
 *
 * `VlmMatchMeta` (#GST_VLM_MATCH_META_NAME):
 *
 * - `mode` (string): "classify" or "detect"
 * - `labels` (#GstValueArray of strings): the labels, in property order
 * - `template` (string): the prompt template the labels were put into
 * - `scores` (#GBytes): one native-endian float32 per label; softmax
 *   probabilities (summing to 1) in classify mode, cosine similarities in
 *   [-1, 1] in detect mode
 * - `best-index` (int), `best-label` (string), `best-score` (double): the
 *   label with the highest score
 * - `present` (#GstValueArray of booleans, detect mode only): whether each
 *   label is currently present (after threshold and hysteresis)
 *
 * Every #GBytes field of a vlm meta holds native-endian float32 values.
 * Metas are copied by gst_buffer_copy() and by every other buffer transform
 * (scaling, conversion): they describe the picture, not its pixels.
 *
 * `VlmCaptionMeta` (#GST_VLM_CAPTION_META_NAME), from vlmcaption:
 *
 * - `text` (string): the caption (UTF-8, clean text as the tokenizer
 *   decodes it; may be empty when the model ends at once)
 * - `mean-logprob` (double): mean log-probability of the generated tokens,
 *   sum(log p) / n, the end token included when one was generated; ≤ 0,
 *   higher is more confident
 * - `truncated` (boolean): %TRUE when generation hit the `max-tokens` limit
 *   before the model's end token
 *
 * `VlmAnswerMeta` (#GST_VLM_ANSWER_META_NAME), from vlmvqa:
 *
 * - `question` (string): the question as it was asked
 * - `answer` (string): the generated answer
 * - `score` (double): mean log-probability of the answer's tokens (as
 *   `mean-logprob` above)
 * - `truncated` (boolean): the answer hit `max-tokens`
 * - `question-truncated` (boolean): the question was longer than the model's
 *   text positions allow and only its beginning was used
 *
 * |[<!-- language="python" -->
 * c = buf.get_custom_meta("VlmCaptionMeta").get_structure()
 * print(c.get_value("text"), c.get_value("mean-logprob"))
 * a = buf.get_custom_meta("VlmAnswerMeta").get_structure()
 * print(a.get_value("question"), "->", a.get_value("answer"))
 * ]|
 *
 * These metas are the contract on every GStreamer ≥ 1.20. When built
 * against GStreamer ≥ 1.24, the elements may in addition attach GstAnalytics
 * metadata (a classification per match); readers of the metas above are not
 * affected.
 *
 * Since: 0.1
 */

/**
 * GST_VLM_EMBEDDING_META_NAME:
 *
 * Name of the custom meta (and of its structure) holding an image
 * embedding.
 *
 * Since: 0.1
 */
#define GST_VLM_EMBEDDING_META_NAME "VlmEmbeddingMeta"

/**
 * GST_VLM_MATCH_META_NAME:
 *
 * Name of the custom meta (and of its structure) holding text-match scores.
 *
 * Since: 0.1
 */
#define GST_VLM_MATCH_META_NAME "VlmMatchMeta"

/**
 * GST_VLM_CAPTION_META_NAME:
 *
 * Name of the custom meta (and of its structure) holding an image caption.
 *
 * Since: 0.1
 */
#define GST_VLM_CAPTION_META_NAME "VlmCaptionMeta"

/**
 * GST_VLM_ANSWER_META_NAME:
 *
 * Name of the custom meta (and of its structure) holding the answer to a
 * question about the image.
 *
 * Since: 0.1
 */
#define GST_VLM_ANSWER_META_NAME "VlmAnswerMeta"

/**
 * GST_VLM_META_PREFIX:
 *
 * Every vlm custom meta name starts with this prefix, so generic consumers
 * (vlmjsonsink) find metas added by later versions too.
 *
 * Since: 0.1
 */
#define GST_VLM_META_PREFIX "Vlm"

/**
 * GstVlmMatchMode:
 * @GST_VLM_MATCH_MODE_CLASSIFY: softmax over the labels, one best label
 * @GST_VLM_MATCH_MODE_DETECT: each label scored on its own (cosine) against
 *   a threshold
 *
 * How the labels of a match were scored.
 *
 * Since: 0.1
 */
typedef enum {
  GST_VLM_MATCH_MODE_CLASSIFY,
  GST_VLM_MATCH_MODE_DETECT,
} GstVlmMatchMode;

GType                gst_vlm_match_mode_get_type          (void);
#define GST_TYPE_VLM_MATCH_MODE (gst_vlm_match_mode_get_type ())

const gchar         *gst_vlm_match_mode_to_string         (GstVlmMatchMode mode);

void                 gst_vlm_meta_register                (void);

const GstMetaInfo   *gst_vlm_embedding_meta_get_info      (void);
const GstMetaInfo   *gst_vlm_match_meta_get_info          (void);
const GstMetaInfo   *gst_vlm_caption_meta_get_info        (void);
const GstMetaInfo   *gst_vlm_answer_meta_get_info         (void);

gboolean             gst_vlm_meta_is_vlm                  (GstMeta *meta);

GstCustomMeta       *gst_buffer_add_vlm_embedding_meta    (GstBuffer *buffer,
                                                           const gchar *model_id,
                                                           const gchar *element,
                                                           const gfloat *vector,
                                                           guint dimension);
GstCustomMeta       *gst_buffer_get_vlm_embedding_meta    (GstBuffer *buffer,
                                                           const gchar *model_id);
const gchar         *gst_vlm_embedding_meta_get_model_id  (GstCustomMeta *meta);
const gfloat        *gst_vlm_embedding_meta_get_vector    (GstCustomMeta *meta,
                                                           guint *dimension);

GstCustomMeta       *gst_buffer_add_vlm_match_meta        (GstBuffer *buffer,
                                                           const gchar *model_id,
                                                           const gchar *element,
                                                           GstVlmMatchMode mode,
                                                           const gchar *prompt_template,
                                                           const gchar *const *labels,
                                                           const gfloat *scores,
                                                           const gboolean *present,
                                                           guint n_labels);
GstCustomMeta       *gst_buffer_get_vlm_match_meta        (GstBuffer *buffer,
                                                           const gchar *model_id);
const gchar         *gst_vlm_match_meta_get_model_id      (GstCustomMeta *meta);
GstVlmMatchMode      gst_vlm_match_meta_get_mode          (GstCustomMeta *meta);
guint                gst_vlm_match_meta_get_n_labels      (GstCustomMeta *meta);
const gchar         *gst_vlm_match_meta_get_label         (GstCustomMeta *meta,
                                                           guint index);
const gfloat        *gst_vlm_match_meta_get_scores        (GstCustomMeta *meta,
                                                           guint *n_scores);
gboolean             gst_vlm_match_meta_get_present       (GstCustomMeta *meta,
                                                           guint index);
gint                 gst_vlm_match_meta_get_best          (GstCustomMeta *meta,
                                                           const gchar **label,
                                                           gfloat *score);

GstCustomMeta       *gst_buffer_add_vlm_caption_meta      (GstBuffer *buffer,
                                                           const gchar *model_id,
                                                           const gchar *element,
                                                           const gchar *text,
                                                           gdouble mean_logprob,
                                                           gboolean truncated);
GstCustomMeta       *gst_buffer_get_vlm_caption_meta      (GstBuffer *buffer,
                                                           const gchar *model_id);
const gchar         *gst_vlm_caption_meta_get_model_id    (GstCustomMeta *meta);
const gchar         *gst_vlm_caption_meta_get_text        (GstCustomMeta *meta);
gdouble              gst_vlm_caption_meta_get_mean_logprob (GstCustomMeta *meta);
gboolean             gst_vlm_caption_meta_get_truncated   (GstCustomMeta *meta);

GstCustomMeta       *gst_buffer_add_vlm_answer_meta       (GstBuffer *buffer,
                                                           const gchar *model_id,
                                                           const gchar *element,
                                                           const gchar *question,
                                                           const gchar *answer,
                                                           gdouble score,
                                                           gboolean truncated,
                                                           gboolean question_truncated);
GstCustomMeta       *gst_buffer_get_vlm_answer_meta       (GstBuffer *buffer,
                                                           const gchar *model_id);
const gchar         *gst_vlm_answer_meta_get_model_id     (GstCustomMeta *meta);
const gchar         *gst_vlm_answer_meta_get_question     (GstCustomMeta *meta);
const gchar         *gst_vlm_answer_meta_get_answer       (GstCustomMeta *meta);
gdouble              gst_vlm_answer_meta_get_score        (GstCustomMeta *meta);
gboolean             gst_vlm_answer_meta_get_truncated    (GstCustomMeta *meta);
gboolean             gst_vlm_answer_meta_get_question_truncated (GstCustomMeta *meta);

G_END_DECLS
