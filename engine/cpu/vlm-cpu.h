/* gst-vlm engine — CPU backend internals shared by its files.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Layout of the backend:
 *  - vlm-cpu-backend.c  device, storage, the VlmBackend table, op locking;
 *  - cpu-pool.c         one persistent thread pool per device;
 *  - cpu-gemm.c         matmul driver: weight packing and its cache, tiling,
 *                       threading; the portable micro-kernel;
 *  - cpu-gemm-avx2.c, cpu-gemm-avx512.c  micro-kernels and vector
 *                       activations built with ISA flags, chosen at run time;
 *  - cpu-ops.c          layernorm, softmax, unary, binary;
 *  - cpu-attention.c    multi-head attention, one row block at a time;
 *  - cpu-misc.c         patchify, gather_rows, topk;
 *  - cpu-preprocess.c   frame → normalised model input.
 *
 * Every op runs with the device's op lock held (vlm-cpu-backend.c), so two
 * threads calling ops on one device are serialised and the pool and the
 * packed-weight caches are only touched by one op at a time.
 */
#pragma once

#include <math.h>
#include <stdlib.h>

#include "../vlm-backend.h"

G_BEGIN_DECLS

/* ---- thread pool (cpu-pool.c) ---- */

typedef struct _VlmCpuPool VlmCpuPool;

/* Runs tasks [0, n_tasks) of one job; @thread is 0 for the calling thread
 * and 1 … n_threads − 1 for the workers (an index for per-thread scratch). */
typedef void (*VlmCpuTaskFunc) (gpointer data, gint task, guint thread);

/* Runs items [begin, end) of a range split by vlm_cpu_pool_range(). */
typedef void (*VlmCpuRangeFunc) (gpointer data, gint64 begin, gint64 end, guint thread);

VlmCpuPool *vlm_cpu_pool_new    (guint n_threads, GError **error);
void        vlm_cpu_pool_free   (VlmCpuPool *pool);
guint       vlm_cpu_pool_n_threads (VlmCpuPool *pool);
void        vlm_cpu_pool_run    (VlmCpuPool *pool, gint n_tasks, VlmCpuTaskFunc func,
                                 gpointer data);
void        vlm_cpu_pool_range  (VlmCpuPool *pool, gint64 n_items, gint64 grain,
                                 VlmCpuRangeFunc func, gpointer data);
void        vlm_cpu_pool_set_timing (VlmCpuPool *pool, gboolean on);
void        vlm_cpu_pool_get_timing (VlmCpuPool *pool, gdouble *task_seconds, guint64 *n_jobs);

/* ---- instruction sets and micro-kernels ---- */

/* Per-tile arguments of a matmul micro-kernel: what it adds after the dot
 * products, y = act(acc + bias) + residual for the valid columns, and a
 * hint of memory to prefetch while it runs. */
typedef struct {
  const gfloat *bias;      /* at the tile's first column, or NULL */
  const gfloat *residual;  /* at the tile's first element, or NULL */
  gsize ld_residual;       /* row stride of residual, in floats */
  VlmActivation act;
  /* Weights a later block will read, or NULL: the kernel prefetches into
   * L2 from prefetch + k·prefetch_step for each k (weights stream from
   * memory while this block is computed). */
  const gchar *prefetch;
  gsize prefetch_step;
} VlmCpuTileArgs;

/* How a micro-kernel call starts and ends (K is done in blocks). */
typedef enum {
  VLM_CPU_GEMM_ACCUMULATE = 1 << 0,  /* start from the sums in @acc, else from 0 */
  VLM_CPU_GEMM_FINAL = 1 << 1,       /* apply the epilogue into @c, else store
                                      * the sums to @acc */
} VlmCpuGemmFlags;

/* One tile over one block of K: s[m][j] (+)= Σ_k a[k·mr + m] · b[k·NR + j]
 * for m < @mr (1 … the ISA's MR), j < NR; @a is the tile's rows of x packed
 * k-major, @b a packed weight panel, both at the block's first k; @acc holds
 * partial sums [mr][NR]. With VLM_CPU_GEMM_FINAL, c[m·ldc + j] =
 * act(s[m][j] + bias[j]) + residual[m][j] for j < @n_valid (1 … NR). */
