/* gst-vlm — vlmcaption: image captions with a GIT model.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstvlmbase.h"

G_BEGIN_DECLS

/**
 * GstVlmCaption:
 *
 * The vlmcaption element (opaque).
 */
#define GST_TYPE_VLM_CAPTION (gst_vlm_caption_get_type ())
G_DECLARE_FINAL_TYPE (GstVlmCaption, gst_vlm_caption, GST, VLM_CAPTION, GstVlmBase)

/**
 * GST_VLM_CAPTION_TEXT_PAD_NAME:
 *
 * Name of vlmcaption's always text source pad (`text/x-raw, format=utf8`):
 * "text_src", as in `vlmcaption name=c … c.text_src ! …`.
 */
#define GST_VLM_CAPTION_TEXT_PAD_NAME "text_src"

/**
 * GstVlmCaptionTextMode:
 * @GST_VLM_CAPTION_TEXT_MODE_AUTO: @GST_VLM_CAPTION_TEXT_MODE_OVERLAY when
 *   the text pad leads (directly or through one-input one-output elements
 *   such as queue) to a textoverlay-family element (GstBaseTextOverlay:
 *   textoverlay, timeoverlay, clockoverlay), otherwise
 *   @GST_VLM_CAPTION_TEXT_MODE_SUBTITLE; decided at the first frame of a
 *   stream
 * @GST_VLM_CAPTION_TEXT_MODE_SUBTITLE: one buffer per caption, with the pts
 *   of the captioned frame and a duration until the next caption (or the
 *   end of the stream). A caption is pushed when the next one is known, so
 *   the text stream runs one caption behind the video: for files, appsink,
 *   subtitle encoders behind a queue.
 * @GST_VLM_CAPTION_TEXT_MODE_OVERLAY: one buffer per video frame, pushed
 *   just before the frame, holding the current caption with the frame's pts
 *   and duration (a gap event before the first caption): what renderers
 *   that wait for the text of every frame (textoverlay) need.
 *
 * How vlmcaption's text pad times its buffers.
 */
typedef enum {
  GST_VLM_CAPTION_TEXT_MODE_AUTO,
  GST_VLM_CAPTION_TEXT_MODE_SUBTITLE,
  GST_VLM_CAPTION_TEXT_MODE_OVERLAY,
} GstVlmCaptionTextMode;

GType gst_vlm_caption_text_mode_get_type (void);
#define GST_TYPE_VLM_CAPTION_TEXT_MODE (gst_vlm_caption_text_mode_get_type ())

GST_ELEMENT_REGISTER_DECLARE (vlmcaption);

G_END_DECLS
