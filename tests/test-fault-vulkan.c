/* gst-vlm tests — the Vulkan backend under injected faults (VLM_VULKAN_FAULT,
 * engine/vulkan/vlm-vulkan-fault.c): each fault surfaces as a clear error
 * with the right code from the call that hit it, a lost device stays lost,
 * a transient failure does not, and nothing hangs or leaks while closing.
 *
 * Runs on the first Vulkan device (lavapipe here, VLM_VULKAN_ALLOW_CPU=1 not
 * needed: devices are opened as vulkan:0) with the validation layer on; it
 * skips without a Vulkan device, or fails when CI=true.
 */
#include <string.h>

#include "vlm-test-util.h"
#include "models/vlm-clip.h"

static gboolean
have_vulkan (void)
{
#ifndef VLM_HAVE_VULKAN
  g_test_skip ("built without the Vulkan backend");
  return FALSE;
#else
  g_unsetenv ("VLM_VULKAN_FAULT");
  GArray *devs = NULL;
  g_autoptr (GError) error = NULL;
  gboolean ok = vlm_vulkan_list_devices (&devs, &error) && devs->len > 0;
  if (devs)
    g_array_unref (devs);
  if (ok)
    return TRUE;
  const gchar *why = error ? error->message : "Vulkan offers no device";
  if (g_strcmp0 (g_getenv ("CI"), "true") == 0)
    g_test_fail_printf ("CI=true and no Vulkan device: %s", why);
  else
    g_test_skip (why);
  return FALSE;
#endif
}

static VlmDevice *
open_with_fault (const gchar *fault)
{
  g_setenv ("VLM_VULKAN_FAULT", fault, TRUE);
  g_autoptr (GError) error = NULL;
  VlmDevice *dev = vlm_device_open ("vulkan:0", &error);
  g_assert_no_error (error);
  g_assert_cmpint (vlm_device_get_backend (dev), ==, VLM_BACKEND_VULKAN);
  return dev;
}

static void
assert_injected (const GError *error, gint code, const gchar *result, const gchar *fault)
{
  g_assert_nonnull (error);
  g_test_message ("error: %s", error->message);
  g_assert_true (error->domain == VLM_ERROR);
  g_assert_cmpint (error->code, ==, code);
  g_assert_nonnull (strstr (error->message, result));
  g_autofree gchar *tag = g_strdup_printf ("(injected by VLM_VULKAN_FAULT=%s)", fault);
  g_assert_true (g_str_has_suffix (error->message, tag));
}

/* One submission: y = gelu(x) over 64 floats, downloaded. */
static gboolean
run_once (VlmDevice *dev, GError **error)
{
  gint64 shape[1] = { 64 };
  gfloat in[64], out[64];
  for (gint i = 0; i < 64; i++)
    in[i] = (gfloat) (i - 32) / 16.0f;
  /* `in` outlives x: no notify needed */
  g_autoptr (VlmTensor) x = vlm_tensor_new_from_data (dev, VLM_DTYPE_F32, 1, shape, in, NULL,
                                                      NULL, error);
  if (!x)
    return FALSE;
  g_autoptr (VlmTensor) y = vlm_tensor_new (dev, VLM_DTYPE_F32, 1, shape, error);
  if (!y || !vlm_op_unary (y, x, VLM_ACT_GELU_ERF, error) ||
      !vlm_tensor_download (y, out, sizeof out, error))
    return FALSE;
  g_assert_cmpfloat (out[32], ==, 0.0f);
  g_assert_cmpfloat (out[63], >, 0.9f);
  return TRUE;
}

static void
test_init (void)
{
  if (!have_vulkan ())
    return;
  g_setenv ("VLM_VULKAN_FAULT", "init", TRUE);
  g_autoptr (GError) error = NULL;
  GArray *devs = NULL;
  g_assert_false (vlm_vulkan_list_devices (&devs, &error));
  g_assert_null (devs);
  assert_injected (error, VLM_ERROR_DEVICE, "VK_ERROR_INITIALIZATION_FAILED", "init");
  g_clear_error (&error);

  g_assert_null (vlm_device_open ("vulkan:0", &error));
  assert_injected (error, VLM_ERROR_DEVICE, "cannot create a Vulkan instance", "init");
  g_clear_error (&error);

  /* auto: the CPU backend, saying why */
  g_unsetenv ("VLM_DEVICE");
  g_autoptr (VlmDevice) dev = vlm_device_open ("auto", &error);
  g_assert_no_error (error);
  g_assert_cmpint (vlm_device_get_backend (dev), ==, VLM_BACKEND_CPU);
  g_assert_nonnull (strstr (vlm_device_get_reason (dev), "Vulkan unavailable"));

  /* the switch off again: Vulkan works (the instance was never spoiled) */
  g_unsetenv ("VLM_VULKAN_FAULT");
  g_autoptr (VlmDevice) vk = vlm_device_open ("vulkan:0", &error);
  g_assert_no_error (error);
}

static void
test_malformed (void)
{
  if (!have_vulkan ())
    return;
  const gchar *bad[] = { "bogus", "lost:0", "alloc:", "submit:x", "lost:2,nope", "init:-1" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_setenv ("VLM_VULKAN_FAULT", bad[i], TRUE);
    g_autoptr (GError) error = NULL;
    g_assert_null (vlm_device_open ("vulkan:0", &error));
    g_assert_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, "VLM_VULKAN_FAULT"));
    g_assert_nonnull (strstr (error->message, bad[i]));
  }
  g_unsetenv ("VLM_VULKAN_FAULT");
}