typedef void (*VlmCpuGemmKernel) (gint mr, gint64 kc, const gfloat *a, const gfloat *b,
                                  gfloat *acc, VlmCpuGemmFlags flags, gfloat *c, gsize ldc,
                                  gint n_valid, const VlmCpuTileArgs *ep);

/* Elementwise activation over @n floats (y may be x). */
typedef void (*VlmCpuActivationFunc) (gfloat *y, const gfloat *x, gsize n, VlmActivation act);

/* IEEE half → float over @n values. */
typedef void (*VlmCpuHalfFunc) (gfloat *dst, const guint16 *src, gsize n);

/* y[i] = e^(x[i] − shift) over @n floats (y may be x); returns Σ y[i]. */
typedef gfloat (*VlmCpuExpFunc) (gfloat *y, const gfloat *x, gsize n, gfloat shift);

/* dst[k·mr + m] = src[m·ld + k] for m < @mr (1 … 16, at least the ISA's
 * MR), k < @K: rows of x packed k-major for a GEMM tile (attention also
 * transposes keys with it, 16 at a time). */
typedef void (*VlmCpuPackRowsFunc) (gfloat *dst, const gfloat *src, gsize ld, gint mr,
                                    gint64 K);

typedef struct {
  const gchar *name;       /* "avx512f", "avx2", "generic" */
  gint mr;                 /* largest tile height */
  gint nr;                 /* panel width, in floats */
  VlmCpuGemmKernel gemm;
  VlmCpuActivationFunc activation;
  VlmCpuHalfFunc half_to_float;
  VlmCpuExpFunc exp_sum;
  VlmCpuPackRowsFunc pack_rows;
} VlmCpuIsa;

void vlm_cpu_pack_rows_generic (gfloat *dst, const gfloat *src, gsize ld, gint mr, gint64 K);

const VlmCpuIsa *vlm_cpu_isa_generic (void);
#ifdef VLM_CPU_HAVE_X86
const VlmCpuIsa *vlm_cpu_isa_avx2    (void);
const VlmCpuIsa *vlm_cpu_isa_avx512  (void);
#endif

/* Scalar activations, the reference every vector version follows. */
static inline gfloat
vlm_cpu_act_scalar (gfloat x, VlmActivation act)
{
  switch (act) {
    case VLM_ACT_GELU_ERF:
      return 0.5f * x * (1.0f + erff (x * (gfloat) G_SQRT2 * 0.5f));
    case VLM_ACT_GELU_TANH:
      return 0.5f * x * (1.0f + tanhf (0.7978845608f * (x + 0.044715f * x * x * x)));
    case VLM_ACT_QUICK_GELU:
      return x / (1.0f + expf (-1.702f * x));
    case VLM_ACT_NONE:
      break;
  }
  return x;
}

/* Largest of x[0 … n), n ≥ 1, as a loop of m = v > m ? v : m from x[0]
 * would find it, in 8 independent lanes (a single chain of compares is
 * latency-bound: it was 40% of attention's time on ViT-B/32 rows of 50). */
static inline gfloat
vlm_cpu_max (const gfloat *x, gsize n)
{
  gfloat m[8];
  gsize i = 0;
  for (gint j = 0; j < 8; j++)
    m[j] = x[0];
  for (; i + 8 <= n; i += 8)
    for (gint j = 0; j < 8; j++)
      m[j] = x[i + j] > m[j] ? x[i + j] : m[j];
  for (; i < n; i++)
    m[0] = x[i] > m[0] ? x[i] : m[0];
  gfloat r = m[0];
  for (gint j = 1; j < 8; j++)
    r = m[j] > r ? m[j] : r;
  return r;
}

/* ---- device state ---- */

