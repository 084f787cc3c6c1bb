/* gst-vlm tests — device selection and the Vulkan device listing.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Vulkan cases need a Vulkan device (lavapipe on a machine without a GPU):
 * without one they skip, or fail when CI=true.
 */
#include <string.h>

#include "vlm-test-util.h"

static void
clear_env (void)
{
  g_unsetenv ("VLM_DEVICE");
  g_unsetenv ("VLM_VULKAN_ALLOW_CPU");
  g_unsetenv ("VLM_VULKAN_NO_FP16");
  g_unsetenv ("VLM_THREADS");
}

/* Skips (or fails under CI=true) with @why; always returns FALSE. */
static gboolean
no_vulkan (const gchar *why)
{
#ifndef VLM_HAVE_VULKAN
  g_print ("# %s: skipped, built without the Vulkan backend\n", g_test_get_path ());
  g_test_skip ("built without the Vulkan backend");
#else
  if (g_strcmp0 (g_getenv ("CI"), "true") == 0) {
    g_test_fail_printf ("CI=true and %s", why);
  } else {
    g_print ("# %s: skipped, %s\n", g_test_get_path (), why);
    g_test_skip (why);
  }
#endif
  return FALSE;
}

static GArray *
list_devices (void)
{
  GError *error = NULL;
  GArray *devs = NULL;
  if (!vlm_vulkan_list_devices (&devs, &error)) {
    g_test_message ("vlm_vulkan_list_devices: %s", error->message);
    g_clear_error (&error);
    return NULL;
  }
  g_assert_nonnull (devs);
  g_assert_cmpuint (g_array_get_element_size (devs), ==, sizeof (VlmVulkanDeviceInfo));
  return devs;
}

static gboolean
is_gpu (VlmDeviceType t)
{
  return t == VLM_DEVICE_TYPE_DISCRETE_GPU || t == VLM_DEVICE_TYPE_INTEGRATED_GPU ||
      t == VLM_DEVICE_TYPE_VIRTUAL_GPU;
}

/* The lavapipe entry (a CPU-type device named llvmpipe), if listed. */
static gboolean
find_lavapipe (VlmVulkanDeviceInfo *info)
{
  g_autoptr (GArray) devs = list_devices ();
  if (!devs)
    return no_vulkan ("the Vulkan device listing failed");
  for (guint i = 0; i < devs->len; i++) {
    VlmVulkanDeviceInfo *d = &g_array_index (devs, VlmVulkanDeviceInfo, i);
    if (d->type == VLM_DEVICE_TYPE_CPU && strstr (d->name, "llvmpipe")) {
      *info = *d;
      return TRUE;
    }
  }
  return no_vulkan ("no lavapipe (llvmpipe) Vulkan device is listed");
}

static gboolean
any_gpu (void)
{
  g_autoptr (GArray) devs = list_devices ();
  if (!devs)
    return FALSE;
  for (guint i = 0; i < devs->len; i++)
    if (is_gpu (g_array_index (devs, VlmVulkanDeviceInfo, i).type))
      return TRUE;
  return FALSE;
}

static void
expect_open_error (const gchar *spec, gint code, const gchar *mention)
{
  GError *error = NULL;
  VlmDevice *dev = vlm_device_open (spec, &error);
  if (dev) {
    g_test_fail_printf ("\"%s\" opened %s", spec ? spec : "(NULL: auto)",
                        vlm_device_get_name (dev));
    vlm_device_unref (dev);
    return;
  }
  g_assert_nonnull (error);
  g_test_message ("\"%s\": %s", spec ? spec : "(NULL: auto)", error->message);
  g_assert_true (error->domain == VLM_ERROR);
  if (code >= 0)
    g_assert_cmpint (error->code, ==, code);
  if (mention && !strstr (error->message, mention))
    g_test_fail_printf ("the error for \"%s\" does not mention \"%s\": %s",
                        spec ? spec : "(NULL: auto)", mention, error->message);
  g_clear_error (&error);
}

static void
test_bad_specs (void)
{
  clear_env ();
  expect_open_error ("bogus", VLM_ERROR_INVALID_ARGUMENT, "bogus");
  expect_open_error ("vulkan:x", VLM_ERROR_INVALID_ARGUMENT, "vulkan:x");
  expect_open_error ("vulkan:", VLM_ERROR_INVALID_ARGUMENT, "vulkan:");
  expect_open_error ("vulkan:-1", VLM_ERROR_INVALID_ARGUMENT, "vulkan:-1");
  expect_open_error ("vulkan:1x", VLM_ERROR_INVALID_ARGUMENT, "vulkan:1x");
  expect_open_error ("vulkan:99999999999", VLM_ERROR_INVALID_ARGUMENT, NULL);
  expect_open_error ("cpu:0", VLM_ERROR_INVALID_ARGUMENT, "cpu:0");
}

