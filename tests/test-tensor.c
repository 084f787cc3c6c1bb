/* gst-vlm tests — tensor API on the CPU backend: half-precision
 * conversion, views, upload/download checks.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <string.h>

#include "vlm-test-util.h"

/* Every half decodes like the test's own decoder and encodes back to itself. */
static void
test_f16_all_halves (void)
{
  gsize bad_decode = 0, bad_round_trip = 0;
  for (guint32 h = 0; h < 65536; h++) {
    guint16 hh = (guint16) h, back;
    gfloat f, mine = vt_f16_decode (hh);
    vlm_f16_to_f32 (&f, &hh, 1);
    if (isnan (mine) ? !isnan (f) : memcmp (&f, &mine, 4) != 0)
      bad_decode++;
    vlm_f32_to_f16 (&back, &mine, 1);
    if (isnan (mine) ? !isnan (vt_f16_decode (back)) : back != hh)
      bad_round_trip++;
  }
  g_assert_cmpuint (bad_decode, ==, 0);
  g_assert_cmpuint (bad_round_trip, ==, 0);
}

/* f32 → f16 picks the nearest half, ties to even, overflow to inf. */
static void
test_f16_rounding (void)
{
  VtRng rng;
  vt_rng_init (&rng, "f16-rounding");
  gsize bad = 0;
  for (gint i = 0; i < 200000; i++) {
    /* magnitudes from 2^-26 to 2^17: subnormals, normals and overflow */
    gfloat f = (gfloat) ldexp (vt_rng_double (&rng) + 0.5, vt_rng_int (&rng, -26, 16));
    if (vt_rng_u32 (&rng) & 1)
      f = -f;
    guint16 h;
    vlm_f32_to_f16 (&h, &f, 1);
    gfloat r = vt_f16_decode (h);
    if (fabsf (f) >= 65520.0f) {
      bad += !isinf (r) || (r > 0) != (f > 0);
      continue;
    }
    double err = fabs ((double) f - r);
    /* the neighbours of h must not be closer; a tie must land on even */
    for (gint d = -1; d <= 1; d += 2) {
      guint16 n = (guint16) (h + d);
      if (((n ^ h) & 0x8000) || ((n & 0x7c00) == 0x7c00))
        continue;
      double en = fabs ((double) f - vt_f16_decode (n));
      if (en < err || (en == err && (h & 1)))
        bad++;
    }
  }
  g_assert_cmpuint (bad, ==, 0);
  const gfloat cases[] = { 65504.0f, 65519.0f, 65520.0f, 5.9604645e-08f, 2.9802322e-08f,
                           8.940697e-08f, 0.0f, -0.0f };
  const guint16 expect[] = { 0x7bff, 0x7bff, 0x7c00, 0x0001, 0x0000, 0x0002, 0x0000, 0x8000 };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    guint16 h;
    vlm_f32_to_f16 (&h, &cases[i], 1);
    g_assert_cmphex (h, ==, expect[i]);
  }
}

static void
test_views (void)
{
  GError *error = NULL;
  g_autoptr (VlmDevice) dev = vlm_device_open ("cpu", &error);
  g_assert_no_error (error);
  const gint64 shape[2] = { 4, 6 };
  gfloat data[24];
  for (gint i = 0; i < 24; i++)
    data[i] = (gfloat) i;
  g_autoptr (VlmTensor) t = vt_tensor (dev, VLM_DTYPE_F32, 2, shape, data);
  g_assert_cmpint (vlm_tensor_numel (t), ==, 24);
  g_assert_cmpint (vlm_tensor_rows (t), ==, 4);
  g_autofree gchar *s = vlm_tensor_shape_string (t);
  g_assert_cmpstr (s, ==, "[4, 6] f32");

  /* a slice sees the base's elements and writes through to it */
  const gint64 vs[1] = { 5 };
  g_autoptr (VlmTensor) v = vlm_tensor_view (t, 7, 1, vs, &error);
  g_assert_no_error (error);
  gfloat got[5];
  g_assert_true (vlm_tensor_download (v, got, sizeof got, &error));
  g_assert_no_error (error);
  for (gint i = 0; i < 5; i++)
    g_assert_cmpfloat (got[i], ==, (gfloat) (7 + i));
  const gfloat ones[5] = { -1, -1, -1, -1, -1 };
  g_assert_true (vlm_tensor_upload (v, ones, sizeof ones, &error));
  gfloat all[24];
  g_assert_true (vlm_tensor_download (t, all, sizeof all, &error));
  for (gint i = 0; i < 24; i++)
    g_assert_cmpfloat (all[i], ==, i >= 7 && i < 12 ? -1.0f : (gfloat) i);

  /* out of bounds and bad shapes are refused */
  const gint64 too_long[1] = { 18 };
  g_assert_null (vlm_tensor_view (t, 7, 1, too_long, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (vlm_tensor_view (t, 25, 1, vs, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  const gint64 zero[2] = { 4, 0 };
  g_assert_null (vlm_tensor_new (dev, VLM_DTYPE_F32, 2, zero, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  const gint64 five[5] = { 1, 1, 1, 1, 1 };
  g_assert_null (vlm_tensor_new (dev, VLM_DTYPE_F32, 5, five, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* upload/download sizes must match */
  g_assert_false (vlm_tensor_upload (t, data, sizeof data - 4, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (vlm_tensor_download (t, all, sizeof all + 4, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
}

static void
count_notify (gpointer data)
{
  (*(gint *) data)++;
}

/* new_from_data: the CPU keeps the data (views included) until the last
 * reference goes, then calls notify once; a bad shape calls it at once. */
static void
test_from_data (void)
{
  GError *error = NULL;
  g_autoptr (VlmDevice) dev = vlm_device_open ("cpu", &error);
  g_assert_no_error (error);
  gfloat data[12];
  for (gint i = 0; i < 12; i++)
    data[i] = (gfloat) i * 0.5f;
  gint calls = 0;
  const gint64 shape[2] = { 3, 4 };
  VlmTensor *t = vlm_tensor_new_from_data (dev, VLM_DTYPE_F32, 2, shape, data, count_notify,
                                           &calls, &error);
  g_assert_no_error (error);
  const gint64 row[1] = { 4 };
  VlmTensor *v = vlm_tensor_view (t, 8, 1, row, &error);
  g_assert_no_error (error);
  vlm_tensor_unref (t);
  g_assert_cmpint (calls, ==, 0);
  gfloat got[4];
  g_assert_true (vlm_tensor_download (v, got, sizeof got, &error));
  g_assert_cmpmem (got, sizeof got, data + 8, sizeof got);
  vlm_tensor_unref (v);
  g_assert_cmpint (calls, ==, 1);

  const gint64 bad[2] = { 3, -4 };
  g_assert_null (vlm_tensor_new_from_data (dev, VLM_DTYPE_F32, 2, bad, data, count_notify,
                                           &calls, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_cmpint (calls, ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tensor/f16/all-halves", test_f16_all_halves);
  g_test_add_func ("/tensor/f16/rounding", test_f16_rounding);
  g_test_add_func ("/tensor/views", test_views);
  g_test_add_func ("/tensor/from-data", test_from_data);
  return g_test_run ();
}