static void
test_alloc (void)
{
  if (!have_vulkan ())
    return;
  /* alloc:1: from the start */
  g_autoptr (VlmDevice) dev = open_with_fault ("alloc");
  g_autoptr (GError) error = NULL;
  gint64 shape[1] = { 1000 };
  g_assert_null (vlm_tensor_new (dev, VLM_DTYPE_F32, 1, shape, &error));
  assert_injected (error, VLM_ERROR_OUT_OF_MEMORY, "VK_ERROR_OUT_OF_DEVICE_MEMORY", "alloc");
  g_assert_nonnull (strstr (error->message, "cannot allocate 4000 bytes"));
  g_clear_error (&error);

  /* alloc:3: two submissions work, then every allocation fails */
  g_autoptr (VlmDevice) dev3 = open_with_fault ("alloc:3");
  g_assert_true (run_once (dev3, &error));
  g_assert_no_error (error);
  g_assert_true (run_once (dev3, &error));
  g_assert_no_error (error);
  g_assert_false (run_once (dev3, &error));
  assert_injected (error, VLM_ERROR_OUT_OF_MEMORY, "VK_ERROR_OUT_OF_DEVICE_MEMORY", "alloc:3");
  g_clear_error (&error);
  g_assert_false (run_once (dev3, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_OUT_OF_MEMORY);
  g_clear_error (&error);
  /* not a lost device */
  g_assert_true (vlm_device_sync (dev3, &error));
  g_unsetenv ("VLM_VULKAN_FAULT");
}

static void
test_submit (void)
{
  if (!have_vulkan ())
    return;
  g_autoptr (VlmDevice) dev = open_with_fault ("submit:2");
  g_autoptr (GError) error = NULL;
  g_assert_true (run_once (dev, &error));
  g_assert_false (run_once (dev, &error));
  assert_injected (error, VLM_ERROR_OUT_OF_MEMORY, "cannot submit work: "
                   "VK_ERROR_OUT_OF_DEVICE_MEMORY", "submit:2");
  g_clear_error (&error);
  /* transient: the device works again */
  g_assert_true (run_once (dev, &error));
  g_assert_no_error (error);
  g_assert_true (vlm_device_sync (dev, &error));
  g_unsetenv ("VLM_VULKAN_FAULT");
}

static void
test_lost (void)
{
  if (!have_vulkan ())
    return;
  g_autoptr (VlmDevice) dev = open_with_fault ("lost:2");
  g_autoptr (GError) error = NULL;
  g_assert_true (run_once (dev, &error));
  g_assert_false (run_once (dev, &error));
  assert_injected (error, VLM_ERROR_DEVICE, "VK_ERROR_DEVICE_LOST", "lost:2");
  g_clear_error (&error);
  /* lost for good: every later use fails, naming the device and the loss */
  g_assert_false (run_once (dev, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_DEVICE);
  g_assert_nonnull (strstr (error->message, "was lost"));
  g_clear_error (&error);
  g_assert_false (vlm_device_sync (dev, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_DEVICE);
  g_assert_nonnull (strstr (error->message, "was lost"));
  g_unsetenv ("VLM_VULKAN_FAULT");
  /* closing a lost device: no hang, no warning (fatal here) */
}

/* A model on a device that is lost in the middle of encoding, and one that
 * runs out of memory while loading. */
static void
test_model (void)
{
  const gchar *dir = g_getenv ("VLM_TEST_CLIP_MODEL");
  if (!dir) {
    g_test_skip ("VLM_TEST_CLIP_MODEL not set");
    return;
  }
  if (!have_vulkan ())
    return;
  g_autoptr (GError) error = NULL;
  {
    g_autoptr (VlmDevice) dev = open_with_fault ("alloc");
    VlmClipModel *m = vlm_clip_model_load (dir, dev, VLM_DTYPE_F32, &error);
    g_assert_null (m);
    g_test_message ("load: %s", error->message);
    g_assert_error (error, VLM_ERROR, VLM_ERROR_OUT_OF_MEMORY);
    g_assert_nonnull (strstr (error->message, "VK_ERROR_OUT_OF_DEVICE_MEMORY"));
    g_clear_error (&error);
  }
  {
    g_autoptr (VlmDevice) dev = open_with_fault ("lost:1");
    VlmClipModel *m = vlm_clip_model_load (dir, dev, VLM_DTYPE_F32, &error);
    g_assert_no_error (error);
    const gchar *texts[] = { "a photo of a cat" };
    gfloat emb[1024];
    g_assert_cmpint (vlm_clip_model_get_config (m)->projection_dim, <=, 1024);
    g_assert_false (vlm_clip_encode_texts (m, texts, 1, emb, &error));
    g_test_message ("encode: %s", error->message);
    g_assert_error (error, VLM_ERROR, VLM_ERROR_DEVICE);
    g_assert_nonnull (strstr (error->message, "VK_ERROR_DEVICE_LOST"));
    g_clear_error (&error);
    g_assert_false (vlm_clip_encode_texts (m, texts, 1, emb, &error));
    g_assert_error (error, VLM_ERROR, VLM_ERROR_DEVICE);
    g_clear_error (&error);
    vlm_clip_model_free (m);
  }
  g_unsetenv ("VLM_VULKAN_FAULT");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/fault/vulkan/init", test_init);
  g_test_add_func ("/fault/vulkan/malformed", test_malformed);
  g_test_add_func ("/fault/vulkan/alloc", test_alloc);
  g_test_add_func ("/fault/vulkan/submit", test_submit);
  g_test_add_func ("/fault/vulkan/lost", test_lost);
  g_test_add_func ("/fault/vulkan/model", test_model);
  return g_test_run ();
}
