/* gst-vlm — vlmembed: per-frame CLIP image embeddings.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstvlmbase.h"

G_BEGIN_DECLS

/**
 * GstVlmEmbed:
 *
 * The vlmembed element (opaque).
 */
#define GST_TYPE_VLM_EMBED (gst_vlm_embed_get_type ())
G_DECLARE_FINAL_TYPE (GstVlmEmbed, gst_vlm_embed, GST, VLM_EMBED, GstVlmBase)

GST_ELEMENT_REGISTER_DECLARE (vlmembed);

G_END_DECLS
