/* gst-vlm engine — helpers for building model graphs on the op API.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Private to engine/models/: a weight loader that stops at the first error
 * (so a long list of loads reads straight), and per-pass scratch tensors
 * freed together.
 */
#pragma once

#include "../loaders/vlm-safetensors.h"
#include "../vlm-ops.h"

G_BEGIN_DECLS

/* A shape literal: SHAPE (2, 3) → (const gint64[]) { 2, 3 }. */
#define SHAPE(...) ((const gint64[]) { __VA_ARGS__ })

/* Loads tensors from one safetensors file onto a device; after the first
 * failure every call returns NULL and *error holds the first message. */
typedef struct {
  VlmSafetensors *st;
  VlmDevice *device;
  VlmDType matrix_dtype;   /* matmul weights: f32 or f16 */
  GPtrArray *owned;        /* every tensor loaded, freed with the model */
  GError **error;
  gboolean failed;
} VlmWeightLoader;

VlmTensor *vlm_load_matrix (VlmWeightLoader *wl, const gchar *name, gint64 rows, gint64 cols);
VlmTensor *vlm_load_f32    (VlmWeightLoader *wl, const gchar *name, gint ndim,
                            const gint64 *shape);
VlmTensor *vlm_load_vector (VlmWeightLoader *wl, const gchar *name, gint64 n);
VlmTensor *vlm_load_as     (VlmWeightLoader *wl, VlmDType dtype, const gchar *name, gint ndim,
                            const gint64 *shape);

/* Tensors of one forward pass; freed together by vlm_scratch_clear(). */
typedef struct {
  VlmDevice *device;
  GPtrArray *all;
  GError **error;
} VlmScratch;

void       vlm_scratch_init  (VlmScratch *s, VlmDevice *device, GError **error);
void       vlm_scratch_clear (VlmScratch *s);
VlmTensor *vlm_scratch_new   (VlmScratch *s, VlmDType dtype, gint ndim, const gint64 *shape);
VlmTensor *vlm_scratch_view  (VlmScratch *s, VlmTensor *base, gsize element_offset, gint ndim,
                              const gint64 *shape);
VlmTensor *vlm_scratch_take  (VlmScratch *s, VlmTensor *tensor);

void       vlm_l2_normalize  (gfloat *rows, gint64 n, gint64 dim);

G_END_DECLS
