/* gst-vlm — the base class of the vlm video elements.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>
#include <gst/video/gstvideofilter.h>

#include "gstvlmmodelpool.h"

G_BEGIN_DECLS

/**
 * GstVlmBase:
 *
 * Abstract base of the vlm video elements (an in-place #GstVideoFilter).
 * Instance fields are private.
 */
#define GST_TYPE_VLM_BASE (gst_vlm_base_get_type ())
G_DECLARE_DERIVABLE_TYPE (GstVlmBase, gst_vlm_base, GST, VLM_BASE, GstVideoFilter)

/**
 * GST_VLM_BASE_FORMATS:
 *
 * The raw video formats every vlm element takes without a videoconvert in
 * front (the engine converts and resizes them itself), as a caps format
 * list.
 */
#define GST_VLM_BASE_FORMATS "{ RGB, RGBx, BGRx, RGBA, BGRA, NV12, I420, YV12 }"

typedef enum {
  GST_VLM_LATE_FRAMES_AUTO,
  GST_VLM_LATE_FRAMES_PROCESS,
  GST_VLM_LATE_FRAMES_SKIP,
} GstVlmLateFrames;

#define GST_TYPE_VLM_LATE_FRAMES (gst_vlm_late_frames_get_type ())
GType gst_vlm_late_frames_get_type (void);

/**
 * GstVlmBaseClass:
 * @parent_class: the parent class
 * @model_loaded: optional; called at READY→PAUSED once the model is
 *   available (gst_vlm_base_get_clip() or gst_vlm_base_get_git() works);
 *   %FALSE with @error set fails the state change
 * @model_unloading: optional; called at PAUSED→READY before the model is
 *   given back
 * @process: called for every frame the `interval` selects, with the buffer
 *   (metadata writable) and its frame mapped for reading. Return
 *   %GST_FLOW_OK, or post an error and return %GST_FLOW_ERROR.
 * @model_kind: the model family the subclass needs (set in class_init;
 *   %GST_VLM_MODEL_KIND_CLIP when left alone)
 *
 * Subclasses implement @process; the base class owns caps, properties,
 * model sharing, frame selection and statistics.
 */
struct _GstVlmBaseClass {
  GstVideoFilterClass parent_class;

  gboolean      (*model_loaded)    (GstVlmBase *base, GError **error);
  void          (*model_unloading) (GstVlmBase *base);
  GstFlowReturn (*process)         (GstVlmBase *base, GstBuffer *buffer,
                                    GstVideoFrame *frame);
  GstVlmModelKind model_kind;

  /*< private >*/
  gpointer _reserved[GST_PADDING - 1];
};

VlmClipModel *gst_vlm_base_get_clip          (GstVlmBase *base);
VlmGitModel  *gst_vlm_base_get_git           (GstVlmBase *base);
const gchar  *gst_vlm_base_get_model_id      (GstVlmBase *base);
gboolean      gst_vlm_base_encode_frame      (GstVlmBase *base, GstVideoFrame *frame,
                                              gfloat *embedding, GError **error);
VlmGitImage  *gst_vlm_base_encode_git_frame  (GstVlmBase *base, GstVideoFrame *frame,
                                              GError **error);
gboolean      gst_vlm_base_encode_texts      (GstVlmBase *base, const gchar *const *texts,
                                              gint n, gfloat *embeddings, GError **error);
GstStructure *gst_vlm_base_new_result        (GstVlmBase *base, const gchar *name,
                                              GstBuffer *buffer);
GstStructure *gst_vlm_base_new_result_at     (GstVlmBase *base, const gchar *name,
                                              GstClockTime pts, GstClockTime duration);
void          gst_vlm_base_post_result       (GstVlmBase *base, GstStructure *result);

G_END_DECLS
