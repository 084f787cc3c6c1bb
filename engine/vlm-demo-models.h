/* gst-vlm engine — where the project's demo models are.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * VlmDemoModel:
 * @VLM_DEMO_MODEL_CLIP: the demo CLIP (vlmembed, vlmmatch, `vlm embed-image`,
 *   `vlm match`, `vlm index`, `vlm search`, `vlm watch`)
 * @VLM_DEMO_MODEL_GIT: the demo GIT (vlmcaption, vlmvqa, `vlm caption`,
 *   `vlm ask`, `vlm index --captions`)
 *
 * The models trained in the project on synthetic scenes
 * (models/train_demo.py), committed as models/demo/clip and models/demo/git
 * and installed into DATADIR/gst-vlm/models/demo/. They are what every
 * element and command uses when no model is given.
 */
typedef enum {
  VLM_DEMO_MODEL_CLIP,
  VLM_DEMO_MODEL_GIT,
} VlmDemoModel;

/**
 * VLM_DEMO_MODELS_ENV:
 *
 * The environment variable that replaces the search: when set and not
 * empty, the demo models are DIR/clip and DIR/git and nothing else is
 * looked at.
 */
#define VLM_DEMO_MODELS_ENV "VLM_DEMO_MODELS"

const gchar  *vlm_demo_model_name         (VlmDemoModel which);
const gchar  *vlm_demo_model_family       (VlmDemoModel which);
gchar       **vlm_demo_models_search_dirs (void);
gchar        *vlm_demo_model_find         (VlmDemoModel which,
                                           GError     **error);

G_END_DECLS
