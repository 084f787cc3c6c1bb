/* gst-vlm engine — Vulkan image preprocessing in two passes
 * (shaders/preprocess_h.comp, shaders/preprocess_v.comp), implementing the
 * algorithm of vlm-preprocess.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "op-grid.h"
#include "vlm-preprocess.h"

#define PREPROCESS_WG 64

/* Matches the push block of preprocess_h.comp after the two offsets. */
typedef struct {
  guint32 format;
  guint32 width;
  guint32 height;
  guint32 stride[3];
  guint32 plane[3];
  guint32 resized_w;
  guint32 crop;
  guint32 off_x;
  guint32 row0;
  guint32 rows;
  guint32 resample;
} PreprocessHPush;

/* Matches the push block of preprocess_v.comp after the two offsets. */
typedef struct {
  guint32 height;
  guint32 resized_h;
  guint32 crop;
  guint32 off_y;
  guint32 row0;
  guint32 rows;
  guint32 resample;
  gfloat mean[3];
  gfloat inv_std[3];
} PreprocessVPush;

/**
 * vlm_vk_preprocess:
 * @device: a Vulkan device
 * @out: output, F32 [3, crop, crop]
 * @src: U8 tensor holding the frame
 * @params: frame layout and preprocessing (validated by vlm_op_preprocess())
 * @error: return location for a #GError
 *
 * Records the preprocessing of vlm-preprocess.h as two dispatches: colour
 * conversion and horizontal resampling of the source rows the crop needs
 * into a scratch image [3, rows, crop], then vertical resampling and
 * normalisation into @out.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_vk_preprocess (VlmDevice *device, VlmTensor *out, const VlmTensor *src,
                   const VlmImageParams *params, GError **error)
{
  const VlmImageParams *p = params;
  /* Byte indices into the frame, plus the binding's alignment slack, are
   * 32-bit in the shader. */
  if (src->nbytes > G_MAXUINT32 - 4096) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
                 "preprocess: the %" G_GSIZE_FORMAT "-byte frame is too large for the Vulkan "
                 "backend", src->nbytes);
    return FALSE;
  }
  gint rw, rh, row0, row1;
  vlm_image_resized_size (p, &rw, &rh);
  vlm_resample_rows (p, &row0, &row1);
  guint32 rows = (guint32) MAX (row1 - row0, 1);
  if (!vlm_vk_check_count ("preprocess", "the scratch image", 3 * (guint64) rows * p->crop,
                           error))
    return FALSE;

  const gint64 scratch_shape[3] = { 3, rows, p->crop };
  g_autoptr (VlmTensor) scratch = vlm_tensor_new (device, VLM_DTYPE_F32, 3, scratch_shape, error);
  if (!scratch)
    return FALSE;

  PreprocessHPush hpush = {
    .format = (guint32) p->format,
    .width = (guint32) p->width,
    .height = (guint32) p->height,
    .resized_w = (guint32) rw,
    .crop = (guint32) p->crop,
    .off_x = (guint32) ((rw - p->crop) / 2),
    .row0 = (guint32) row0,
    .rows = rows,
    .resample = (guint32) p->resample,
  };
  for (gint i = 0; i < 3; i++) {
    hpush.stride[i] = (guint32) p->stride[i];
    hpush.plane[i] = (guint32) p->plane_offset[i];
  }
  const VlmVkBinding hbindings[] = {
    { src, FALSE },
    { scratch, TRUE },
  };
  const guint32 spec[] = { PREPROCESS_WG };
  guint32 gx, gy;
  vlm_vk_grid_elements (device, (guint64) rows * p->crop, PREPROCESS_WG, &gx, &gy);
  if (!vlm_vk_dispatch (device, "preprocess_h", spec, G_N_ELEMENTS (spec), hbindings,
                        G_N_ELEMENTS (hbindings), &hpush, sizeof hpush, gx, gy, 1, error))
    return FALSE;

  PreprocessVPush vpush = {
    .height = (guint32) p->height,
    .resized_h = (guint32) rh,
    .crop = (guint32) p->crop,
    .off_y = (guint32) ((rh - p->crop) / 2),
    .row0 = (guint32) row0,
    .rows = rows,
    .resample = (guint32) p->resample,
  };
  for (gint c = 0; c < 3; c++) {
    vpush.mean[c] = p->mean[c];
    vpush.inv_std[c] = 1.0f / p->std[c];
  }
  const VlmVkBinding vbindings[] = {
    { scratch, FALSE },
    { out, TRUE },
  };
  vlm_vk_grid_elements (device, 3 * (guint64) p->crop * p->crop, PREPROCESS_WG, &gx, &gy);
  return vlm_vk_dispatch (device, "preprocess_v", spec, G_N_ELEMENTS (spec), vbindings,
                          G_N_ELEMENTS (vbindings), &vpush, sizeof vpush, gx, gy, 1, error);
}
