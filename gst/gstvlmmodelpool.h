/* gst-vlm — one loaded model per (model kind, model folder, device) in the process.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

#include "models/vlm-clip.h"
#include "models/vlm-git.h"

G_BEGIN_DECLS

/**
 * GstVlmModel:
 *
 * A reference to a model instance shared through the pool. Every element
 * that asks for the same model kind (#GstVlmModelKind) in the same canonical
 * folder on the same device string gets the same instance; the weights are loaded once and freed with the last
 * reference. The engine serialises encoding calls on one instance, so it
 * can be used from several streaming threads.
 */
typedef struct _GstVlmModel GstVlmModel;

/**
 * GstVlmModelKind:
 * @GST_VLM_MODEL_KIND_CLIP: a CLIP model (vlmembed, vlmmatch)
 * @GST_VLM_MODEL_KIND_GIT: a GIT image-to-text model (vlmcaption, vlmvqa)
 *
 * The model family an element needs; the folder's config.json must hold
 * that family (`model_type` "clip" or "git").
 */
typedef enum {
  GST_VLM_MODEL_KIND_CLIP,
  GST_VLM_MODEL_KIND_GIT,
} GstVlmModelKind;

GstVlmModel  *gst_vlm_model_pool_acquire    (const gchar *folder, const gchar *device,
                                             GError **error);
GstVlmModel  *gst_vlm_model_pool_acquire_kind (const gchar *folder, const gchar *device,
                                               GstVlmModelKind kind, GError **error);
void          gst_vlm_model_pool_release    (GstVlmModel *model);
void          gst_vlm_model_pool_retire     (GstVlmModel *model);
guint         gst_vlm_model_pool_get_loads  (void);

VlmClipModel *gst_vlm_model_get_clip        (GstVlmModel *model);
VlmGitModel  *gst_vlm_model_get_git         (GstVlmModel *model);
GstVlmModelKind gst_vlm_model_get_kind      (GstVlmModel *model);
const gchar  *gst_vlm_model_kind_to_string  (GstVlmModelKind kind);
const gchar  *gst_vlm_model_get_id          (GstVlmModel *model);
const gchar  *gst_vlm_model_get_device_name (GstVlmModel *model);
guint         gst_vlm_model_get_users       (GstVlmModel *model);
VlmBackendKind gst_vlm_model_get_backend    (GstVlmModel *model);
const gchar  *gst_vlm_model_get_fallback_reason (GstVlmModel *model);

gchar        *gst_vlm_canonical_folder      (const gchar *folder, GError **error);
gboolean      gst_vlm_device_spec_is_valid  (const gchar *spec);

G_END_DECLS
