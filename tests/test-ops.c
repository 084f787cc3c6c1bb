/* gst-vlm tests — every engine op on one backend.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   test-ops --backend=cpu      CPU backend against naive references
 *   test-ops --backend=vulkan   Vulkan against the same references and
 *                               against the CPU backend (parity)
 *
 * The Vulkan device is "vulkan" with VLM_VULKAN_ALLOW_CPU=1 (so lavapipe
 * counts), or the spec in VLM_TEST_VULKAN_DEVICE. Without a Vulkan device
 * the run skips, or fails when CI=true. Inputs are seeded per case
 * (VLM_TEST_SEED changes them); figures go to the log as test messages.
 * VLM_TEST_BACKEND=cpu|vulkan works like --backend.
 */
#include <string.h>

#include "test-ops.h"

void
vt_add (const gchar *prefix, const gchar *family, const gchar *name, gconstpointer data,
        GTestDataFunc func)
{
  g_autofree gchar *path = g_strdup_printf ("%s/%s/%s", prefix, family, name);
  g_test_add_data_func (path, data, func);
}

typedef struct {
  GTestDataFunc func;
  gconstpointer data;
} OddCase;

static void
run_odd (gconstpointer data)
{
  const OddCase *o = data;
  vt_set_offsets (3, 21);
  o->func (o->data);
  vt_set_offsets (16, 16);
}

void
vt_add_odd (const gchar *prefix, const gchar *family, const gchar *name, gconstpointer data,
            GTestDataFunc func)
{
  /* the big cases once are enough */
  if (strstr (name, "many-") || strstr (name, "x3072") || strstr (name, "r224"))
    return;
  g_autofree gchar *path = g_strdup_printf ("%s/%s/odd-offset/%s", prefix, family, name);
  OddCase *o = g_new (OddCase, 1);
  o->func = func;
  o->data = data;
  g_test_add_data_func_full (path, o, run_odd, g_free);
}

static void
test_no_device (gconstpointer data)
{
  const gchar *reason = data;
  if (g_strcmp0 (g_getenv ("CI"), "true") == 0)
    g_test_fail_printf ("CI=true and no Vulkan device: %s", reason);
  else
    g_test_skip (reason);
}

static void
test_criticals (gconstpointer data)
{
  g_test_fail_printf ("opening the Vulkan device logged: %s", (const gchar *) data);
}

static void
test_device_info (gconstpointer data)
{
  VlmDevice *dev = vt_device ();
  g_test_message ("device under test: %s (%s)", vlm_device_get_name (dev),
                  vlm_device_get_reason (dev));
  g_test_message ("f16 weights: %s; validation: %s", vlm_device_supports_f16 (dev) ? "yes" : "no",
                  g_getenv ("VLM_VULKAN_VALIDATION") ? g_getenv ("VLM_VULKAN_VALIDATION") : "off");
  if (vt_cpu ())
    g_test_message ("parity reference: %s", vlm_device_get_name (vt_cpu ()));
  g_assert_cmpint (vlm_device_get_backend (dev), ==,
                   GPOINTER_TO_INT (data) ? VLM_BACKEND_VULKAN : VLM_BACKEND_CPU);
}

/* The checks must be able to fail: a write past the output, a write before
 * it and an element left unwritten each fail a case (run in a subprocess);
 * a clean write passes. */
typedef enum {
  SELF_CLEAN,
  SELF_WRITE_AFTER,
  SELF_WRITE_BEFORE,
  SELF_UNWRITTEN,
} SelfTest;

static void
test_self (gconstpointer data)
{
  SelfTest mode = GPOINTER_TO_INT (data);
  if (!g_test_subprocess ()) {
    g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    if (mode == SELF_CLEAN)
      g_test_trap_assert_passed ();
    else
      g_test_trap_assert_failed ();
    return;
  }
  VlmDevice *dev = vt_device ();
  GError *error = NULL;
  const gint64 n = 10;
  gfloat x[12], got[10];
  for (gint i = 0; i < 12; i++)
    x[i] = 0.25f * (gfloat) (i + 1);
  g_autoptr (VtOut) out = vt_out_new (dev, VLM_DTYPE_F32, 1, &n, NULL);
  /* the op writes x[0 …] to [start, start + len) of the guarded allocation */
  gsize start = out->pre - (mode == SELF_WRITE_BEFORE ? 1 : 0);
  gint64 len = mode == SELF_UNWRITTEN ? n - 1 : (mode == SELF_CLEAN ? n : n + 1);
  g_autoptr (VlmTensor) xt = vt_tensor (dev, VLM_DTYPE_F32, 1, &len, x);
  g_autoptr (VlmTensor) dst = vlm_tensor_view (out->base, start, 1, &len, &error);
  g_assert_no_error (error);
  g_assert_true (vt_op_ok ("unary", vlm_op_unary (dst, xt, VLM_ACT_NONE, &error), &error));
  vt_out_read (out, got, "self-test output");
  vt_check_nmse ("self-test", mode == SELF_WRITE_BEFORE ? x + 1 : x, got, n,
                 VT_NMSE_ELEMENTWISE);
}

