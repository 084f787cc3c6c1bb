/* gst-vlm engine — tensors and their storage.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "vlm-backend.h"

/**
 * vlm_dtype_size:
 * @dtype: an element type
 *
 * Returns: the size of one element in bytes.
 */
gsize
vlm_dtype_size (VlmDType dtype)
{
  switch (dtype) {
    case VLM_DTYPE_F32:
    case VLM_DTYPE_I32:
      return 4;
    case VLM_DTYPE_F16:
    case VLM_DTYPE_BF16:
      return 2;
    case VLM_DTYPE_U8:
    case VLM_DTYPE_I8:
      return 1;
  }
  return 0;
}

/**
 * vlm_dtype_to_string:
 * @dtype: an element type
 *
 * Returns: the type's name ("f32", "f16", "i32", "u8", "bf16", "i8").
 */
const gchar *
vlm_dtype_to_string (VlmDType dtype)
{
  switch (dtype) {
    case VLM_DTYPE_F32:
      return "f32";
    case VLM_DTYPE_F16:
      return "f16";
    case VLM_DTYPE_I32:
      return "i32";
    case VLM_DTYPE_U8:
      return "u8";
    case VLM_DTYPE_BF16:
      return "bf16";
    case VLM_DTYPE_I8:
      return "i8";
  }
  return "?";
}

static gboolean
check_shape (VlmDType dtype, gint ndim, const gint64 *shape, gsize *nbytes, GError **error)
{
  if (ndim < 1 || ndim > VLM_MAX_DIMS) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT,
                 "tensor: %d dimensions, expected 1 to %d", ndim, VLM_MAX_DIMS);
    return FALSE;
  }
  if (vlm_dtype_size (dtype) == 0) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "tensor: unknown dtype %d",
                 (int) dtype);
    return FALSE;
  }
  guint64 n = vlm_dtype_size (dtype);
  for (gint i = 0; i < ndim; i++) {
    if (shape[i] <= 0 || (guint64) shape[i] > G_MAXSIZE / n) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT,
                   "tensor: dimension %d has size %" G_GINT64_FORMAT
                   " (must be positive and the tensor must fit in memory)", i, shape[i]);
      return FALSE;
    }
    n *= (guint64) shape[i];
  }
  *nbytes = n;
  return TRUE;
}

static VlmTensor *
tensor_alloc (VlmDevice *device, VlmDType dtype, gint ndim, const gint64 *shape, gsize nbytes)
{
  VlmTensor *t = g_new0 (VlmTensor, 1);
  t->ref_count = 1;
  t->device = vlm_device_ref (device);
  t->dtype = dtype;
  t->ndim = ndim;
  memcpy (t->shape, shape, sizeof (gint64) * ndim);
  t->nbytes = nbytes;
  return t;
}

/**
 * vlm_tensor_new:
 * @device: where the tensor lives
 * @dtype: element type
 * @ndim: number of dimensions, 1 to %VLM_MAX_DIMS
 * @shape: (array length=ndim): sizes, outermost first, each positive
 * @error: return location for a #GError
 *
 * Allocates an uninitialised tensor on @device.
 *
 * Returns: (transfer full) (nullable): the tensor, or %NULL with @error set
 *   for a bad shape or a failed allocation.
 */
VlmTensor *
vlm_tensor_new (VlmDevice *device, VlmDType dtype, gint ndim, const gint64 *shape,
                GError **error)
{
  gsize nbytes;
  g_return_val_if_fail (device != NULL, NULL);
  if (!check_shape (dtype, ndim, shape, &nbytes, error))
    return NULL;
  VlmStorage *s = device->backend->storage_new (device, nbytes, error);
  if (!s)
    return NULL;
  s->ref_count = 1;
  s->device = device;
  s->nbytes = nbytes;
  VlmTensor *t = tensor_alloc (device, dtype, ndim, shape, nbytes);
  t->storage = s;
  return t;
}

/**
 * vlm_tensor_new_from_data:
 * @device: where the tensor lives
 * @dtype: element type
 * @ndim: number of dimensions, 1 to %VLM_MAX_DIMS
 * @shape: (array length=ndim): sizes, outermost first
 * @data: the elements, row-major; must stay valid until @notify is called
 * @notify: (nullable): called with @notify_data when @data is no longer used
 * @notify_data: user data for @notify
 * @error: return location for a #GError
 *
 * Makes a tensor holding @data. The CPU backend uses @data in place (no
 * copy, e.g. weights in a memory-mapped file); other backends copy it and
 * call @notify before returning. @notify is called on failure too.
 *
 * Returns: (transfer full) (nullable): the tensor, or %NULL with @error set.
 */
VlmTensor *
vlm_tensor_new_from_data (VlmDevice *device, VlmDType dtype, gint ndim, const gint64 *shape,
                          gconstpointer data, GDestroyNotify notify, gpointer notify_data,
                          GError **error)
{
  gsize nbytes;
  g_return_val_if_fail (device != NULL && data != NULL, NULL);
  if (!check_shape (dtype, ndim, shape, &nbytes, error)) {
    if (notify)
      notify (notify_data);
    return NULL;
  }
  VlmStorage *s = device->backend->storage_new_from_data (device, data, nbytes, notify,
                                                          notify_data, error);
  if (!s)
    return NULL;
  s->ref_count = 1;
  s->device = device;
  s->nbytes = nbytes;
  VlmTensor *t = tensor_alloc (device, dtype, ndim, shape, nbytes);
  t->storage = s;
  return t;
}

