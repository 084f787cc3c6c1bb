/* gst-vlm engine — device selection: one API over the CPU and Vulkan backends.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "vlm-backend.h"

G_DEFINE_QUARK (vlm-error-quark, vlm_error)

/**
 * vlm_device_type_to_string:
 * @type: a device type
 *
 * Returns: a short name: "discrete-gpu", "integrated-gpu", "virtual-gpu",
 *   "cpu" or "other".
 */
const gchar *
vlm_device_type_to_string (VlmDeviceType type)
{
  switch (type) {
    case VLM_DEVICE_TYPE_DISCRETE_GPU:
      return "discrete-gpu";
    case VLM_DEVICE_TYPE_INTEGRATED_GPU:
      return "integrated-gpu";
    case VLM_DEVICE_TYPE_VIRTUAL_GPU:
      return "virtual-gpu";
    case VLM_DEVICE_TYPE_CPU:
      return "cpu";
    case VLM_DEVICE_TYPE_OTHER:
      break;
  }
  return "other";
}

#ifndef VLM_HAVE_VULKAN
gboolean
vlm_vulkan_list_devices (GArray **devices, GError **error)
{
  *devices = g_array_new (FALSE, TRUE, sizeof (VlmVulkanDeviceInfo));
  return TRUE;
}
#endif

/* Rank for `auto` and plain `vulkan`: higher is better, 0 = never implicit. */
static gint
type_rank (VlmDeviceType type)
{
  switch (type) {
    case VLM_DEVICE_TYPE_DISCRETE_GPU:
      return 3;
    case VLM_DEVICE_TYPE_INTEGRATED_GPU:
      return 2;
    case VLM_DEVICE_TYPE_VIRTUAL_GPU:
      return 1;
    default:
      return 0;
  }
}

static gboolean
env_flag (const gchar *name)
{
  const gchar *v = g_getenv (name);
  return v && *v && strcmp (v, "0") != 0;
}

/* Best Vulkan device for an implicit choice; CPU-type devices count only
 * when VLM_VULKAN_ALLOW_CPU is set. Returns -1 when there is none. */
static gint
best_vulkan_device (GArray *devs, gboolean allow_cpu)
{
  gint best = -1, best_rank = 0;
  for (guint i = 0; i < devs->len; i++) {
    VlmVulkanDeviceInfo *d = &g_array_index (devs, VlmVulkanDeviceInfo, i);
    gint rank = type_rank (d->type);
    if (rank == 0 && allow_cpu)
      rank = d->type == VLM_DEVICE_TYPE_CPU ? 1 : 0;
    if (rank > best_rank) {
      best_rank = rank;
      best = (gint) d->index;
    }
  }
  return best;
}

static VlmDevice *
open_vulkan (guint index, gchar *reason, GError **error)
{
#ifdef VLM_HAVE_VULKAN
  VlmDevice *dev = vlm_vulkan_device_new (index, error);
  if (dev) {
    g_free (dev->reason);
    dev->reason = reason;
  } else {
    g_free (reason);
  }
  return dev;
#else
  g_free (reason);
  g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
               "device vulkan:%u: this build of gst-vlm has no Vulkan backend", index);
  return NULL;
#endif
}

static VlmDevice *
open_cpu (gchar *reason, GError **error)
{
  VlmDevice *dev = vlm_cpu_device_new (error);
  if (dev) {
    g_free (dev->reason);
    dev->reason = reason;
  } else {
    g_free (reason);
  }
  return dev;
}

static VlmDevice *
open_auto (const gchar *why, GError **error)
{
  g_autoptr (GError) local = NULL;
  GArray *devs = NULL;
  if (!vlm_vulkan_list_devices (&devs, &local)) {
    g_message ("gst-vlm: Vulkan unavailable (%s); using the CPU backend", local->message);
    return open_cpu (g_strdup_printf ("%s: Vulkan unavailable (%s)", why, local->message),
                     error);
  }
  gint best = best_vulkan_device (devs, FALSE);
  g_array_unref (devs);
  if (best < 0)
    return open_cpu (g_strdup_printf ("%s: no GPU among the Vulkan devices", why), error);
  VlmDevice *dev = open_vulkan ((guint) best, g_strdup_printf ("%s: best GPU", why), &local);
  if (dev)
    return dev;
  g_warning ("gst-vlm: Vulkan device %d failed (%s); falling back to the CPU backend", best,
             local->message);
  return open_cpu (g_strdup_printf ("%s: GPU vulkan:%d failed (%s)", why, best, local->message),
                   error);
}

/**
 * vlm_device_open:
 * @spec: (nullable): "auto", "cpu", "vulkan" or "vulkan:N"; %NULL means "auto"
 * @error: return location for a #GError
 *
 * Opens a compute device.
 *
 * - "auto": the best real GPU Vulkan offers (discrete, then integrated, then
 *   virtual), else the CPU backend. A Vulkan failure gives a warning and the
 *   CPU backend. The environment variable VLM_DEVICE, when set, replaces
 *   "auto" (never an explicit choice).
 * - "cpu": the CPU backend.
 * - "vulkan": the best GPU; CPU-type Vulkan devices (lavapipe) only when
 *   VLM_VULKAN_ALLOW_CPU=1.
 * - "vulkan:N": Vulkan physical device N, whatever its type.
 *
 * One log line (g_message when VLM_DEVICE_VERBOSE is set, otherwise
 * g_debug) says which device runs and why.
 *
 * Returns: (transfer full) (nullable): the device, or %NULL with @error set.
 */
