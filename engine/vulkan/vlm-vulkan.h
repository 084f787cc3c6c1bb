/* gst-vlm engine — Vulkan backend internals shared by the device code
 * (vlm-vulkan-device.c …) and the per-op host files (op-*.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * An op file knows its shader(s) and push-constant layout and calls
 * vlm_vk_dispatch(); the device code owns everything else: pipelines (cached
 * per shader + specialization constants), descriptors, command recording,
 * barriers, memory and submission.
 *
 * Binding contract (every shader follows it):
 *  - set 0, bindings 0 … n−1 are storage buffers, in the order given to
 *    vlm_vk_dispatch();
 *  - a binding covers its tensor's storage from the tensor's offset rounded
 *    down to minStorageBufferOffsetAlignment, to the tensor's end;
 *  - the push-constant block starts with one uint per binding: the tensor's
 *    first element inside the bound range, in units of its dtype (bytes for
 *    U8) — shaders add it to every index; the op's own push data follows
 *    (at most 128 − 4·n bytes).
 */
#pragma once

#include "../vlm-backend.h"

G_BEGIN_DECLS

/* Embedded SPIR-V, generated at build time from shaders/ (see
 * shaders/meson.build). */
typedef struct {
  const gchar *name;       /* e.g. "matmul_f16" */
  const guint32 *code;
  gsize size;              /* bytes */
} VlmSpirv;

const VlmSpirv *vlm_spirv_lookup (const gchar *name);

typedef struct {
  const VlmTensor *tensor;
  gboolean write;          /* the dispatch writes this binding */
} VlmVkBinding;

/* Records one compute dispatch. @shader names an embedded SPIR-V module;
 * @spec are its specialization constants (constant_id 0 … n_spec−1, uint);
 * @push is the op's push data (placed after the per-binding offsets).
 * A barrier is recorded first only when a binding was written, or a written
 * binding was read, by a dispatch since the last barrier. */
gboolean vlm_vk_dispatch (VlmDevice *device, const gchar *shader,
                          const guint32 *spec, guint n_spec,
                          const VlmVkBinding *bindings, guint n_bindings,
                          gconstpointer push, guint push_size,
                          guint32 groups_x, guint32 groups_y, guint32 groups_z,
                          GError **error);

/* Device limits op files choose variants by. */
typedef struct {
  guint subgroup_size;
  guint64 shared_memory;
  guint max_workgroup_invocations;
  guint32 max_groups[3];
  gboolean fp16;
} VlmVkLimits;

const VlmVkLimits *vlm_vk_limits (VlmDevice *device);

/* Per-op entry points, one file each (op-matmul.c, …), gathered into the
 * backend table by the device code. */
gboolean vlm_vk_matmul      (VlmDevice *device, VlmTensor *y, const VlmTensor *x,
                             const VlmTensor *w, const VlmTensor *bias,
                             const VlmTensor *residual, VlmActivation act, GError **error);
gboolean vlm_vk_layernorm   (VlmDevice *device, VlmTensor *y, const VlmTensor *x,
                             const VlmTensor *gamma, const VlmTensor *beta, gfloat eps,
                             GError **error);
gboolean vlm_vk_softmax     (VlmDevice *device, VlmTensor *y, const VlmTensor *x, gfloat scale,
                             const VlmTensor *mask, gboolean causal, GError **error);
gboolean vlm_vk_unary       (VlmDevice *device, VlmTensor *y, const VlmTensor *x,
                             VlmActivation act, GError **error);
gboolean vlm_vk_binary      (VlmDevice *device, VlmTensor *y, const VlmTensor *a,
                             const VlmTensor *b, VlmBinaryOp op, GError **error);
gboolean vlm_vk_attention   (VlmDevice *device, VlmTensor *out, const VlmTensor *q,
                             const VlmTensor *k, const VlmTensor *v,
                             const VlmAttentionParams *params, GError **error);
gboolean vlm_vk_patchify    (VlmDevice *device, VlmTensor *patches, const VlmTensor *image,
                             gint patch, GError **error);
gboolean vlm_vk_gather_rows (VlmDevice *device, VlmTensor *y, const VlmTensor *table,
                             const VlmTensor *ids, GError **error);
gboolean vlm_vk_topk        (VlmDevice *device, VlmTensor *values, VlmTensor *indices,
                             const VlmTensor *x, gint k, GError **error);
gboolean vlm_vk_preprocess  (VlmDevice *device, VlmTensor *out, const VlmTensor *src,
                             const VlmImageParams *params, GError **error);

/* Temporary tensors: an op may vlm_tensor_new() a scratch tensor, use it in
 * its dispatches and vlm_tensor_unref() it at once; storage_free() defers the
 * release until the recorded work has completed. */

G_END_DECLS