int
main (int argc, char **argv)
{
  /* --backend=… (kept in the environment for g_test_trap_subprocess()) */
  const gchar *backend = g_getenv ("VLM_TEST_BACKEND");
  gint j = 1;
  for (gint i = 1; i < argc; i++) {
    if (g_str_has_prefix (argv[i], "--backend="))
      backend = argv[i] + strlen ("--backend=");
    else
      argv[j++] = argv[i];
  }
  argc = j;
  argv[argc] = NULL;
  if (!backend)
    backend = "cpu";
  g_setenv ("VLM_TEST_BACKEND", backend, TRUE);
  g_test_init (&argc, &argv, NULL);

  GError *error = NULL;
  gboolean vulkan = strcmp (backend, "vulkan") == 0;
  if (!vulkan && strcmp (backend, "cpu") != 0) {
    g_printerr ("test-ops: unknown backend \"%s\" (cpu or vulkan)\n", backend);
    return 2;
  }

  VlmDevice *dev = NULL, *cpu = NULL;
  if (vulkan) {
    if (!g_getenv ("VLM_VULKAN_ALLOW_CPU"))
      g_setenv ("VLM_VULKAN_ALLOW_CPU", "1", TRUE);
    const gchar *spec = g_getenv ("VLM_TEST_VULKAN_DEVICE");
    /* Without a driver the validation layer reports the loader's failure as
     * a critical: collect those so the run can skip; with a device they
     * fail the run like any other validation message. */
    vt_collect_criticals_begin ();
    dev = vlm_device_open (spec && *spec ? spec : "vulkan", &error);
    gchar *criticals = vt_collect_criticals_end ();
    if (dev && criticals) {
      g_test_add_data_func_full ("/ops/vulkan/device-creation", criticals, test_criticals,
                                 g_free);
    } else if (!dev) {
      gchar *reason = g_strdup_printf ("no Vulkan device: %s%s%s", error->message,
                                       criticals ? "; messages: " : "",
                                       criticals ? criticals : "");
      g_free (criticals);
      g_print ("# ops-vulkan: %s%s\n", reason,
               g_strcmp0 (g_getenv ("CI"), "true") == 0 ? " (CI=true: failing)" : " (skipping)");
      g_clear_error (&error);
      g_test_add_data_func_full ("/ops/vulkan/device", reason, test_no_device, g_free);
      return g_test_run ();
    }
    cpu = vlm_device_open ("cpu", &error);
    g_assert_no_error (error);
  } else {
    dev = vlm_device_open ("cpu", &error);
    g_assert_no_error (error);
  }
  g_print ("# ops-%s: running on %s\n", backend, vlm_device_get_name (dev));
  vt_set_devices (dev, cpu);

  g_autofree gchar *prefix = g_strdup_printf ("/ops/%s", backend);
  g_autofree gchar *info = g_strdup_printf ("%s/device", prefix);
  g_test_add_data_func (info, GINT_TO_POINTER (vulkan), test_device_info);
  const gchar *self_names[] = { "clean", "write-after", "write-before", "unwritten" };
  for (gint i = 0; i < (gint) G_N_ELEMENTS (self_names); i++)
    vt_add (prefix, "self-test", self_names[i], GINT_TO_POINTER (i), test_self);
  vt_register_elementwise (prefix);
  vt_register_norm (prefix);
  vt_register_matmul (prefix);
  vt_register_attention (prefix);
  vt_register_index (prefix);
  vt_register_preprocess (prefix);
  vt_register_chain (prefix);
  vt_register_bad_input (prefix);

  int ret = g_test_run ();
  vt_set_devices (NULL, NULL);
  vlm_device_unref (dev);
  if (cpu)
    vlm_device_unref (cpu);
  return ret;
}
