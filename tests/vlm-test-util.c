/* gst-vlm tests — shared helpers: seeded inputs, guarded outputs, NMSE.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vlm-test-util.h"

/* ---- random numbers ---------------------------------------------------- */

/**
 * vt_rng_init:
 * @rng: generator to seed
 * @name: a name for the stream (usually the case name), so each case gets
 *   its own inputs, the same on every backend and every run
 *
 * Seeds from @name mixed with VLM_TEST_SEED (a number; default 0) so a run
 * can be repeated with other inputs.
 */
void
vt_rng_init (VtRng *rng, const gchar *name)
{
  guint64 h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (const guchar *p = (const guchar *) name; *p; p++) {
    h ^= *p;
    h *= 0x100000001b3ull;
  }
  const gchar *env = g_getenv ("VLM_TEST_SEED");
  if (env && *env)
    h ^= g_ascii_strtoull (env, NULL, 0) * 0x9e3779b97f4a7c15ull;
  rng->state = h ? h : 0x2545f4914f6cdd1dull;
}

static guint64
rng_next (VtRng *rng)
{
  guint64 x = rng->state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng->state = x;
  return x * 0x2545f4914f6cdd1dull;
}

guint32
vt_rng_u32 (VtRng *rng)
{
  return (guint32) (rng_next (rng) >> 32);
}

