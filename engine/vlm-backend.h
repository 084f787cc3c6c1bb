/* gst-vlm engine — the contract between the op front end and a backend.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Private to engine/. vlm-ops.c validates every argument (shapes, dtypes,
 * devices, aliasing) before it calls a backend, so backends may assume:
 *
 * matmul     x: F32 [..., K] (M rows); w: F32, F16 or (when the device
 *            sets bf16) BF16 [N, K] ([out, in]);
 *            bias: NULL or F32 [N]; residual: NULL or F32 with y's shape;
 *            y: F32 [..., N] with M rows.  y = act(x·wᵀ + bias) + residual.
 *            y may be the same tensor as residual (same storage and offset),
 *            never overlaps x or w.
 * matmul_scaled  as matmul with w: I8 [N, K] and w_scale: F32 [N], the
 *            weight being w[n][k]·w_scale[n]. NULL in a backend without
 *            int8 weights.
 * layernorm  x, y: F32 [..., C]; gamma, beta: NULL (1 / 0) or F32 [C].
 *            y = (x − mean) / sqrt(var + eps) · gamma + beta, population
 *            variance computed in two passes. y may be x.
 * softmax    x, y: F32 [..., R, C] (a 1-D x is one row); mask: NULL or F32
 *            [R, C] broadcast over the leading dims, added after the scale;
 *            causal masks (r, c) when c > r + (C − R).
 *            y = softmax(scale·x + mask) per row; a row with every entry
 *            masked (−inf) gives zeros. y may be x.
 * unary      x, y: F32, same shape; y may be x.
 * binary     a, b: F32, broadcast numpy-style to y's shape (each dim of a and
 *            b is 1 or equal to y's); all three are given here padded to
 *            VLM_MAX_DIMS dims (see vlm_tensor_broadcast_shape()).
 *            y may be a or b when its shape equals theirs.
 * attention  q, out: F32 [B, Sq, H·D]; k, v: F32 [B, Skv, H·D]; given here
 *            with ndim 3; params->scale already resolved (never 0);
 *            params->kv_len already resolved (1 ≤ kv_len ≤ Skv).
 *            out never overlaps q, k or v.
 * patchify   image: F32 [B, C, H, W]; patches: F32 [B, (H/p)·(W/p), C·p·p],
 *            inner order (c, ky, kx) like a conv weight [D, C, p, p]; patches
 *            in row-major patch order; pixels past a multiple of p ignored.
 * gather     table: F32 or F16 [V, D]; ids: I32, N elements; y: F32, N rows
 *            of D. An id outside [0, V) gives a row of zeros.
 * topk       x: F32 [..., N]; values: F32 [..., k]; indices: I32 [..., k];
 *            1 ≤ k ≤ N; sorted by value descending, ties by lower index,
 *            NaN counts as smaller than any number.
 * preprocess src: U8 holding the frame (planes inside, checked);
 *            out: F32 [3, crop, crop] (leading dims of size 1 allowed);
 *            the algorithm is fixed by vlm-preprocess.h so both backends
 *            compute the same numbers.
 */
#pragma once

#include "vlm-ops.h"

G_BEGIN_DECLS

/* Backing memory of one or more tensors. The core owns the reference count;
 * the backend creates and frees it. */
typedef struct _VlmStorage VlmStorage;
struct _VlmStorage {
  gint ref_count;
  VlmDevice *device;
  gsize nbytes;
  /* CPU: the data. Vulkan: the mapping when memory is host-visible, else
   * NULL. */
  gpointer host;
  /* Backend-owned state (Vulkan: buffer and sub-allocation; CPU: packed
   * weight caches). */
  gpointer backend;
};

typedef struct _VlmBackend VlmBackend;
struct _VlmBackend {
  const gchar *name;
  void        (*destroy)          (VlmDevice *device);

