/* vlm — decode an image file to RGB with GStreamer.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

/**
 * VlmImage:
 * @data: packed RGB rows
 * @size: bytes in @data
 * @width: pixels per row
 * @height: rows
 * @stride: bytes per row
 *
 * A decoded image.
 */
typedef struct {
  guint8 *data;
  gsize size;
  gint width;
  gint height;
  gint stride;
} VlmImage;

gboolean vlm_image_load  (const gchar *path, VlmImage *image, GError **error);
void     vlm_image_clear (VlmImage *image);