/**
 * vlm_tensor_view:
 * @base: the tensor whose storage the view shares
 * @element_offset: first element of the view, counted in @base's elements
 * @ndim: number of dimensions of the view
 * @shape: (array length=ndim): sizes of the view
 * @error: return location for a #GError
 *
 * Makes a tensor that shares @base's storage: a reshape (offset 0, same
 * number of elements) or a contiguous slice. The view keeps the storage
 * alive.
 *
 * Returns: (transfer full) (nullable): the view, or %NULL with @error set
 *   when it would reach outside @base.
 */
VlmTensor *
vlm_tensor_view (VlmTensor *base, gsize element_offset, gint ndim, const gint64 *shape,
                 GError **error)
{
  gsize nbytes;
  g_return_val_if_fail (base != NULL, NULL);
  if (!check_shape (base->dtype, ndim, shape, &nbytes, error))
    return NULL;
  gsize esize = vlm_dtype_size (base->dtype);
  if (element_offset > base->nbytes / esize || nbytes > base->nbytes - element_offset * esize) {
    g_autofree gchar *bs = vlm_tensor_shape_string (base);
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT,
                 "tensor view: %" G_GSIZE_FORMAT " bytes at element %" G_GSIZE_FORMAT
                 " reach outside the base tensor %s", nbytes, element_offset, bs);
    return NULL;
  }
  VlmTensor *t = tensor_alloc (base->device, base->dtype, ndim, shape, nbytes);
  t->storage = base->storage;
  g_atomic_int_inc (&t->storage->ref_count);
  t->offset = base->offset + element_offset * esize;
  return t;
}

/**
 * vlm_tensor_ref:
 * @tensor: a tensor
 *
 * Returns: (transfer full): @tensor, with one more reference.
 */
VlmTensor *
vlm_tensor_ref (VlmTensor *tensor)
{
  g_return_val_if_fail (tensor != NULL, NULL);
  g_atomic_int_inc (&tensor->ref_count);
  return tensor;
}

/**
 * vlm_tensor_unref:
 * @tensor: (nullable): a tensor
 *
 * Drops a reference; the last one frees the tensor, and its storage when no
 * other view uses it (after any recorded work reading it has finished).
 */
void
vlm_tensor_unref (VlmTensor *tensor)
{
  if (!tensor || !g_atomic_int_dec_and_test (&tensor->ref_count))
    return;
  VlmStorage *s = tensor->storage;
  VlmDevice *device = tensor->device;
  if (g_atomic_int_dec_and_test (&s->ref_count))
    device->backend->storage_free (device, s);
  g_free (tensor);
  vlm_device_unref (device);
}

/**
 * vlm_tensor_numel:
 * @tensor: a tensor
 *
 * Returns: the number of elements.
 */
gint64
vlm_tensor_numel (const VlmTensor *tensor)
{
  gint64 n = 1;
  for (gint i = 0; i < tensor->ndim; i++)
    n *= tensor->shape[i];
  return n;
}

/**
 * vlm_tensor_rows:
 * @tensor: a tensor
 *
 * Returns: the number of rows: the product of every dimension but the last.
 */
gint64
vlm_tensor_rows (const VlmTensor *tensor)
{
  return vlm_tensor_numel (tensor) / tensor->shape[tensor->ndim - 1];
}

/**
 * vlm_tensor_shape_string:
 * @tensor: a tensor
 *
 * Returns: (transfer full): the shape and dtype as text, e.g. "[2, 77, 512] f32".
 */
gchar *
vlm_tensor_shape_string (const VlmTensor *tensor)
{
  GString *s = g_string_new ("[");
  for (gint i = 0; i < tensor->ndim; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? ", " : "", tensor->shape[i]);
  g_string_append_printf (s, "] %s", vlm_dtype_to_string (tensor->dtype));
  return g_string_free (s, FALSE);
}

