/* gst-vlm engine — the operations both backends implement.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every op checks shapes and dtypes here, in one place, and then runs on the
 * backend of its tensors' device. All tensors of one call must live on the
 * same device. On Vulkan an op is recorded, not run: results are visible after
 * vlm_device_sync() or vlm_tensor_download(). On the CPU it runs at once.
 * Math is f32 everywhere; f16 is accepted for weights (matmul, gather), bf16
 * for matmul weights and i8 (with row scales, vlm_op_matmul_scaled()) where
 * vlm_op_matmul_supports_weights() says so.
 */
#pragma once

#include "vlm-tensor.h"

G_BEGIN_DECLS

/**
 * VlmActivation:
 * @VLM_ACT_NONE: identity
 * @VLM_ACT_GELU_ERF: x·Φ(x) with the exact error function
 * @VLM_ACT_GELU_TANH: the tanh approximation of GELU
 * @VLM_ACT_QUICK_GELU: x·sigmoid(1.702·x) (OpenAI CLIP)
 *
 * Elementwise activations, usable alone (vlm_op_unary()) or fused into
 * vlm_op_matmul().
 */
typedef enum {
  VLM_ACT_NONE,
  VLM_ACT_GELU_ERF,
  VLM_ACT_GELU_TANH,
  VLM_ACT_QUICK_GELU,
} VlmActivation;

/**
 * VlmBinaryOp:
 * @VLM_BINARY_ADD: a + b
 * @VLM_BINARY_MUL: a · b
 *
 * Elementwise binary operations with numpy-style broadcasting.
 */
typedef enum {
  VLM_BINARY_ADD,
  VLM_BINARY_MUL,
} VlmBinaryOp;

/**
 * VlmAttentionParams:
 * @n_heads: number of heads; the last dimension of q, k and v is
 *   n_heads × head_dim
 * @scale: factor applied to q·k before the softmax; 0 means 1/√head_dim
 * @causal: whether to mask keys after the query's position
 * @n_prefix: with @causal, keys below this position are seen by every
 *   query, and queries below it see only those keys (GIT's image tokens:
 *   bidirectional among themselves, visible to all text tokens)
 * @q_offset: position of the first query among the keys (KV-cache decoding:
 *   the number of cached positions before this step)
 * @kv_len: number of key/value rows to use; 0 means all rows of k and v
 *   (a KV cache is allocated for the longest sequence and filled gradually)
 *
 * Options of vlm_op_attention(). With @causal, query i (absolute position
 * p = @q_offset + i) sees key j when j ≤ p or j < @n_prefix.
 */
typedef struct {
  gint n_heads;
  gfloat scale;
  gboolean causal;
  gint n_prefix;
  gint q_offset;
  gint kv_len;
} VlmAttentionParams;

/**
 * VlmPixelFormat:
 * @VLM_PIXEL_RGB: packed 24-bit R, G, B
 * @VLM_PIXEL_RGBA: packed 32-bit R, G, B, A
 * @VLM_PIXEL_RGBX: packed 32-bit R, G, B, padding
 * @VLM_PIXEL_BGRA: packed 32-bit B, G, R, A
 * @VLM_PIXEL_BGRX: packed 32-bit B, G, R, padding
 * @VLM_PIXEL_NV12: planar Y, then interleaved U/V at half resolution
 * @VLM_PIXEL_I420: planar Y, U, V, chroma at half resolution
 *
 * Raw frame layouts vlm_op_preprocess() reads. YUV is BT.601 limited range.
 */
typedef enum {
  VLM_PIXEL_RGB,
  VLM_PIXEL_RGBA,
  VLM_PIXEL_RGBX,
  VLM_PIXEL_BGRA,
  VLM_PIXEL_BGRX,
  VLM_PIXEL_NV12,
  VLM_PIXEL_I420,
} VlmPixelFormat;

/**
 * VlmResample:
 * @VLM_RESAMPLE_BILINEAR: triangle filter
 * @VLM_RESAMPLE_BICUBIC: cubic convolution, a = −0.5
 *
 * Resampling filters for vlm_op_preprocess(). Both are applied separably
 * and, when shrinking, with their support widened by the scale factor
 * (antialiased, as PIL does).
 */
typedef enum {
  VLM_RESAMPLE_BILINEAR,
  VLM_RESAMPLE_BICUBIC,
} VlmResample;

/**
 * VlmImageParams:
 * @format: pixel layout of the source bytes
 * @width: source width in pixels
 * @height: source height in pixels
 * @stride: bytes per row of each plane (plane 0 only for packed formats)
 * @plane_offset: byte offset of each plane inside the source tensor
 * @resize_short: the shorter source side is scaled to this many pixels, the
 *   other keeps the aspect ratio (truncated, as Hugging Face does)
 * @crop: side of the square taken from the centre of the resized image;
 *   the offset is (resized − crop) / 2 rounded down
 * @mean: per-channel mean (R, G, B) subtracted from values in [0, 1]
 * @std: per-channel standard deviation (R, G, B) divided by
 * @resample: filter
 *
 * How vlm_op_preprocess() turns a raw frame into a model input.
 */
typedef struct {
  VlmPixelFormat format;
  gint width;
  gint height;
  gint stride[3];
  gsize plane_offset[3];
  gint resize_short;
  gint crop;
  gfloat mean[3];
  gfloat std[3];
  VlmResample resample;
} VlmImageParams;

gboolean vlm_op_matmul      (VlmTensor *y, const VlmTensor *x, const VlmTensor *w,
                             const VlmTensor *bias, const VlmTensor *residual,
                             VlmActivation act, GError **error);
gboolean vlm_op_matmul_supports_weights (VlmDevice *device, VlmDType dtype);
gboolean vlm_op_matmul_scaled (VlmTensor *y, const VlmTensor *x, const VlmTensor *w,
                               const VlmTensor *w_scale, const VlmTensor *bias,
                               const VlmTensor *residual, VlmActivation act, GError **error);
gboolean vlm_op_layernorm   (VlmTensor *y, const VlmTensor *x, const VlmTensor *gamma,
                             const VlmTensor *beta, gfloat eps, GError **error);
gboolean vlm_op_softmax     (VlmTensor *y, const VlmTensor *x, gfloat scale,
                             const VlmTensor *mask, gboolean causal, GError **error);
gboolean vlm_op_unary       (VlmTensor *y, const VlmTensor *x, VlmActivation act,
                             GError **error);
gboolean vlm_op_binary      (VlmTensor *y, const VlmTensor *a, const VlmTensor *b,
                             VlmBinaryOp op, GError **error);
gboolean vlm_op_attention   (VlmTensor *out, const VlmTensor *q, const VlmTensor *k,
                             const VlmTensor *v, const VlmAttentionParams *params,
                             GError **error);
gboolean vlm_op_patchify    (VlmTensor *patches, const VlmTensor *image, gint patch,
                             GError **error);
gboolean vlm_op_gather_rows (VlmTensor *y, const VlmTensor *table, const VlmTensor *ids,
                             GError **error);
gboolean vlm_op_topk        (VlmTensor *values, VlmTensor *indices, const VlmTensor *x,
                             gint k, GError **error);
gboolean vlm_op_preprocess  (VlmTensor *out, const VlmTensor *src,
                             const VlmImageParams *params, GError **error);

gsize    vlm_pixel_format_frame_size (VlmPixelFormat format, gint width, gint height,
                                      VlmImageParams *params);
void     vlm_image_resized_size      (const VlmImageParams *params, gint *width,
                                      gint *height);

G_END_DECLS
