/* gst-vlm tests — shared helpers: seeded inputs, guarded outputs, NMSE.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

#include "vlm-ops.h"

G_BEGIN_DECLS

/* Thresholds of DESIGN.md §3 (NMSE = Σ(ref − got)² / Σ ref²). */
#define VT_NMSE_ELEMENTWISE 1e-7
#define VT_NMSE_SOFTMAX     1e-6
#define VT_NMSE_NORM        1e-6
#define VT_NMSE_MATMUL      1e-6
#define VT_NMSE_MATMUL_F16  5e-4

/* Seeded generator (xorshift64*), the same sequence on every machine. */
typedef struct {
  guint64 state;
} VtRng;

void     vt_rng_init         (VtRng *rng, const gchar *name);
guint32  vt_rng_u32          (VtRng *rng);
double   vt_rng_double       (VtRng *rng);
gint     vt_rng_int          (VtRng *rng, gint lo, gint hi);
gfloat  *vt_uniform          (VtRng *rng, gsize n, gfloat lo, gfloat hi);
guint8  *vt_random_bytes     (VtRng *rng, gsize n);

/* IEEE half decoding written for the tests (independent of the engine). */
gfloat   vt_f16_decode       (guint16 h);
/* Rounds @n floats to f16: @halves (may be NULL) gets the bits, @rounded
 * (may be NULL) their exact values as floats. Uses the engine's encoder. */
void     vt_to_f16           (const gfloat *src, gsize n, guint16 *halves, gfloat *rounded);

/* Devices of the running test binary: the device under test and, when it
 * is a Vulkan device, the CPU device used for parity. */
void       vt_set_devices    (VlmDevice *device, VlmDevice *cpu);
VlmDevice *vt_device         (void);
VlmDevice *vt_cpu            (void);
gboolean   vt_is_vulkan      (void);

/* Between these two calls, warnings and criticals (fatal in tests) are
 * collected instead of aborting: for opening a Vulkan device where there
 * may be no driver, with the validation layer reporting the loader's
 * complaints. Returns the collected messages, or NULL. */
void       vt_collect_criticals_begin (void);
gchar     *vt_collect_criticals_end   (void);

/* An input tensor holding a copy of @data (asserts on failure): a view
 * inside a larger allocation whose other elements are NaN (f32, f16), an
 * invalid id (i32) or 0xa5 (u8), so reads outside the tensor show. */
VlmTensor *vt_tensor         (VlmDevice *device, VlmDType dtype, gint ndim, const gint64 *shape,
                              gconstpointer data);
/* Element offsets of the views vt_tensor() and vt_out_new() make inside
 * their allocations (default 16 and 16). */
void       vt_set_offsets    (gsize input, gsize output);

/* An output tensor with guard elements before and after it: the tensor is
 * a view inside a larger allocation whose every element starts as a
 * sentinel (a quiet-NaN bit pattern for 4-byte types); @init (may be NULL)
 * fills the view itself, for in-place ops. */
typedef struct {
  VlmTensor *base;
  VlmTensor *t;
  VlmDType dtype;
  gsize n;
  gsize pre;
  gsize post;
} VtOut;

VtOut     *vt_out_new        (VlmDevice *device, VlmDType dtype, gint ndim, const gint64 *shape,
                              gconstpointer init);
/* Downloads the view into @dst (n elements) and fails the test when a guard
 * element changed; returns FALSE then. */
gboolean   vt_out_read       (VtOut *out, gpointer dst, const gchar *what);
void       vt_out_free       (VtOut *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VtOut, vt_out_free)

/* Reports a failed op call (FALSE + error) as a test failure; returns @ok. */
gboolean vt_op_ok            (const gchar *what, gboolean ok, GError **error);
/* TRUE when the device can take f16 weights; otherwise skips the case on
 * Vulkan (a device limit) and fails it on the CPU (which must have them). */
gboolean vt_need_f16         (VlmDevice *device);

/* Comparisons. They report their figure with g_test_message() and mark the
 * test failed (without aborting) when it is out of bounds. */
double   vt_nmse             (const gfloat *ref, const gfloat *got, gsize n);
gboolean vt_check_nmse       (const gchar *what, const gfloat *ref, const gfloat *got, gsize n,
                              double limit);
gboolean vt_check_exact_f32  (const gchar *what, const gfloat *ref, const gfloat *got, gsize n);
gboolean vt_check_exact_i32  (const gchar *what, const gint32 *ref, const gint32 *got, gsize n);
gboolean vt_check_finite     (const gchar *what, const gfloat *got, gsize n);

/* Checks that an op call refused its arguments: @ok FALSE and *@error a
 * VLM_ERROR_INVALID_ARGUMENT (or @code) error; clears *@error. Usage:
 *   vt_refused ("f16 x", vlm_op_unary (y, x16, VLM_ACT_NONE, &err), &err); */
void     vt_refused          (const gchar *what, gboolean ok, GError **error);
void     vt_refused_code     (const gchar *what, gboolean ok, GError **error, gint code);

/* The activations in double precision, from their definitions. */
double   vt_ref_act          (VlmActivation act, double x);

/* Formats a shape as "2x7x33" for test names. */
gchar   *vt_shape_name       (gint ndim, const gint64 *shape);
gint64   vt_numel            (gint ndim, const gint64 *shape);

G_END_DECLS