VlmDevice *
vlm_device_open (const gchar *spec, GError **error)
{
  VlmDevice *dev = NULL;
  const gchar *env = g_getenv ("VLM_DEVICE");
  const gchar *why = "requested";

  if (spec == NULL || *spec == '\0' || g_ascii_strcasecmp (spec, "auto") == 0) {
    if (env && *env && g_ascii_strcasecmp (env, "auto") != 0) {
      spec = env;
      why = "VLM_DEVICE";
    } else {
      spec = "auto";
    }
  }

  if (g_ascii_strcasecmp (spec, "auto") == 0) {
    dev = open_auto ("auto", error);
  } else if (g_ascii_strcasecmp (spec, "cpu") == 0) {
    dev = open_cpu (g_strdup_printf ("%s: cpu", why), error);
  } else if (g_ascii_strcasecmp (spec, "vulkan") == 0) {
    GArray *devs = NULL;
    if (!vlm_vulkan_list_devices (&devs, error))
      return NULL;
    gboolean allow_cpu = env_flag ("VLM_VULKAN_ALLOW_CPU");
    gint best = best_vulkan_device (devs, allow_cpu);
    guint n = devs->len;
    g_array_unref (devs);
    if (best < 0) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_DEVICE,
                   "device \"vulkan\": no Vulkan GPU found (%u Vulkan device%s, none a GPU%s); "
                   "use device=cpu, device=vulkan:N for a CPU-type Vulkan device, or set "
                   "VLM_VULKAN_ALLOW_CPU=1", n, n == 1 ? "" : "s",
                   allow_cpu ? " or CPU-type" : "");
      return NULL;
    }
    dev = open_vulkan ((guint) best, g_strdup_printf ("%s: best Vulkan device", why), error);
  } else if (g_ascii_strncasecmp (spec, "vulkan:", 7) == 0) {
    const gchar *num = spec + 7;
    gchar *end = NULL;
    guint64 index = g_ascii_strtoull (num, &end, 10);
    if (*num == '\0' || end == NULL || *end != '\0' || index > G_MAXINT) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT,
                   "device \"%s\": expected vulkan:N with N a device index (see `vlm devices`)",
                   spec);
      return NULL;
    }
    dev = open_vulkan ((guint) index, g_strdup_printf ("%s: vulkan:%u", why, (guint) index),
                       error);
  } else {
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT,
                 "device \"%s\": unknown; expected auto, cpu, vulkan or vulkan:N", spec);
    return NULL;
  }

  if (dev) {
    if (env_flag ("VLM_DEVICE_VERBOSE"))
      g_message ("gst-vlm: running on %s (%s)", dev->name, dev->reason);
    else
      g_debug ("gst-vlm: running on %s (%s)", dev->name, dev->reason);
  }
  return dev;
}

/**
 * vlm_device_ref:
 * @device: a device
 *
 * Returns: (transfer full): @device with one more reference.
 */
VlmDevice *
vlm_device_ref (VlmDevice *device)
{
  g_return_val_if_fail (device != NULL, NULL);
  g_atomic_int_inc (&device->ref_count);
  return device;
}

/**
 * vlm_device_unref:
 * @device: (nullable): a device
 *
 * Drops a reference; the last one waits for recorded work and closes the
 * device.
 */
void
vlm_device_unref (VlmDevice *device)
{
  if (!device || !g_atomic_int_dec_and_test (&device->ref_count))
    return;
  device->backend->destroy (device);
  g_free (device->name);
  g_free (device->reason);
  g_free (device);
}

/**
 * vlm_device_get_backend:
 * @device: a device
 *
 * Returns: the backend the device runs on.
 */
VlmBackendKind
vlm_device_get_backend (VlmDevice *device)
{
  return device->kind;
}

/**
 * vlm_device_get_name:
 * @device: a device
 *
 * Returns: (transfer none): a readable description, e.g.
 *   "vulkan:0 (llvmpipe (LLVM 15.0.6, 256 bits), cpu)".
 */
const gchar *
vlm_device_get_name (VlmDevice *device)
{
  return device->name;
}

/**
 * vlm_device_get_reason:
 * @device: a device
 *
 * Returns: (transfer none): why vlm_device_open() chose this device.
 */
const gchar *
vlm_device_get_reason (VlmDevice *device)
{
  return device->reason ? device->reason : "";
}

/**
 * vlm_device_supports_f16:
 * @device: a device
 *
 * Returns: %TRUE when f16 weights can be stored and used on @device. On
 *   Vulkan this needs shaderFloat16 and storageBuffer16BitAccess, and
 *   VLM_VULKAN_NO_FP16 unset.
 */
gboolean
vlm_device_supports_f16 (VlmDevice *device)
{
  return device->fp16;
}

/**
 * vlm_device_get_n_threads:
 * @device: a device
 *
 * Returns: worker threads of the CPU backend (VLM_THREADS overrides the
 *   default of one per core); 0 for Vulkan devices.
 */
guint
vlm_device_get_n_threads (VlmDevice *device)
{
  return device->n_threads;
}

/**
 * vlm_device_sync:
 * @device: a device
 * @error: return location for a #GError
 *
 * Submits recorded work and waits for it (a no-op on the CPU).
 *
 * Returns: %TRUE on success; %FALSE with @error set when the device failed
 *   (e.g. device lost).
 */
gboolean
vlm_device_sync (VlmDevice *device, GError **error)
{
  return device->backend->sync (device, error);
}