typedef struct {
  GMutex op_lock;          /* held for the whole of every op and upload */
  VlmCpuPool *pool;
  const VlmCpuIsa *isa;
  gboolean amx;            /* AMX-BF16 usable (processor and kernel), with isa avx512f */
  gboolean f32_bf16x3;     /* f32 matmuls on AMX as three bf16 products (the default with
                            * AMX; VLM_CPU_F32_MATH=strict turns it off) */
  gpointer *scratch;       /* one buffer per pool thread (vlm_cpu_scratch()) */
  gsize scratch_bytes;
  gpointer shared;         /* one buffer for all threads (vlm_cpu_shared_scratch()) */
  gsize shared_bytes;
  GHashTable *profile;     /* VLM_CPU_PROFILE=1: op label → time (vlm-cpu-backend.c) */
  /* The AMX path's x rounded to bf16 (hi, and lo with bf16x3), kept for
   * the next matmul on the same x (q, k and v share theirs). */
  gpointer amx_x;
  gsize amx_x_bytes;
  struct {
    const VlmStorage *storage;
    guint64 stamp;
    gsize offset;
    gint64 m, k, kp;
    gboolean split;
  } amx_x_of;              /* what amx_x holds; storage NULL: nothing */
} VlmCpuDevice;

static inline VlmCpuDevice *
vlm_cpu_device (VlmDevice *device)
{
  return (VlmCpuDevice *) device->priv;
}

/* Per-storage state (VlmStorage.backend). */
typedef struct {
  gpointer alloc;          /* our allocation, or NULL for wrapped data */
  GDestroyNotify notify;   /* for wrapped data */
  gpointer notify_data;
  gboolean written;        /* an op has written it: not a weight, never cached */
  GHashTable *packed;      /* VlmCpuPackKey → packed weight */
  gint file_backed;        /* -1 unknown, 0 no, 1 a read-only file mapping */
  /* The bytes were given back after packing (host is NULL): @whole, a
   * packed copy of the entire storage, is the only copy until
   * vlm_cpu_storage_restore(). */
  gboolean released;
  const struct _VlmCpuPacked *whole;
  guint64 stamp;           /* new on every write (vlm_cpu_storage_touch()) */
} VlmCpuStorage;

/* Gives a storage a new stamp, before it is written (op outputs, upload). */
void vlm_cpu_storage_touch (VlmStorage *storage);

/* Called by every op on each tensor it writes, before writing: drops
 * packed copies of the storage and stops it from being cached again. */
gboolean vlm_cpu_storage_written (VlmStorage *storage, GError **error);

/* Drops the packed copies of a storage (on upload and free). */
void vlm_cpu_storage_drop_packed (VlmStorage *storage);

/* Called when [offset, offset + nbytes) of @storage has been packed as
 * @packed (now in its cache): matmul does not read the original again, so
 * it is given back — pages of a read-only file mapping (weights used in
 * place from a safetensors file) to the kernel, which reads them from the
 * file again if they are touched; memory the backend owns or was handed
 * (converted weights) is freed when @packed covers the whole storage, and
 * rebuilt from it by vlm_cpu_storage_restore() if anything reads it
 * later. VLM_CPU_KEEP_WEIGHTS=1 keeps everything. */
void vlm_cpu_storage_packed (VlmStorage *storage, gsize offset, gsize nbytes,
                             const struct _VlmCpuPacked *packed);

/* Gives @storage its bytes back after vlm_cpu_storage_packed() freed them
 * (a no-op otherwise). Every op calls it for the storages it reads or
 * writes, as do download and upload. Returns FALSE when memory ran out. */
gboolean vlm_cpu_storage_restore (VlmStorage *storage, GError **error);

/* ---- packed matmul weights (cpu-gemm.c) ---- */

/* bf16 weights are packed with K padded to a multiple of this (one AMX
 * tile row holds 32 bf16 values). */
#define VLM_CPU_BF16_KSTEP 32

/* A weight [N, K] repacked into panels of @nr output columns, stored
 * k-major: f32 and f16 as [ceil(N / nr)][K][nr]; bf16 and i8 with
 * consecutive pairs of k side by side, [ceil(N / nr)][kp / 2][nr][2]. Columns past N
 * and k past K are zero. With @split (f32 weights for the bf16x3 AMX
 * path) each f32 w is stored as two bf16, hi = bf16(w) and lo =
 * bf16(w − hi), in the bf16 layout: per panel and per 32 k, the 16 pair
 * rows of hi, then those of lo. */
typedef struct _VlmCpuPacked {
  gint64 n, k;
  gint64 kp;               /* K, or for bf16, i8 and split K rounded up to VLM_CPU_BF16_KSTEP */
  gint nr;
  VlmDType dtype;
  gboolean split;
  gpointer data;
} VlmCpuPacked;

