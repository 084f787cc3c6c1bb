/* vlm — decode an image file to RGB with GStreamer.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include "vlm-image.h"

static void
on_pad_added (GstElement *dec, GstPad *pad, GstElement *conv)
{
  GstPad *sink = gst_element_get_static_pad (conv, "sink");
  if (!gst_pad_is_linked (sink))
    gst_pad_link (pad, sink);
  gst_object_unref (sink);
}

/**
 * vlm_image_load:
 * @path: an image file any installed GStreamer decoder reads (PNG, JPEG …)
 * @image: (out caller-allocates): the decoded RGB frame; free with vlm_image_clear()
 * @error: return location for a #GError
 *
 * Decodes the first frame of @path to packed RGB through
 * `filesrc ! decodebin ! videoconvert ! appsink`.
 *
 * Returns: %TRUE on success; %FALSE with an error naming the file and the
 *   reason.
 */
gboolean
vlm_image_load (const gchar *path, VlmImage *image, GError **error)
{
  memset (image, 0, sizeof *image);
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "%s: no such file", path);
    return FALSE;
  }
  GstElement *pipe = gst_pipeline_new (NULL);
  GstElement *src = gst_element_factory_make ("filesrc", NULL);
  GstElement *dec = gst_element_factory_make ("decodebin", NULL);
  GstElement *conv = gst_element_factory_make ("videoconvert", NULL);
  GstElement *sink = gst_element_factory_make ("appsink", NULL);
  if (!pipe || !src || !dec || !conv || !sink) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
                 "%s: GStreamer's filesrc, decodebin, videoconvert or appsink is missing "
                 "(install gstreamer1.0-plugins-base)", path);
    gst_clear_object (&pipe);
    return FALSE;
  }
  g_object_set (src, "location", path, NULL);
  GstCaps *caps = gst_caps_from_string ("video/x-raw,format=RGB");
  g_object_set (sink, "caps", caps, "sync", FALSE, NULL);
  gst_caps_unref (caps);
  gst_bin_add_many (GST_BIN (pipe), src, dec, conv, sink, NULL);
  gst_element_link (src, dec);
  gst_element_link (conv, sink);
  g_signal_connect (dec, "pad-added", G_CALLBACK (on_pad_added), conv);

  gboolean ok = FALSE;
  gst_element_set_state (pipe, GST_STATE_PAUSED);
  GstSample *sample = gst_app_sink_try_pull_preroll (GST_APP_SINK (sink), 30 * GST_SECOND);
  if (sample) {
    GstVideoInfo info;
    GstBuffer *buf = gst_sample_get_buffer (sample);
    GstVideoFrame frame;
    if (gst_video_info_from_caps (&info, gst_sample_get_caps (sample)) &&
        gst_video_frame_map (&frame, &info, buf, GST_MAP_READ)) {
      image->width = GST_VIDEO_FRAME_WIDTH (&frame);
      image->height = GST_VIDEO_FRAME_HEIGHT (&frame);
      image->stride = GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);
      image->size = (gsize) image->stride * image->height;
      image->data = g_memdup2 (GST_VIDEO_FRAME_PLANE_DATA (&frame, 0), image->size);
      gst_video_frame_unmap (&frame);
      ok = TRUE;
    }
    gst_sample_unref (sample);
  }
  if (!ok) {
    GstBus *bus = gst_element_get_bus (pipe);
    GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    GError *gerr = NULL;
    if (msg)
      gst_message_parse_error (msg, &gerr, NULL);
    g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_DECODE, "%s: cannot decode as an "
                 "image: %s", path, gerr ? gerr->message : "no frame");
    g_clear_error (&gerr);
    if (msg)
      gst_message_unref (msg);
    gst_object_unref (bus);
  }
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  return ok;
}

/**
 * vlm_image_clear:
 * @image: an image filled by vlm_image_load()
 *
 * Frees its pixels.
 */
void
vlm_image_clear (VlmImage *image)
{
  g_clear_pointer (&image->data, g_free);
}
