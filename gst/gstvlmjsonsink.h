/* gst-vlm — vlmjsonsink: vlm results as JSON lines.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>
#include <gst/base/gstbasesink.h>

G_BEGIN_DECLS

/**
 * GstVlmJsonSink:
 *
 * The vlmjsonsink element (opaque).
 */
#define GST_TYPE_VLM_JSON_SINK (gst_vlm_json_sink_get_type ())
G_DECLARE_FINAL_TYPE (GstVlmJsonSink, gst_vlm_json_sink, GST, VLM_JSON_SINK, GstBaseSink)

GST_ELEMENT_REGISTER_DECLARE (vlmjsonsink);

gchar *gst_vlm_json_sink_buffer_to_json (GstBuffer *buffer, GstSegment *segment,
                                         gboolean vectors);

G_END_DECLS
