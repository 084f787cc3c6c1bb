/* gst-vlm — vlmembed: per-frame CLIP image embeddings.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-vlmembed
 * @title: vlmembed
 * @short_description: attaches a CLIP image embedding to video frames
 *
 * Encodes every processed frame (see #GstVlmBase:interval) with the image
 * tower of a CLIP model and attaches a `VlmEmbeddingMeta` (model id,
 * dimension, L2-normalised float32 vector; see vlm-meta.h) to the buffer.
 * The video itself passes through untouched. Elements downstream using the
 * same model (vlmmatch) reuse the embedding instead of encoding the frame
 * again.
 *
 * For every processed frame a "vlm-embedding" element message is posted
 * (unless #GstVlmBase:post-messages is %FALSE) with the fields `pts`,
 * `duration`, `running-time`, `stream-time` (guint64 ns), `model-id`
 * (string), `dimension` (guint) and `norm` (gdouble, 1 up to rounding). The
 * vector itself is in the meta, or in vlmjsonsink's output with
 * `vectors=true`.
 *
 * ## Example pipelines
 * |[
 * gst-launch-1.0 -m videotestsrc num-buffers=30 ! vlmembed model=/path/to/clip ! fakesink
 * ]| Prints one vlm-embedding message per frame.
 * |[
 * gst-launch-1.0 v4l2src ! vlmembed model=/path/to/clip interval=5 ! \
 *     vlmjsonsink location=embeddings.jsonl vectors=true
 * ]| Writes the embedding of every fifth camera frame as JSON lines.
 */
#include <math.h>

#include "gstvlmembed.h"
#include "vlm-meta.h"

GST_DEBUG_CATEGORY_STATIC (gst_vlm_embed_debug);
#define GST_CAT_DEFAULT gst_vlm_embed_debug

struct _GstVlmEmbed {
  GstVlmBase parent;
  gfloat *vector;
  gint dim;
};

G_DEFINE_TYPE (GstVlmEmbed, gst_vlm_embed, GST_TYPE_VLM_BASE);
GST_ELEMENT_REGISTER_DEFINE (vlmembed, "vlmembed", GST_RANK_NONE, GST_TYPE_VLM_EMBED);

static gboolean
gst_vlm_embed_model_loaded (GstVlmBase *base, GError **error)
{
  GstVlmEmbed *self = GST_VLM_EMBED (base);
  self->dim = vlm_clip_model_get_config (gst_vlm_base_get_clip (base))->projection_dim;
  g_free (self->vector);
  self->vector = g_new0 (gfloat, MAX (self->dim, 1));
  return TRUE;
}

static void
gst_vlm_embed_model_unloading (GstVlmBase *base)
{
  GstVlmEmbed *self = GST_VLM_EMBED (base);
  g_clear_pointer (&self->vector, g_free);
  self->dim = 0;
}

static GstFlowReturn
gst_vlm_embed_process (GstVlmBase *base, GstBuffer *buffer, GstVideoFrame *frame)
{
  GstVlmEmbed *self = GST_VLM_EMBED (base);
  g_autoptr (GError) error = NULL;
  if (!gst_vlm_base_encode_frame (base, frame, self->vector, &error)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("image encoder failed"), ("%s", error->message));
    return GST_FLOW_ERROR;
  }
  const gchar *model_id = gst_vlm_base_get_model_id (base);
  gst_buffer_add_vlm_embedding_meta (buffer, model_id, GST_OBJECT_NAME (self), self->vector,
                                     (guint) self->dim);

  gdouble norm = 0.0;
  for (gint i = 0; i < self->dim; i++)
    norm += (gdouble) self->vector[i] * self->vector[i];
  GstStructure *s = gst_vlm_base_new_result (base, "vlm-embedding", buffer);
  gst_structure_set (s, "model-id", G_TYPE_STRING, model_id,
                     "dimension", G_TYPE_UINT, (guint) self->dim,
                     "norm", G_TYPE_DOUBLE, sqrt (norm), NULL);
  gst_vlm_base_post_result (base, s);
  return GST_FLOW_OK;
}

static void
gst_vlm_embed_finalize (GObject *object)
{
  g_free (GST_VLM_EMBED (object)->vector);
  G_OBJECT_CLASS (gst_vlm_embed_parent_class)->finalize (object);
}

static void
gst_vlm_embed_init (GstVlmEmbed *self)
{
}

static void
gst_vlm_embed_class_init (GstVlmEmbedClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstVlmBaseClass *base_class = GST_VLM_BASE_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_vlm_embed_debug, "vlmembed", 0, "gst-vlm image embeddings");

  gobject_class->finalize = gst_vlm_embed_finalize;
  base_class->model_loaded = GST_DEBUG_FUNCPTR (gst_vlm_embed_model_loaded);
  base_class->model_unloading = GST_DEBUG_FUNCPTR (gst_vlm_embed_model_unloading);
  base_class->process = GST_DEBUG_FUNCPTR (gst_vlm_embed_process);

  gst_element_class_set_static_metadata (element_class,
      "VLM image embedding", "Filter/Analyzer/Video",
      "Attaches the CLIP image embedding of every processed frame as a VlmEmbeddingMeta "
      "(model-id, dimension, L2-normalised float32 vector) and posts a \"vlm-embedding\" "
      "element message (pts, running-time, stream-time, dimension, norm). Video passes "
      "through untouched; RGB, RGBx, BGRx, RGBA, BGRA, NV12, I420 and YV12 are read "
      "directly. Example: gst-launch-1.0 -m videotestsrc num-buffers=30 ! "
      "vlmembed model=/path/to/clip ! vlmmatch model=/path/to/clip labels=\"cat,dog\" ! "
      "fakesink",
      "gst-vlm developers");
}
