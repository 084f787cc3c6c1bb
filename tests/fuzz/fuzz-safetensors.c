/* gst-vlm — libFuzzer target: safetensors header validation and loading.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input: a whole .safetensors file. A file that opens must describe only
 * bytes inside it: the entries tile the data section exactly (8 + header
 * length + their sizes = the file size), names resolve to their own entry, and every float entry
 * loads (as F32 and, where the device has it, F16) with its own shape, the
 * F32 copy equal to the stored bytes when they are F32. A file that does not
 * open must be refused with an error naming it.
 */
#include <math.h>

#include "fuzz-util.h"
#include "loaders/vlm-safetensors.h"

static VlmDevice *cpu;

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  g_setenv ("VLM_THREADS", "1", TRUE);
  GError *error = NULL;
  cpu = vlm_device_open ("cpu", &error);
  if (!cpu)
    g_error ("fuzz: no CPU device: %s", error->message);
  return 0;
}

static gboolean
is_float (VlmStDType t)
{
  return t == VLM_ST_F32 || t == VLM_ST_F16 || t == VLM_ST_BF16 || t == VLM_ST_F64;
}

static void
check_entry (VlmSafetensors *st, const VlmStEntry *e, gsize file_size)
{
  g_assert_nonnull (e->name);
  g_assert_true (vlm_safetensors_find (st, e->name) == e);
  g_assert_cmpint (e->ndim, >=, 0);
  g_assert_cmpint (e->ndim, <=, VLM_SAFETENSORS_MAX_DIMS);
  g_assert_cmpuint (e->nbytes, <=, file_size);
  /* The engine's tensors have at most VLM_MAX_DIMS dimensions. */
  if (!is_float (e->dtype) || e->nbytes == 0 || e->ndim > VLM_MAX_DIMS)
    return;

  gint64 one = 1;
  gint ndim = e->ndim ? e->ndim : 1;
  const gint64 *shape = e->ndim ? e->shape : &one;
  GError *error = NULL;
  VlmTensor *t = vlm_safetensors_load (st, e->name, cpu, VLM_DTYPE_F32, ndim, shape, &error);
  if (!t)
    g_error ("fuzz: valid entry \"%s\" does not load: %s", e->name, error->message);
  gint64 n = vlm_tensor_numel (t);
  gfloat *values = g_new (gfloat, n);
  if (!vlm_tensor_download (t, values, (gsize) n * sizeof (gfloat), &error))
    g_error ("fuzz: download of \"%s\": %s", e->name, error->message);
  if (e->dtype == VLM_ST_F32) {
    g_assert_cmpuint ((gsize) n * 4, ==, e->nbytes);
    g_assert_true (memcmp (values, e->data, e->nbytes) == 0);
  }
  g_free (values);
  vlm_tensor_unref (t);

  if (vlm_device_supports_f16 (cpu)) {
    t = vlm_safetensors_load (st, e->name, cpu, VLM_DTYPE_F16, ndim, shape, &error);
    if (!t)
      g_error ("fuzz: valid entry \"%s\" does not load as F16: %s", e->name, error->message);
    vlm_tensor_unref (t);
  }

  /* A wrong shape is refused with the file and the tensor named. */
  gint64 wrong[VLM_MAX_DIMS];
  memcpy (wrong, shape, ndim * sizeof (gint64));
  wrong[0] += 1;
  t = vlm_safetensors_load (st, e->name, cpu, VLM_DTYPE_F32, ndim, wrong, &error);
  g_assert_null (t);
  fuzz_check_refusal (error, vlm_safetensors_get_path (st));
  g_assert_nonnull (strstr (error->message, e->name));
  g_clear_error (&error);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree gchar *path = fuzz_file ("model.safetensors", data, size);
  GError *error = NULL;
  VlmSafetensors *st = vlm_safetensors_open (path, &error);
  if (!st) {
    fuzz_check_refusal (error, path);
    g_error_free (error);
    return 0;
  }
  guint n = vlm_safetensors_n_entries (st);
  gsize total = 0;
  for (guint i = 0; i < n; i++) {
    const VlmStEntry *e = vlm_safetensors_entry (st, i);
    g_assert_nonnull (e);
    total += e->nbytes;
    g_assert_cmpuint (total, <=, size);
    check_entry (st, e, size);
  }
  /* The entries tile the data section exactly: 8 + header + their bytes. */
  guint64 hlen = 0;
  for (gint i = 7; i >= 0; i--)
    hlen = (hlen << 8) | data[i];
  g_assert_cmpuint (8 + hlen + total, ==, size);
  g_assert_null (vlm_safetensors_entry (st, n));
  g_assert_null (vlm_safetensors_find (st, "\x01no such tensor"));
  (void) vlm_safetensors_metadata (st, "format");

  GError *missing = NULL;
  gint64 shape1 = 1;
  g_assert_null (vlm_safetensors_load (st, "\x01no such tensor", cpu, VLM_DTYPE_F32, 1, &shape1,
                                       &missing));
  fuzz_check_refusal (missing, path);
  g_error_free (missing);
  vlm_safetensors_unref (st);
  return 0;
}