void vlm_cpu_unpack_weight (const VlmCpuPacked *p, gpointer dst);

#ifdef VLM_CPU_HAVE_X86
/* AMX (cpu-gemm-amx.c). */
gboolean vlm_cpu_amx_init   (void);
gboolean vlm_cpu_matmul_amx (VlmDevice *device, VlmTensor *y, const VlmTensor *x,
                             const VlmCpuPacked *w, const VlmTensor *w_scale,
                             const VlmTensor *bias, const VlmTensor *residual,
                             VlmActivation act, GError **error);
void     vlm_cpu_gemm_split (gint mr, gint64 kc, const gfloat *a, const guint16 *b,
                             gfloat *sums, VlmCpuGemmFlags flags, gfloat *c, gsize ldc,
                             gint n_valid, const VlmCpuTileArgs *ep);
#endif

/* With bf16x3, matmuls of at most this many rows run on FMA instead of the
 * AMX tiles (32 rows, three products), the split weight read in place and
 * widened to f32 (hi + lo) in registers (vlm_cpu_gemm_split()): GIT
 * decoding, one row, 27.5 -> 24 ms CPU per token (strict f32 22); widened
 * into scratch per K block first it was 25–27. At 16 rows (CLIP text)
 * AMX is faster. */
#define VLM_CPU_SPLIT_FMA_MAX_ROWS 4

/* ---- ops, each with the device's op lock held ---- */

gboolean vlm_cpu_matmul     (VlmDevice *device, VlmTensor *y, const VlmTensor *x,
                             const VlmTensor *w, const VlmTensor *bias,
                             const VlmTensor *residual, VlmActivation act, GError **error);
gboolean vlm_cpu_matmul_scaled (VlmDevice *device, VlmTensor *y, const VlmTensor *x,
                                const VlmTensor *w, const VlmTensor *w_scale,
                                const VlmTensor *bias, const VlmTensor *residual,
                                VlmActivation act, GError **error);
gboolean vlm_cpu_layernorm  (VlmDevice *device, VlmTensor *y, const VlmTensor *x,
                             const VlmTensor *gamma, const VlmTensor *beta, gfloat eps,
                             GError **error);
gboolean vlm_cpu_softmax    (VlmDevice *device, VlmTensor *y, const VlmTensor *x,
                             gfloat scale, const VlmTensor *mask, gboolean causal,
                             GError **error);
gboolean vlm_cpu_unary      (VlmDevice *device, VlmTensor *y, const VlmTensor *x,
                             VlmActivation act, GError **error);
gboolean vlm_cpu_binary     (VlmDevice *device, VlmTensor *y, const VlmTensor *a,
                             const VlmTensor *b, VlmBinaryOp op, GError **error);
gboolean vlm_cpu_attention  (VlmDevice *device, VlmTensor *out, const VlmTensor *q,
                             const VlmTensor *k, const VlmTensor *v,
                             const VlmAttentionParams *params, GError **error);
gboolean vlm_cpu_patchify   (VlmDevice *device, VlmTensor *patches, const VlmTensor *image,
                             gint patch, GError **error);
gboolean vlm_cpu_gather_rows (VlmDevice *device, VlmTensor *y, const VlmTensor *table,
                              const VlmTensor *ids, GError **error);
gboolean vlm_cpu_topk       (VlmDevice *device, VlmTensor *values, VlmTensor *indices,
                             const VlmTensor *x, gint k, GError **error);
gboolean vlm_cpu_preprocess (VlmDevice *device, VlmTensor *out, const VlmTensor *src,
                             const VlmImageParams *params, GError **error);

/* Per-thread scratch buffers of at least @nbytes each (indexed by the pool's
 * thread index), kept by the device between ops; valid until the next call. */
gpointer *vlm_cpu_scratch   (VlmDevice *device, gsize nbytes, GError **error);

/* One scratch buffer of at least @nbytes shared by the threads of an op,
 * kept by the device between ops; valid until the next call. */
gpointer  vlm_cpu_shared_scratch (VlmDevice *device, gsize nbytes, GError **error);

/* 64-byte aligned allocation that reports failure as a GError instead of
 * aborting; release with free(). */
gpointer vlm_cpu_try_alloc  (gsize nbytes, const gchar *what, GError **error);

G_END_DECLS
