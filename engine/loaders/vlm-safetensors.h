/* gst-vlm engine — memory-mapped safetensors files, strictly validated.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "../vlm-tensor.h"

G_BEGIN_DECLS

/**
 * VLM_SAFETENSORS_MAX_DIMS:
 *
 * Most dimensions a safetensors entry may have.
 */
#define VLM_SAFETENSORS_MAX_DIMS 8

/**
 * VlmStDType:
 * @VLM_ST_F32: "F32"
 * @VLM_ST_F16: "F16"
 * @VLM_ST_BF16: "BF16"
 * @VLM_ST_F64: "F64"
 * @VLM_ST_I64: "I64"
 * @VLM_ST_I32: "I32"
 * @VLM_ST_I16: "I16"
 * @VLM_ST_I8: "I8"
 * @VLM_ST_U8: "U8"
 * @VLM_ST_BOOL: "BOOL"
 *
 * Element types a safetensors file can declare. Only the float ones can be
 * loaded as model weights; the others are recognised so a file holding them
 * (e.g. int64 position_ids) is still valid.
 */
typedef enum {
  VLM_ST_F32,
  VLM_ST_F16,
  VLM_ST_BF16,
  VLM_ST_F64,
  VLM_ST_I64,
  VLM_ST_I32,
  VLM_ST_I16,
  VLM_ST_I8,
  VLM_ST_U8,
  VLM_ST_BOOL,
} VlmStDType;

/**
 * VlmStEntry:
 * @name: tensor name
 * @dtype: element type
 * @ndim: number of dimensions (0 for a scalar)
 * @shape: sizes, outermost first
 * @data: the bytes, inside the mapping (not necessarily aligned)
 * @nbytes: byte length
 *
 * One tensor of a safetensors file.
 */
typedef struct {
  const gchar *name;
  VlmStDType dtype;
  gint ndim;
  gint64 shape[VLM_SAFETENSORS_MAX_DIMS];
  const guint8 *data;
  gsize nbytes;
} VlmStEntry;

/**
 * VlmSafetensors:
 *
 * An opened, validated safetensors file (reference counted). Tensors loaded
 * from it without copying keep it mapped.
 */
typedef struct _VlmSafetensors VlmSafetensors;

VlmSafetensors   *vlm_safetensors_open        (const gchar *path, GError **error);
VlmSafetensors   *vlm_safetensors_ref         (VlmSafetensors *st);
void              vlm_safetensors_unref       (VlmSafetensors *st);
const gchar      *vlm_safetensors_get_path    (VlmSafetensors *st);
guint             vlm_safetensors_n_entries   (VlmSafetensors *st);
const VlmStEntry *vlm_safetensors_entry       (VlmSafetensors *st, guint index);
const VlmStEntry *vlm_safetensors_find        (VlmSafetensors *st, const gchar *name);
const gchar      *vlm_safetensors_metadata    (VlmSafetensors *st, const gchar *key);
const gchar      *vlm_st_dtype_to_string      (VlmStDType dtype);

VlmTensor        *vlm_safetensors_load        (VlmSafetensors *st, const gchar *name,
                                               VlmDevice *device, VlmDType dtype, gint ndim,
                                               const gint64 *shape, GError **error);
VlmTensor        *vlm_safetensors_load_q8     (VlmSafetensors *st, const gchar *name,
                                               VlmDevice *device, gint64 rows, gint64 cols,
                                               VlmTensor **scale, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VlmSafetensors, vlm_safetensors_unref)

G_END_DECLS
