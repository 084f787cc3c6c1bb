/* gst-vlm engine — tensors living on a device.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "vlm-device.h"

G_BEGIN_DECLS

/**
 * VLM_MAX_DIMS:
 *
 * Largest number of dimensions a #VlmTensor has.
 */
#define VLM_MAX_DIMS 4

/**
 * VlmDType:
 * @VLM_DTYPE_F32: 32-bit IEEE float
 * @VLM_DTYPE_F16: 16-bit IEEE half float (weights only; math is f32)
 * @VLM_DTYPE_I32: 32-bit signed integer (token ids, indices)
 * @VLM_DTYPE_U8: bytes (raw video frames)
 * @VLM_DTYPE_BF16: bfloat16, the upper half of an f32 (matmul weights only,
 *   on devices that support it: see vlm_op_matmul_supports_weights())
 * @VLM_DTYPE_I8: 8-bit signed integer (quantized matmul weights, with a
 *   scale per row: see vlm_op_matmul_scaled())
 *
 * Element type of a tensor.
 */
typedef enum {
  VLM_DTYPE_F32,
  VLM_DTYPE_F16,
  VLM_DTYPE_I32,
  VLM_DTYPE_U8,
  VLM_DTYPE_BF16,
  VLM_DTYPE_I8,
} VlmDType;

/**
 * VlmTensor:
 * @device: the device holding the data
 * @dtype: element type
 * @ndim: number of dimensions (1 to %VLM_MAX_DIMS)
 * @shape: sizes, outermost first; elements are contiguous, row-major
 * @offset: byte offset of element 0 inside the storage
 * @nbytes: byte size of the tensor's elements
 *
 * A dense row-major array on a device. Several tensors (views) can share one
 * storage. Fields are read-only for users; create tensors with
 * vlm_tensor_new(), vlm_tensor_new_from_data() or vlm_tensor_view().
 */
typedef struct _VlmTensor VlmTensor;
struct _VlmTensor {
  VlmDevice *device;
  VlmDType dtype;
  gint ndim;
  gint64 shape[VLM_MAX_DIMS];
  gsize offset;
  gsize nbytes;
  /*< private >*/
  struct _VlmStorage *storage;
  gint ref_count;
};

gsize       vlm_dtype_size           (VlmDType dtype);
const gchar *vlm_dtype_to_string     (VlmDType dtype);

VlmTensor  *vlm_tensor_new           (VlmDevice *device, VlmDType dtype, gint ndim,
                                      const gint64 *shape, GError **error);
VlmTensor  *vlm_tensor_new_from_data (VlmDevice *device, VlmDType dtype, gint ndim,
                                      const gint64 *shape, gconstpointer data,
                                      GDestroyNotify notify, gpointer notify_data,
                                      GError **error);
VlmTensor  *vlm_tensor_view          (VlmTensor *base, gsize element_offset, gint ndim,
                                      const gint64 *shape, GError **error);
VlmTensor  *vlm_tensor_ref           (VlmTensor *tensor);
void        vlm_tensor_unref         (VlmTensor *tensor);

gint64      vlm_tensor_numel         (const VlmTensor *tensor);
gint64      vlm_tensor_rows          (const VlmTensor *tensor);
gchar      *vlm_tensor_shape_string  (const VlmTensor *tensor);

gboolean    vlm_tensor_upload        (VlmTensor *tensor, gconstpointer data, gsize nbytes,
                                      GError **error);
gboolean    vlm_tensor_download      (VlmTensor *tensor, gpointer data, gsize nbytes,
                                      GError **error);

void        vlm_f32_to_f16           (guint16 *dst, const gfloat *src, gsize n);
void        vlm_f16_to_f32           (gfloat *dst, const guint16 *src, gsize n);
void        vlm_bf16_to_f32          (gfloat *dst, const guint16 *src, gsize n);
void        vlm_f32_to_bf16          (guint16 *dst, const gfloat *src, gsize n);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VlmTensor, vlm_tensor_unref)

G_END_DECLS
