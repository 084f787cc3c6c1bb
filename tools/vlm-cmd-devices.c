/* vlm devices — list compute devices with the features that matter to us.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>

#include "vlm-cmd.h"
#include "vlm-device.h"

/**
 * vlm_cmd_parse:
 * @ctx: (transfer full): an option context describing the command
 * @argc: (inout): argument count
 * @argv: (inout): arguments, starting at the command name
 *
 * Parses options, printing errors to stderr, and frees @ctx.
 *
 * Returns: %TRUE when the options are valid.
 */
gboolean
vlm_cmd_parse (GOptionContext *ctx, int *argc, char ***argv)
{
  g_autoptr (GError) error = NULL;
  gboolean ok = g_option_context_parse (ctx, argc, argv, &error);
  if (!ok)
    fprintf (stderr, "vlm %s: %s\n", (*argv)[0], error->message);
  g_option_context_free (ctx);
  return ok;
}

static void
print_vulkan (const VlmVulkanDeviceInfo *d)
{
  printf ("vulkan:%u  %s\n", d->index, d->name);
  printf ("    type            %s%s\n", vlm_device_type_to_string (d->type),
          d->type == VLM_DEVICE_TYPE_CPU ? " (used only when asked for: device=vulkan:N or "
          "VLM_VULKAN_ALLOW_CPU=1)" : "");
  printf ("    api             %u.%u.%u\n", (d->api_version >> 22) & 0x7f,
          (d->api_version >> 12) & 0x3ff, d->api_version & 0xfff);
  printf ("    driver          %s\n", d->driver);
  printf ("    fp16 weights    %s\n", d->fp16 ? "yes (shaderFloat16 + storageBuffer16BitAccess)"
          : "no");
  printf ("    subgroup size   %u\n", d->subgroup_size);
  printf ("    shared memory   %" G_GUINT64_FORMAT " KiB\n", d->shared_memory / 1024);
  printf ("    workgroup size  %u invocations\n", d->max_workgroup_invocations);
  printf ("    buffer range    %" G_GUINT64_FORMAT " MiB\n", d->max_storage_buffer_range >> 20);
  printf ("    device memory   %" G_GUINT64_FORMAT " MiB%s\n", d->device_local_bytes >> 20,
          d->unified_memory ? " (host-visible: unified memory)" : "");
}

int
vlm_cmd_devices (int argc, char **argv)
{
  GOptionContext *ctx = g_option_context_new ("— list compute devices");
  g_option_context_set_description (ctx,
      "Lists the CPU backend and every Vulkan device, and says which one device=auto picks.");
  if (!vlm_cmd_parse (ctx, &argc, &argv))
    return 2;

  g_autoptr (GError) error = NULL;
  g_autoptr (VlmDevice) cpu = vlm_device_open ("cpu", &error);
  if (cpu)
    printf ("cpu  %s\n", vlm_device_get_name (cpu));
  else
    printf ("cpu  unavailable: %s\n", error->message);
  g_clear_error (&error);

  GArray *devs = NULL;
  if (!vlm_vulkan_list_devices (&devs, &error)) {
    printf ("vulkan: unavailable: %s\n", error->message);
    g_clear_error (&error);
  } else {
    if (devs->len == 0)
      printf ("vulkan: no devices\n");
    for (guint i = 0; i < devs->len; i++)
      print_vulkan (&g_array_index (devs, VlmVulkanDeviceInfo, i));
    g_array_unref (devs);
  }

  g_autoptr (VlmDevice) chosen = vlm_device_open ("auto", &error);
  if (!chosen) {
    printf ("auto: no device: %s\n", error->message);
    return 1;
  }
  printf ("auto -> %s (%s)\n", vlm_device_get_name (chosen), vlm_device_get_reason (chosen));
  return 0;
}