static void
test_vulkan_999 (void)
{
  clear_env ();
  /* a device error naming the index (or, when Vulkan itself is missing,
   * one saying so) */
  g_autoptr (GArray) devs = list_devices ();
  expect_open_error ("vulkan:999", -1, devs ? "999" : NULL);
}

static void
check_cpu_device (VlmDevice *dev)
{
  GError *error = NULL;
  g_assert_nonnull (dev);
  g_assert_cmpint (vlm_device_get_backend (dev), ==, VLM_BACKEND_CPU);
  g_assert_nonnull (vlm_device_get_name (dev));
  g_assert_cmpstr (vlm_device_get_name (dev), !=, "");
  g_assert_cmpuint (vlm_device_get_n_threads (dev), >=, 1);
  g_assert_true (vlm_device_supports_f16 (dev));
  g_assert_true (vlm_device_sync (dev, &error));
  g_assert_no_error (error);
}

static void
test_cpu (void)
{
  GError *error = NULL;
  clear_env ();
  VlmDevice *dev = vlm_device_open ("cpu", &error);
  g_assert_no_error (error);
  check_cpu_device (dev);
  g_test_message ("cpu: %s (%s)", vlm_device_get_name (dev), vlm_device_get_reason (dev));
  g_print ("# cpu device: %s\n", vlm_device_get_name (dev));
  g_assert_true (vlm_device_ref (dev) == dev);
  vlm_device_unref (dev);
  vlm_device_unref (dev);

  g_setenv ("VLM_THREADS", "3", TRUE);
  dev = vlm_device_open ("CPU", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (vlm_device_get_n_threads (dev), ==, 3);
  vlm_device_unref (dev);
  clear_env ();
}

static void
test_auto (void)
{
  GError *error = NULL;
  clear_env ();
  gboolean gpu = any_gpu ();
  /* CPU-type Vulkan devices never count for auto, even when allowed for
   * "vulkan". */
  g_setenv ("VLM_VULKAN_ALLOW_CPU", "1", TRUE);
  const gchar *specs[] = { "auto", "AUTO", "", NULL };
  for (guint i = 0; i < G_N_ELEMENTS (specs); i++) {
    VlmDevice *dev = vlm_device_open (specs[i], &error);
    g_assert_no_error (error);
    g_test_message ("auto (%s): %s (%s)", specs[i] ? specs[i] : "NULL",
                    vlm_device_get_name (dev), vlm_device_get_reason (dev));
    g_assert_cmpint (vlm_device_get_backend (dev), ==,
                     gpu ? VLM_BACKEND_VULKAN : VLM_BACKEND_CPU);
    g_assert_nonnull (strstr (vlm_device_get_reason (dev), "auto"));
    vlm_device_unref (dev);
  }
  clear_env ();
}

static void
test_env_override (void)
{
  GError *error = NULL;
  clear_env ();
  g_setenv ("VLM_DEVICE", "cpu", TRUE);
  VlmDevice *dev = vlm_device_open ("auto", &error);
  g_assert_no_error (error);
  g_assert_cmpint (vlm_device_get_backend (dev), ==, VLM_BACKEND_CPU);
  g_assert_nonnull (strstr (vlm_device_get_reason (dev), "VLM_DEVICE"));
  vlm_device_unref (dev);

  g_setenv ("VLM_DEVICE", "bogus", TRUE);
  expect_open_error (NULL, VLM_ERROR_INVALID_ARGUMENT, "bogus");
  expect_open_error ("auto", VLM_ERROR_INVALID_ARGUMENT, "bogus");
  /* an explicit choice is never replaced */
  dev = vlm_device_open ("cpu", &error);
  g_assert_no_error (error);
  g_assert_cmpint (vlm_device_get_backend (dev), ==, VLM_BACKEND_CPU);
  vlm_device_unref (dev);

  VlmVulkanDeviceInfo info;
  if (find_lavapipe (&info)) {
    g_autofree gchar *spec = g_strdup_printf ("vulkan:%u", info.index);
    g_setenv ("VLM_DEVICE", spec, TRUE);
    dev = vlm_device_open ("auto", &error);
    g_assert_no_error (error);
    g_test_message ("VLM_DEVICE=%s: %s (%s)", spec, vlm_device_get_name (dev),
                    vlm_device_get_reason (dev));
    g_assert_cmpint (vlm_device_get_backend (dev), ==, VLM_BACKEND_VULKAN);
    vlm_device_unref (dev);
    dev = vlm_device_open ("cpu", &error);
    g_assert_no_error (error);
    g_assert_cmpint (vlm_device_get_backend (dev), ==, VLM_BACKEND_CPU);
    vlm_device_unref (dev);
  }
  clear_env ();
}

static void
test_list (void)
{
  clear_env ();
  g_autoptr (GArray) devs = list_devices ();
  if (!devs) {
    no_vulkan ("the Vulkan device listing failed");
    return;
  }
  for (guint i = 0; i < devs->len; i++) {
    VlmVulkanDeviceInfo *d = &g_array_index (devs, VlmVulkanDeviceInfo, i);
    g_autofree gchar *line =
        g_strdup_printf ("vulkan:%u %s [%s] api %u.%u driver \"%s\" fp16 %s subgroup %u "
                         "shared %" G_GUINT64_FORMAT " invocations %u", d->index, d->name,
                         vlm_device_type_to_string (d->type), d->api_version >> 22,
                         (d->api_version >> 12) & 0x3ff, d->driver, d->fp16 ? "yes" : "no",
                         d->subgroup_size, d->shared_memory, d->max_workgroup_invocations);
    g_print ("# %s\n", line);
    g_assert_cmpuint (d->index, <, devs->len);
    for (guint j = 0; j < i; j++)
      g_assert_cmpuint (g_array_index (devs, VlmVulkanDeviceInfo, j).index, !=, d->index);
    g_assert_cmpuint (strlen (d->name), >, 0);
    g_assert_cmpuint (d->subgroup_size, >, 0);
    g_assert_true ((d->subgroup_size & (d->subgroup_size - 1)) == 0);
    g_assert_cmpuint (d->shared_memory, >=, 16384);          /* Vulkan minimum */
    g_assert_cmpuint (d->max_workgroup_invocations, >=, 128);
    g_assert_cmpuint (d->max_storage_buffer_range, >=, 1u << 27);
    g_assert_cmpuint (d->api_version >> 22, >=, 1);
  }
  VlmVulkanDeviceInfo lvp;
  if (!find_lavapipe (&lvp))
    return;
  g_assert_cmpstr (vlm_device_type_to_string (lvp.type), ==, "cpu");
  g_assert_true (lvp.fp16);
  g_assert_cmpuint (lvp.subgroup_size, >=, 4);
  g_assert_cmpuint (lvp.shared_memory, >=, 32768);
  g_assert_true (lvp.unified_memory);
  g_assert_cmpuint (strlen (lvp.driver), >, 0);
}

static void
check_vulkan_device (VlmDevice *dev, const VlmVulkanDeviceInfo *info)
{
  GError *error = NULL;
  g_assert_cmpint (vlm_device_get_backend (dev), ==, VLM_BACKEND_VULKAN);
  g_assert_nonnull (strstr (vlm_device_get_name (dev), info->name));
  g_assert_cmpuint (vlm_device_get_n_threads (dev), ==, 0);
  g_assert_true (vlm_device_sync (dev, &error));
  g_assert_no_error (error);
  g_test_message ("%s (%s)", vlm_device_get_name (dev), vlm_device_get_reason (dev));
  g_print ("# vulkan device: %s\n", vlm_device_get_name (dev));
}

static void
test_vulkan_index (void)
{
  GError *error = NULL;
  clear_env ();
  VlmVulkanDeviceInfo info;
  if (!find_lavapipe (&info))
    return;
  g_autofree gchar *spec = g_strdup_printf ("vulkan:%u", info.index);
  VlmDevice *dev = vlm_device_open (spec, &error);
  g_assert_no_error (error);
  check_vulkan_device (dev, &info);
  g_assert_cmpint (vlm_device_supports_f16 (dev), ==, info.fp16);
  vlm_device_unref (dev);
}

static void
test_vulkan_plain (void)
{
  GError *error = NULL;
  clear_env ();
  VlmVulkanDeviceInfo info;
  if (!find_lavapipe (&info))
    return;
  if (!any_gpu ()) {
    /* lavapipe is only chosen when asked for */
    expect_open_error ("vulkan", VLM_ERROR_DEVICE, "VLM_VULKAN_ALLOW_CPU");
    g_setenv ("VLM_VULKAN_ALLOW_CPU", "1", TRUE);
    VlmDevice *dev = vlm_device_open ("vulkan", &error);
    g_assert_no_error (error);
    check_vulkan_device (dev, &info);
    vlm_device_unref (dev);
  } else {
    VlmDevice *dev = vlm_device_open ("vulkan", &error);
    g_assert_no_error (error);
    g_assert_cmpint (vlm_device_get_backend (dev), ==, VLM_BACKEND_VULKAN);
    vlm_device_unref (dev);
  }
  clear_env ();
}

static void
test_vulkan_no_fp16 (void)
{
  GError *error = NULL;
  clear_env ();
  VlmVulkanDeviceInfo info;
  if (!find_lavapipe (&info))
    return;
  g_autofree gchar *spec = g_strdup_printf ("vulkan:%u", info.index);
  g_setenv ("VLM_VULKAN_NO_FP16", "1", TRUE);
  VlmDevice *dev = vlm_device_open (spec, &error);
  g_assert_no_error (error);
  g_assert_false (vlm_device_supports_f16 (dev));
  const gint64 ws[2] = { 4, 8 }, xs[2] = { 2, 8 }, ys[2] = { 2, 4 };
  VlmTensor *w = vlm_tensor_new (dev, VLM_DTYPE_F16, 2, ws, &error);
  g_assert_no_error (error);
  VlmTensor *x = vlm_tensor_new (dev, VLM_DTYPE_F32, 2, xs, &error);
  VlmTensor *y = vlm_tensor_new (dev, VLM_DTYPE_F32, 2, ys, &error);
  vt_refused ("f16 weights with VLM_VULKAN_NO_FP16=1",
              vlm_op_matmul (y, x, w, NULL, NULL, VLM_ACT_NONE, &error), &error);
  vlm_tensor_unref (w);
  vlm_tensor_unref (x);
  vlm_tensor_unref (y);
  vlm_device_unref (dev);
  clear_env ();
}

static void
test_type_strings (void)
{
  g_assert_cmpstr (vlm_device_type_to_string (VLM_DEVICE_TYPE_CPU), ==, "cpu");
  g_assert_cmpstr (vlm_device_type_to_string (VLM_DEVICE_TYPE_DISCRETE_GPU), ==, "discrete-gpu");
  g_assert_cmpstr (vlm_device_type_to_string (VLM_DEVICE_TYPE_INTEGRATED_GPU), ==,
                   "integrated-gpu");
  g_assert_cmpstr (vlm_device_type_to_string (VLM_DEVICE_TYPE_VIRTUAL_GPU), ==, "virtual-gpu");
  g_assert_cmpstr (vlm_device_type_to_string (VLM_DEVICE_TYPE_OTHER), ==, "other");
}

static void
test_criticals (gconstpointer data)
{
  g_test_fail_printf ("creating the Vulkan instance logged: %s", (const gchar *) data);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  clear_env ();
  /* The Vulkan instance is made once, here. Without a driver the validation
   * layer reports the loader's failure as a critical: the Vulkan cases skip
   * then; with devices, such messages fail the run. */
  GArray *devs = NULL;
  GError *error = NULL;
  vt_collect_criticals_begin ();
  gboolean listed = vlm_vulkan_list_devices (&devs, &error);
  gchar *criticals = vt_collect_criticals_end ();
  if (listed && devs->len > 0 && criticals)
    g_test_add_data_func_full ("/device/vulkan/instance", criticals, test_criticals, g_free);
  else
    g_free (criticals);
  g_clear_error (&error);
  g_clear_pointer (&devs, g_array_unref);
  g_test_add_func ("/device/spec/bad", test_bad_specs);
  g_test_add_func ("/device/spec/vulkan-999", test_vulkan_999);
  g_test_add_func ("/device/cpu", test_cpu);
  g_test_add_func ("/device/auto", test_auto);
  g_test_add_func ("/device/env-override", test_env_override);
  g_test_add_func ("/device/type-strings", test_type_strings);
  g_test_add_func ("/device/vulkan/list", test_list);
  g_test_add_func ("/device/vulkan/index", test_vulkan_index);
  g_test_add_func ("/device/vulkan/plain", test_vulkan_plain);
  g_test_add_func ("/device/vulkan/no-fp16-env", test_vulkan_no_fp16);
  return g_test_run ();
}
