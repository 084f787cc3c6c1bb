/* gst-vlm engine — fault injection for the Vulkan backend (tests).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * VLM_VULKAN_FAULT=KIND[:N][,KIND[:N]…] makes the backend fail at chosen
 * points, through the same error paths a real failure takes (the injected
 * VkResult goes through vlm_vk_check()), so the callers' reactions (the
 * elements' fallback to the CPU with device=auto, their errors with
 * device=vulkan) can be tested on any Vulkan device, lavapipe included:
 *
 *  - init      Vulkan is unavailable: listing devices and opening one fail
 *              as if vkCreateInstance had returned
 *              VK_ERROR_INITIALIZATION_FAILED (N is ignored).
 *  - alloc[:N] out of device memory: every storage allocation fails with
 *              VK_ERROR_OUT_OF_DEVICE_MEMORY once the device has made N − 1
 *              queue submissions (N = 1, the default: from the start, so no
 *              model can be loaded; N > 1: while running).
 *  - submit[:N] the device's N-th vkQueueSubmit fails with
 *              VK_ERROR_OUT_OF_DEVICE_MEMORY; a transient failure, later
 *              submissions work.
 *  - lost[:N]  the device is lost while running its N-th submission: the
 *              wait returns VK_ERROR_DEVICE_LOST and every later use of the
 *              device fails.
 *
 * Counts are per opened device (VlmDevice), so they are deterministic for a
 * given sequence of engine calls. The variable is read when a device is
 * opened (init: whenever devices are listed or opened); a malformed value
 * makes both fail with a message saying what is expected. Every injected
 * error message ends with "(injected by VLM_VULKAN_FAULT=…)".
 */
#include <string.h>

#include "vlm-vulkan-private.h"

static const gchar *const kind_names[VLM_VK_FAULT_N_KINDS] = {
  [VLM_VK_FAULT_INIT] = "init",
  [VLM_VK_FAULT_ALLOC] = "alloc",
  [VLM_VK_FAULT_SUBMIT] = "submit",
  [VLM_VK_FAULT_LOST] = "lost",
};

/**
 * vlm_vk_fault_parse:
 * @spec: (nullable): the value of VLM_VULKAN_FAULT
 * @plan: (out): the faults to inject
 * @error: return location for a #GError
 *
 * Parses "KIND[:N][,KIND[:N]…]" (see the top of this file). %NULL or "" is
 * an empty plan.
 *
 * Returns: %TRUE on success; %FALSE with %VLM_ERROR_INVALID_ARGUMENT naming
 *   the variable and what is expected.
 */
gboolean
vlm_vk_fault_parse (const gchar *spec, VlmVkFaultPlan *plan, GError **error)
{
  memset (plan, 0, sizeof *plan);
  if (!spec || !*spec)
    return TRUE;
  g_auto (GStrv) items = g_strsplit (spec, ",", -1);
  for (guint i = 0; items[i]; i++) {
    gchar *item = g_strstrip (items[i]);
    gchar *colon = strchr (item, ':');
    guint64 n = 1;
    if (colon) {
      *colon = '\0';
      gchar *end = NULL;
      n = g_ascii_strtoull (colon + 1, &end, 10);
      if (!colon[1] || !end || *end || n < 1 || n > G_MAXUINT32)
        goto bad;
    }
    gint kind = -1;
    for (gint k = 0; k < VLM_VK_FAULT_N_KINDS; k++)
      if (strcmp (item, kind_names[k]) == 0)
        kind = k;
    if (kind < 0)
      goto bad;
    plan->at[kind] = (guint32) n;
  }
  g_strlcpy (plan->spec, spec, sizeof plan->spec);
  return TRUE;

bad:
  memset (plan, 0, sizeof *plan);
  g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT,
               "VLM_VULKAN_FAULT=\"%s\": expected init, alloc[:N], submit[:N] or lost[:N] "
               "(N ≥ 1), separated by commas", spec);
  return FALSE;
}

/**
 * vlm_vk_fault_plan_from_env:
 * @plan: (out): the faults to inject
 * @error: return location for a #GError
 *
 * vlm_vk_fault_parse() on the current value of VLM_VULKAN_FAULT.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_vk_fault_plan_from_env (VlmVkFaultPlan *plan, GError **error)
{
  return vlm_vk_fault_parse (g_getenv ("VLM_VULKAN_FAULT"), plan, error);
}

/**
 * vlm_vk_fault_check_init:
 * @error: return location for a #GError
 *
 * Called before Vulkan is used to list or open devices: fails when
 * VLM_VULKAN_FAULT is malformed or asks for the init fault.
 *
 * Returns: %TRUE when Vulkan may be used.
 */
gboolean
vlm_vk_fault_check_init (GError **error)
{
  VlmVkFaultPlan plan;
  if (!vlm_vk_fault_plan_from_env (&plan, error))
    return FALSE;
  if (!plan.at[VLM_VK_FAULT_INIT])
    return TRUE;
  vlm_vk_check (VK_ERROR_INITIALIZATION_FAILED, NULL, error,
                "Vulkan: cannot create a Vulkan instance");
  vlm_vk_fault_mark (&plan, error);
  return FALSE;
}

/**
 * vlm_vk_fault_mark:
 * @plan: the plan that caused a failure
 * @error: (nullable): the error just set from it
 *
 * Appends "(injected by VLM_VULKAN_FAULT=…)" to the error's message.
 */
void
vlm_vk_fault_mark (const VlmVkFaultPlan *plan, GError **error)
{
  if (!error || !*error)
    return;
  gchar *msg = g_strdup_printf ("%s (injected by VLM_VULKAN_FAULT=%s)", (*error)->message,
                                plan->spec);
  g_free ((*error)->message);
  (*error)->message = msg;
}

/**
 * vlm_vk_fault_alloc_locked:
 * @vk: the device, lock held
 *
 * Returns: %TRUE when an injected out-of-device-memory fault is due for the
 *   next storage allocation.
 */
gboolean
vlm_vk_fault_alloc_locked (const VlmVkDevice *vk)
{
  guint32 at = vk->fault.at[VLM_VK_FAULT_ALLOC];
  return at && vk->submissions + 1 >= at;
}

/**
 * vlm_vk_fault_submit_locked:
 * @vk: the device, lock held, counting the submission being made
 * @kind: %VLM_VK_FAULT_SUBMIT or %VLM_VK_FAULT_LOST
 *
 * Returns: %TRUE when the submission numbered vk->submissions must fail
 *   with @kind's fault.
 */
gboolean
vlm_vk_fault_submit_locked (const VlmVkDevice *vk, VlmVkFaultKind kind)
{
  return vk->fault.at[kind] && vk->submissions == vk->fault.at[kind];
}
