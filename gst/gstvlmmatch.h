/* gst-vlm — vlmmatch: zero-shot matching of frames against text labels.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstvlmbase.h"

G_BEGIN_DECLS

/**
 * GstVlmMatch:
 *
 * The vlmmatch element (opaque).
 */
#define GST_TYPE_VLM_MATCH (gst_vlm_match_get_type ())
G_DECLARE_FINAL_TYPE (GstVlmMatch, gst_vlm_match, GST, VLM_MATCH, GstVlmBase)

/**
 * GST_VLM_SET_LABELS_EVENT:
 *
 * Name of the structure of the custom downstream (serialized) event that
 * changes vlmmatch's labels from the next buffer on. Fields: `labels`
 * (string, comma-separated, or an array/list of strings), optional
 * `template` (string containing "{}") and optional `element` (string: only
 * the vlmmatch of that name applies it).
 */
#define GST_VLM_SET_LABELS_EVENT "vlm-set-labels"

GST_ELEMENT_REGISTER_DECLARE (vlmmatch);

G_END_DECLS
