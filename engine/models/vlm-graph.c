/* gst-vlm engine — helpers for building model graphs on the op API.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>

#include "vlm-graph.h"

/**
 * vlm_load_as:
 * @wl: a loader
 * @dtype: f32 or f16
 * @name: tensor name in the file
 * @ndim: dimensions expected
 * @shape: (array length=ndim): shape expected
 *
 * Loads one tensor unless an earlier load failed.
 *
 * Returns: (transfer none) (nullable): the tensor, owned by @wl->owned.
 */
VlmTensor *
vlm_load_as (VlmWeightLoader *wl, VlmDType dtype, const gchar *name, gint ndim,
             const gint64 *shape)
{
  if (wl->failed)
    return NULL;
  VlmTensor *t = vlm_safetensors_load (wl->st, name, wl->device, dtype, ndim, shape, wl->error);
  if (!t) {
    wl->failed = TRUE;
    return NULL;
  }
  g_ptr_array_add (wl->owned, t);
  return t;
}

/**
 * vlm_load_matrix:
 * @wl: a loader
 * @name: tensor name
 * @rows: output features
 * @cols: input features
 *
 * Loads a linear layer's weight [rows, cols] in the loader's matrix dtype.
 *
 * Returns: (transfer none) (nullable): the tensor.
 */
VlmTensor *
vlm_load_matrix (VlmWeightLoader *wl, const gchar *name, gint64 rows, gint64 cols)
{
  return vlm_load_as (wl, wl->matrix_dtype, name, 2, SHAPE (rows, cols));
}

/**
 * vlm_load_f32:
 * @wl: a loader
 * @name: tensor name
 * @ndim: dimensions expected
 * @shape: (array length=ndim): shape expected
 *
 * Loads a tensor as f32 whatever its stored type.
 *
 * Returns: (transfer none) (nullable): the tensor.
 */
VlmTensor *
vlm_load_f32 (VlmWeightLoader *wl, const gchar *name, gint ndim, const gint64 *shape)
{
  return vlm_load_as (wl, VLM_DTYPE_F32, name, ndim, shape);
}

/**
 * vlm_load_vector:
 * @wl: a loader
 * @name: tensor name
 * @n: length
 *
 * Loads a bias or norm parameter [n] as f32.
 *
 * Returns: (transfer none) (nullable): the tensor.
 */
VlmTensor *
vlm_load_vector (VlmWeightLoader *wl, const gchar *name, gint64 n)
{
  return vlm_load_as (wl, VLM_DTYPE_F32, name, 1, SHAPE (n));
}

/**
 * vlm_scratch_init:
 * @s: scratch set to initialise
 * @device: where its tensors live
 * @error: where allocation errors go
 *
 * Starts an empty set of per-pass tensors.
 */
void
vlm_scratch_init (VlmScratch *s, VlmDevice *device, GError **error)
{
  s->device = device;
  s->all = g_ptr_array_new_with_free_func ((GDestroyNotify) vlm_tensor_unref);
  s->error = error;
}

/**
 * vlm_scratch_clear:
 * @s: a scratch set
 *
 * Releases every tensor of the set (on Vulkan, once recorded work using
 * them has finished).
 */
void
vlm_scratch_clear (VlmScratch *s)
{
  g_clear_pointer (&s->all, g_ptr_array_unref);
}

/**
 * vlm_scratch_new:
 * @s: a scratch set
 * @dtype: element type
 * @ndim: dimensions
 * @shape: (array length=ndim): sizes
 *
 * Returns: (transfer none) (nullable): a new tensor owned by the set.
 */
VlmTensor *
vlm_scratch_new (VlmScratch *s, VlmDType dtype, gint ndim, const gint64 *shape)
{
  return vlm_scratch_take (s, vlm_tensor_new (s->device, dtype, ndim, shape, s->error));
}

/**
 * vlm_scratch_view:
 * @s: a scratch set
 * @base: tensor to view
 * @element_offset: first element
 * @ndim: dimensions
 * @shape: (array length=ndim): sizes
 *
 * Returns: (transfer none) (nullable): a view owned by the set.
 */
VlmTensor *
vlm_scratch_view (VlmScratch *s, VlmTensor *base, gsize element_offset, gint ndim,
                  const gint64 *shape)
{
  if (!base)
    return NULL;
  return vlm_scratch_take (s, vlm_tensor_view (base, element_offset, ndim, shape, s->error));
}

/**
 * vlm_scratch_take:
 * @s: a scratch set
 * @tensor: (transfer full) (nullable): a tensor
 *
 * Makes the set own @tensor.
 *
 * Returns: (transfer none) (nullable): @tensor.
 */
VlmTensor *
vlm_scratch_take (VlmScratch *s, VlmTensor *tensor)
{
  if (tensor)
    g_ptr_array_add (s->all, tensor);
  return tensor;
}

/**
 * vlm_l2_normalize:
 * @rows: (array): n × dim floats, normalised in place
 * @n: number of rows
 * @dim: row length
 *
 * Divides each row by its Euclidean norm (a zero row stays zero).
 */
void
vlm_l2_normalize (gfloat *rows, gint64 n, gint64 dim)
{
  for (gint64 r = 0; r < n; r++) {
    gfloat *v = rows + r * dim;
    gdouble sum = 0;
    for (gint64 i = 0; i < dim; i++)
      sum += (gdouble) v[i] * v[i];
    gfloat inv = sum > 0 ? (gfloat) (1.0 / sqrt (sum)) : 0.0f;
    for (gint64 i = 0; i < dim; i++)
      v[i] *= inv;
  }
}
