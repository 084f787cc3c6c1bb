/* gst-vlm — vlmvqa: answers a question about every processed frame (GIT).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstvlmbase.h"

G_BEGIN_DECLS

/**
 * GstVlmVqa:
 *
 * The vlmvqa element (opaque).
 */
#define GST_TYPE_VLM_VQA (gst_vlm_vqa_get_type ())
G_DECLARE_FINAL_TYPE (GstVlmVqa, gst_vlm_vqa, GST, VLM_VQA, GstVlmBase)

/**
 * GST_VLM_SET_QUESTION_EVENT:
 *
 * Name of the structure of the custom downstream (serialized) event that
 * changes vlmvqa's question from the next buffer on. Fields: `question`
 * (string) and optional `element` (string: only the vlmvqa of that name
 * applies it).
 */
#define GST_VLM_SET_QUESTION_EVENT "vlm-set-question"

GST_ELEMENT_REGISTER_DECLARE (vlmvqa);

G_END_DECLS