/* Uniform in [0, 1). */
double
vt_rng_double (VtRng *rng)
{
  return (double) (rng_next (rng) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [lo, hi]. */
gint
vt_rng_int (VtRng *rng, gint lo, gint hi)
{
  return lo + (gint) (vt_rng_double (rng) * (double) (hi - lo + 1));
}

/* A new array of @n floats uniform in [lo, hi). */
gfloat *
vt_uniform (VtRng *rng, gsize n, gfloat lo, gfloat hi)
{
  gfloat *a = g_new (gfloat, MAX (n, 1));
  for (gsize i = 0; i < n; i++)
    a[i] = (gfloat) (lo + (hi - lo) * vt_rng_double (rng));
  return a;
}

guint8 *
vt_random_bytes (VtRng *rng, gsize n)
{
  guint8 *a = g_new (guint8, MAX (n, 1));
  for (gsize i = 0; i < n; i++)
    a[i] = (guint8) (vt_rng_u32 (rng) >> 24);
  return a;
}

/* ---- half precision ---------------------------------------------------- */

gfloat
vt_f16_decode (guint16 h)
{
  gint sign = (h >> 15) & 1;
  gint exp = (h >> 10) & 0x1f;
  gint mant = h & 0x3ff;
  gfloat v;
  if (exp == 0)
    v = ldexpf ((gfloat) mant, -24);
  else if (exp == 31)
    v = mant ? NAN : INFINITY;
  else
    v = ldexpf ((gfloat) (mant + 1024), exp - 25);
  return sign ? -v : v;
}

void
vt_to_f16 (const gfloat *src, gsize n, guint16 *halves, gfloat *rounded)
{
  guint16 *h = halves ? halves : g_new (guint16, MAX (n, 1));
  vlm_f32_to_f16 (h, src, n);
  if (rounded)
    for (gsize i = 0; i < n; i++)
      rounded[i] = vt_f16_decode (h[i]);
  if (!halves)
    g_free (h);
}

/* ---- devices ----------------------------------------------------------- */

static VlmDevice *device_under_test;
static VlmDevice *cpu_device;

void
vt_set_devices (VlmDevice *device, VlmDevice *cpu)
{
  device_under_test = device;
  cpu_device = cpu;
}

VlmDevice *
vt_device (void)
{
  return device_under_test;
}

VlmDevice *
vt_cpu (void)
{
  return cpu_device;
}

gboolean
vt_is_vulkan (void)
{
  return device_under_test && vlm_device_get_backend (device_under_test) == VLM_BACKEND_VULKAN;
}

static GString *collected;
static GLogLevelFlags saved_fatal;
static GLogFunc saved_handler;
static gpointer saved_handler_data;

static void
collect_log (const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
  if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    g_string_append_printf (collected, "%s%s", collected->len ? "; " : "", message);
  else
    saved_handler (domain, level, message, saved_handler_data);
}

void
vt_collect_criticals_begin (void)
{
  g_assert_null (collected);
  collected = g_string_new (NULL);
  saved_fatal = g_log_set_always_fatal (G_LOG_FATAL_MASK);
  saved_handler = g_log_set_default_handler (collect_log, NULL);
  saved_handler_data = NULL;
}

gchar *
vt_collect_criticals_end (void)
{
  g_log_set_default_handler (saved_handler, saved_handler_data);
  g_log_set_always_fatal (saved_fatal);
  GString *s = g_steal_pointer (&collected);
  if (s->len == 0) {
    g_string_free (s, TRUE);
    return NULL;
  }
  return g_string_free (s, FALSE);
}

/* ---- tensors ----------------------------------------------------------- */

gint64
vt_numel (gint ndim, const gint64 *shape)
{
  gint64 n = 1;
  for (gint i = 0; i < ndim; i++)
    n *= shape[i];
  return n;
}

gchar *
vt_shape_name (gint ndim, const gint64 *shape)
{
  GString *s = g_string_new (NULL);
  for (gint i = 0; i < ndim; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? "x" : "", shape[i]);
  return g_string_free (s, FALSE);
}

/* Where inputs and outputs sit inside their guarded allocations, in
 * elements: 16 keeps 4-byte views 64-byte aligned; the odd-offset variants
 * move them off every alignment. */
static gsize input_offset = 16;
static gsize output_offset = 16;

#define GUARD_POST 256

void
vt_set_offsets (gsize input, gsize output)
{
  input_offset = input;
  output_offset = output;
}

static void
fill_sentinel (guint8 *dst, gsize n, gsize esize)
{
  static const guint32 s32 = 0x7fc0beefu; /* a quiet NaN as f32 */
  static const guint16 s16 = 0x7e5au;     /* a quiet NaN as f16 */
  for (gsize i = 0; i < n; i++) {
    if (esize == 4)
      memcpy (dst + 4 * i, &s32, 4);
    else if (esize == 2)
      memcpy (dst + 2 * i, &s16, 2);
    else
      dst[i] = 0xa5;
  }
}

/* A tensor of exactly @shape holding @data (asserts on failure). */
static VlmTensor *
plain_tensor (VlmDevice *device, VlmDType dtype, gint ndim, const gint64 *shape,
              gconstpointer data)
{
  GError *error = NULL;
  VlmTensor *t = vlm_tensor_new (device, dtype, ndim, shape, &error);
  g_assert_no_error (error);
  g_assert_nonnull (t);
  vlm_tensor_upload (t, data, t->nbytes, &error);
  g_assert_no_error (error);
  return t;
}

VlmTensor *
vt_tensor (VlmDevice *device, VlmDType dtype, gint ndim, const gint64 *shape, gconstpointer data)
{
  GError *error = NULL;
  gsize esize = vlm_dtype_size (dtype), n = (gsize) vt_numel (ndim, shape);
  gint64 total = (gint64) (input_offset + n + GUARD_POST);
  guint8 *host = g_malloc (total * esize);
  fill_sentinel (host, total, esize);
  memcpy (host + input_offset * esize, data, n * esize);
  g_autoptr (VlmTensor) base = plain_tensor (device, dtype, 1, &total, host);
  g_free (host);
  VlmTensor *t = vlm_tensor_view (base, input_offset, ndim, shape, &error);
  g_assert_no_error (error);
  return t;
}

VtOut *
vt_out_new (VlmDevice *device, VlmDType dtype, gint ndim, const gint64 *shape, gconstpointer init)
{
  GError *error = NULL;
  VtOut *o = g_new0 (VtOut, 1);
  gsize esize = vlm_dtype_size (dtype);
  o->dtype = dtype;
  o->n = (gsize) vt_numel (ndim, shape);
  o->pre = output_offset;
  o->post = GUARD_POST;
  gint64 total = (gint64) (o->pre + o->n + o->post);
  guint8 *host = g_malloc (total * esize);
  fill_sentinel (host, total, esize);
  if (init)
    memcpy (host + o->pre * esize, init, o->n * esize);
  o->base = plain_tensor (device, dtype, 1, &total, host);
  g_free (host);
  o->t = vlm_tensor_view (o->base, o->pre, ndim, shape, &error);
  g_assert_no_error (error);
  return o;
}

gboolean
vt_out_read (VtOut *o, gpointer dst, const gchar *what)
{
  GError *error = NULL;
  gsize esize = vlm_dtype_size (o->dtype);
  gsize total = o->pre + o->n + o->post;
  guint8 *host = g_malloc (total * esize);
  guint8 *expect = g_malloc (total * esize);
  if (!vlm_tensor_download (o->base, host, total * esize, &error)) {
    g_test_fail_printf ("%s: download failed: %s", what, error->message);
    g_clear_error (&error);
    g_free (host);
    g_free (expect);
    return FALSE;
  }
  fill_sentinel (expect, total, esize);
  gsize bad = 0;
  gssize first = 0;
  for (gsize i = 0; i < total; i++) {
    if (i == o->pre)
      i += o->n;
    if (i >= total)
      break;
    if (memcmp (host + i * esize, expect + i * esize, esize) != 0) {
      if (bad++ == 0)
        first = i < o->pre ? (gssize) i - (gssize) o->pre : (gssize) (i - o->pre - o->n);
    }
  }
  gboolean ok = bad == 0;
  if (!ok)
    g_test_fail_printf ("%s: %" G_GSIZE_FORMAT " guard elements overwritten (first %s the "
                        "output by %" G_GSSIZE_FORMAT ")", what, bad,
                        first < 0 ? "before" : "after", first < 0 ? -first : first + 1);
  memcpy (dst, host + o->pre * esize, o->n * esize);
  g_free (host);
  g_free (expect);
  return ok;
}

void
vt_out_free (VtOut *o)
{
  if (!o)
    return;
  vlm_tensor_unref (o->t);
  vlm_tensor_unref (o->base);
  g_free (o);
}

gboolean
vt_op_ok (const gchar *what, gboolean ok, GError **error)
{
  if (!ok)
    g_test_fail_printf ("%s failed: %s", what, error && *error ? (*error)->message
                        : "(no error set)");
  else if (error && *error)
    g_test_fail_printf ("%s succeeded but set an error: %s", what, (*error)->message);
  if (error)
    g_clear_error (error);
  return ok;
}

gboolean
vt_need_f16 (VlmDevice *device)
{
  if (vlm_device_supports_f16 (device))
    return TRUE;
  if (vlm_device_get_backend (device) == VLM_BACKEND_CPU) {
    g_test_fail_printf ("%s: the CPU backend must take f16 weights", vlm_device_get_name (device));
  } else {
    g_autofree gchar *why = g_strdup_printf ("%s has no f16 support", vlm_device_get_name (device));
    g_print ("# %s: skipped, %s\n", g_test_get_path (), why);
    g_test_skip (why);
  }
  return FALSE;
}

/* ---- reference math ------------------------------------------------------ */

double
vt_ref_act (VlmActivation act, double x)
{
  switch (act) {
    case VLM_ACT_NONE:
      return x;
    case VLM_ACT_GELU_ERF:
      return 0.5 * x * (1.0 + erf (x / sqrt (2.0)));
    case VLM_ACT_GELU_TANH:
      return 0.5 * x * (1.0 + tanh (sqrt (2.0 / G_PI) * (x + 0.044715 * x * x * x)));
    case VLM_ACT_QUICK_GELU:
      return x / (1.0 + exp (-1.702 * x));
  }
  g_assert_not_reached ();
}

/* ---- comparisons ------------------------------------------------------- */

double
vt_nmse (const gfloat *ref, const gfloat *got, gsize n)
{
  double num = 0.0, den = 0.0;
  for (gsize i = 0; i < n; i++) {
    double d = (double) ref[i] - (double) got[i];
    num += d * d;
    den += (double) ref[i] * (double) ref[i];
  }
  if (den == 0.0)
    return num == 0.0 ? 0.0 : INFINITY;
  return num / den;
}

gboolean
vt_check_finite (const gchar *what, const gfloat *got, gsize n)
{
  for (gsize i = 0; i < n; i++) {
    if (!isfinite (got[i])) {
      g_test_fail_printf ("%s: element %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " is %g", what,
                          i, n, got[i]);
      return FALSE;
    }
  }
  return TRUE;
}

gboolean
vt_check_nmse (const gchar *what, const gfloat *ref, const gfloat *got, gsize n, double limit)
{
  for (gsize i = 0; i < n; i++) {
    if (!isfinite (ref[i])) {
      g_test_fail_printf ("%s: reference element %" G_GSIZE_FORMAT " is %g (test bug)", what, i,
                          ref[i]);
      return FALSE;
    }
  }
  if (!vt_check_finite (what, got, n))
    return FALSE;
  double nmse = vt_nmse (ref, got, n);
  double worst = 0.0;
  gsize at = 0;
  for (gsize i = 0; i < n; i++) {
    double d = fabs ((double) ref[i] - (double) got[i]);
    if (d > worst) {
      worst = d;
      at = i;
    }
  }
  g_test_message ("%s: NMSE %.3g (limit %.0e), max |diff| %.3g at %" G_GSIZE_FORMAT
                  " (ref %.9g, got %.9g) of %" G_GSIZE_FORMAT, what, nmse, limit, worst, at,
                  n ? ref[at] : 0.0f, n ? got[at] : 0.0f, n);
  if (!(nmse <= limit)) {
    g_test_fail_printf ("%s: NMSE %.3g above %.0e (max |diff| %.3g at %" G_GSIZE_FORMAT
                        ": ref %.9g, got %.9g)", what, nmse, limit, worst, at, ref[at], got[at]);
    return FALSE;
  }
  return TRUE;
}

gboolean
vt_check_exact_f32 (const gchar *what, const gfloat *ref, const gfloat *got, gsize n)
{
  gsize bad = 0, first = 0;
  for (gsize i = 0; i < n; i++) {
    gboolean same = (isnan (ref[i]) && isnan (got[i])) || memcmp (&ref[i], &got[i], 4) == 0;
    if (!same && bad++ == 0)
      first = i;
  }
  g_test_message ("%s: %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " values differ", what, bad, n);
  if (bad) {
    g_test_fail_printf ("%s: %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " values differ; first at %"
                        G_GSIZE_FORMAT ": expected %.9g, got %.9g", what, bad, n, first,
                        ref[first], got[first]);
    return FALSE;
  }
  return TRUE;
}

gboolean
vt_check_exact_i32 (const gchar *what, const gint32 *ref, const gint32 *got, gsize n)
{
  gsize bad = 0, first = 0;
  for (gsize i = 0; i < n; i++)
    if (ref[i] != got[i] && bad++ == 0)
      first = i;
  g_test_message ("%s: %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " values differ", what, bad, n);
  if (bad) {
    g_test_fail_printf ("%s: %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " values differ; first at %"
                        G_GSIZE_FORMAT ": expected %d, got %d", what, bad, n, first, ref[first],
                        got[first]);
    return FALSE;
  }
  return TRUE;
}

void
vt_refused_code (const gchar *what, gboolean ok, GError **error, gint code)
{
  if (ok) {
    g_test_fail_printf ("%s: accepted", what);
  } else if (!error || !*error) {
    g_test_fail_printf ("%s: refused without a GError", what);
  } else if (!g_error_matches (*error, VLM_ERROR, code)) {
    g_test_fail_printf ("%s: refused with error %s:%d (%s), expected code %d", what,
                        g_quark_to_string ((*error)->domain), (*error)->code, (*error)->message,
                        code);
  } else {
    g_test_message ("%s: refused: %s", what, (*error)->message);
  }
  if (error)
    g_clear_error (error);
}

void
vt_refused (const gchar *what, gboolean ok, GError **error)
{
  vt_refused_code (what, ok, error, VLM_ERROR_INVALID_ARGUMENT);
}