/**
 * vlm_tensor_upload:
 * @tensor: destination
 * @data: host data, row-major
 * @nbytes: must equal the tensor's byte size
 * @error: return location for a #GError
 *
 * Copies host data into the tensor. On Vulkan, work already recorded that
 * uses the tensor is finished first.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_tensor_upload (VlmTensor *tensor, gconstpointer data, gsize nbytes, GError **error)
{
  g_return_val_if_fail (tensor != NULL && data != NULL, FALSE);
  if (nbytes != tensor->nbytes) {
    g_autofree gchar *ts = vlm_tensor_shape_string (tensor);
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT,
                 "tensor upload: %" G_GSIZE_FORMAT " bytes given for %s (%" G_GSIZE_FORMAT
                 " bytes)", nbytes, ts, tensor->nbytes);
    return FALSE;
  }
  return tensor->device->backend->upload (tensor->device, tensor->storage, tensor->offset, data,
                                          nbytes, error);
}

/**
 * vlm_tensor_download:
 * @tensor: source
 * @data: host destination
 * @nbytes: must equal the tensor's byte size
 * @error: return location for a #GError
 *
 * Waits for recorded work and copies the tensor to host memory.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_tensor_download (VlmTensor *tensor, gpointer data, gsize nbytes, GError **error)
{
  g_return_val_if_fail (tensor != NULL && data != NULL, FALSE);
  if (nbytes != tensor->nbytes) {
    g_autofree gchar *ts = vlm_tensor_shape_string (tensor);
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT,
                 "tensor download: %" G_GSIZE_FORMAT " bytes asked of %s (%" G_GSIZE_FORMAT
                 " bytes)", nbytes, ts, tensor->nbytes);
    return FALSE;
  }
  return tensor->device->backend->download (tensor->device, tensor->storage, tensor->offset,
                                            data, nbytes, error);
}

/**
 * vlm_tensor_broadcast_shape:
 * @t: a tensor
 * @out: its shape right-aligned to %VLM_MAX_DIMS dimensions, padded with 1s
 *
 * Shape helper for broadcasting ops.
 */
void
vlm_tensor_broadcast_shape (const VlmTensor *t, gint64 out[VLM_MAX_DIMS])
{
  gint pad = VLM_MAX_DIMS - t->ndim;
  for (gint i = 0; i < VLM_MAX_DIMS; i++)
    out[i] = i < pad ? 1 : t->shape[i - pad];
}

/* Half-precision conversion in software, exact round-to-nearest-even. Used
 * at load time (not on hot paths), so portable code is enough. */
static guint16
f32_to_f16 (gfloat f)
{
  guint32 x;
  memcpy (&x, &f, 4);
  guint32 sign = (x >> 16) & 0x8000u;
  guint32 mant = x & 0x7fffffu;
  gint exp = (gint) ((x >> 23) & 0xff);
  if (exp == 0xff)
    return (guint16) (sign | 0x7c00u | (mant ? 0x200u : 0));
  exp = exp - 127 + 15;
  if (exp >= 0x1f)
    return (guint16) (sign | 0x7c00u);
  if (exp <= 0) {
    if (exp < -10)
      return (guint16) sign;
    mant |= 0x800000u;
    guint32 shift = (guint32) (14 - exp);
    guint32 half = mant >> shift;
    guint32 rem = mant & ((1u << shift) - 1);
    guint32 mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1)))
      half++;
    return (guint16) (sign | half);
  }
  guint32 h = sign | ((guint32) exp << 10) | (mant >> 13);
  guint32 rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
    h++;
  return (guint16) h;
}

static gfloat
f16_to_f32 (guint16 h)
{
  guint32 sign = ((guint32) h & 0x8000u) << 16;
  guint32 exp = (h >> 10) & 0x1f;
  guint32 mant = h & 0x3ffu;
  guint32 x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {
      gint e = -1;
      do {
        e++;
        mant <<= 1;
      } while (!(mant & 0x400u));
      x = sign | ((guint32) (127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 0x1f) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  gfloat f;
  memcpy (&f, &x, 4);
  return f;
}

/**
 * vlm_f32_to_f16:
 * @dst: (array length=n): destination halves
 * @src: (array length=n): source floats
 * @n: number of elements
 *
 * Converts floats to IEEE half precision, rounding to nearest even.
 */
void
vlm_f32_to_f16 (guint16 *dst, const gfloat *src, gsize n)
{
  for (gsize i = 0; i < n; i++)
    dst[i] = f32_to_f16 (src[i]);
}

/**
 * vlm_f16_to_f32:
 * @dst: (array length=n): destination floats
 * @src: (array length=n): source halves
 * @n: number of elements
 *
 * Converts IEEE half precision to floats (exact).
 */
void
vlm_f16_to_f32 (gfloat *dst, const guint16 *src, gsize n)
{
  for (gsize i = 0; i < n; i++)
    dst[i] = f16_to_f32 (src[i]);
}

/**
 * vlm_bf16_to_f32:
 * @dst: (array length=n): destination floats
 * @src: (array length=n): source bfloat16 values
 * @n: number of elements
 *
 * Converts bfloat16 to floats (exact).
 */
void
vlm_bf16_to_f32 (gfloat *dst, const guint16 *src, gsize n)
{
  for (gsize i = 0; i < n; i++) {
    guint32 x = (guint32) src[i] << 16;
    memcpy (&dst[i], &x, 4);
  }
}

/**
 * vlm_f32_to_bf16:
 * @dst: (array length=n): destination bfloat16 values
 * @src: (array length=n): source floats
 * @n: number of elements
 *
 * Converts floats to bfloat16, rounding to nearest even; NaN stays NaN
 * (quiet), infinities stay infinite.
 */
void
vlm_f32_to_bf16 (guint16 *dst, const gfloat *src, gsize n)
{
  for (gsize i = 0; i < n; i++) {
    guint32 x;
    memcpy (&x, &src[i], 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
      dst[i] = (guint16) ((x >> 16) | 0x40);
    else
      dst[i] = (guint16) ((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
  }
}