  VlmStorage *(*storage_new)      (VlmDevice *device, gsize nbytes, GError **error);
  /* CPU backends may keep @data without copying and call @notify when the
   * storage is freed; others copy and call @notify before returning. */
  VlmStorage *(*storage_new_from_data) (VlmDevice *device, gconstpointer data, gsize nbytes,
                                        GDestroyNotify notify, gpointer notify_data,
                                        GError **error);
  /* Called when the last reference goes; a backend with work in flight that
   * reads the storage must defer the release until that work is done. */
  void        (*storage_free)     (VlmDevice *device, VlmStorage *storage);
  gboolean    (*upload)           (VlmDevice *device, VlmStorage *storage, gsize offset,
                                   gconstpointer data, gsize nbytes, GError **error);
  gboolean    (*download)         (VlmDevice *device, VlmStorage *storage, gsize offset,
                                   gpointer data, gsize nbytes, GError **error);
  gboolean    (*sync)             (VlmDevice *device, GError **error);

  gboolean (*matmul)     (VlmDevice *device, VlmTensor *y, const VlmTensor *x,
                          const VlmTensor *w, const VlmTensor *bias,
                          const VlmTensor *residual, VlmActivation act, GError **error);
  gboolean (*layernorm)  (VlmDevice *device, VlmTensor *y, const VlmTensor *x,
                          const VlmTensor *gamma, const VlmTensor *beta, gfloat eps,
                          GError **error);
  gboolean (*softmax)    (VlmDevice *device, VlmTensor *y, const VlmTensor *x, gfloat scale,
                          const VlmTensor *mask, gboolean causal, GError **error);
  gboolean (*unary)      (VlmDevice *device, VlmTensor *y, const VlmTensor *x,
                          VlmActivation act, GError **error);
  gboolean (*binary)     (VlmDevice *device, VlmTensor *y, const VlmTensor *a,
                          const VlmTensor *b, VlmBinaryOp op, GError **error);
  gboolean (*attention)  (VlmDevice *device, VlmTensor *out, const VlmTensor *q,
                          const VlmTensor *k, const VlmTensor *v,
                          const VlmAttentionParams *params, GError **error);
  gboolean (*patchify)   (VlmDevice *device, VlmTensor *patches, const VlmTensor *image,
                          gint patch, GError **error);
  gboolean (*gather_rows)(VlmDevice *device, VlmTensor *y, const VlmTensor *table,
                          const VlmTensor *ids, GError **error);
  gboolean (*topk)       (VlmDevice *device, VlmTensor *values, VlmTensor *indices,
                          const VlmTensor *x, gint k, GError **error);
  gboolean (*preprocess) (VlmDevice *device, VlmTensor *out, const VlmTensor *src,
                          const VlmImageParams *params, GError **error);
  gboolean (*matmul_scaled) (VlmDevice *device, VlmTensor *y, const VlmTensor *x,
                             const VlmTensor *w, const VlmTensor *w_scale,
                             const VlmTensor *bias, const VlmTensor *residual,
                             VlmActivation act, GError **error);
};

struct _VlmDevice {
  gint ref_count;
  const VlmBackend *backend;
  VlmBackendKind kind;
  gchar *name;         /* e.g. "cpu (2 threads, avx512f)" or "vulkan:0 (llvmpipe …)" */
  gchar *reason;       /* why this device was chosen, for the one log line */
  gboolean fp16;       /* f16 weight storage usable */
  guint n_threads;     /* CPU worker threads (CPU backend), else 0 */
  gpointer priv;       /* backend state */
  gboolean bf16;       /* bf16 matmul weights usable */
};

/* Backend constructors. */
VlmDevice *vlm_cpu_device_new    (GError **error);
#ifdef VLM_HAVE_VULKAN
VlmDevice *vlm_vulkan_device_new (guint index, GError **error);
#endif

/* Helpers shared by backends. */
void vlm_tensor_broadcast_shape (const VlmTensor *t, gint64 out[VLM_MAX_DIMS]);

static inline gpointer
vlm_tensor_host_data (const VlmTensor *t)
{
  return (guint8 *) t->storage->host + t->offset;
}

G_END_DECLS
