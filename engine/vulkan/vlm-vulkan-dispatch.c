/* gst-vlm engine — Vulkan dispatch: pipeline cache, descriptors, command
 * recording with hazard-tracked barriers, submission.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every dispatch is recorded into one command buffer, submitted only by a
 * sync, a download, an upload to a storage the recorded work uses, or a
 * staging copy. Between two dispatches a compute→compute barrier is recorded
 * only when the new one touches bytes an earlier one (since the last barrier)
 * wrote, or writes bytes an earlier one read.
 */
#include <string.h>

#include "vlm-vulkan-private.h"

#define PUSH_MAX 128u
#define MAX_SPEC 32u
#define POOL_SETS 256u
#define POOL_BUFFERS (POOL_SETS * 8u)

typedef struct {
  VkDescriptorSetLayout set_layout;
  VkPipelineLayout layout;
  VkPipeline pipeline;
} VlmVkPipeline;

static void
pipeline_free (VlmVkDevice *vk, VlmVkPipeline *p)
{
  if (p->pipeline)
    vkDestroyPipeline (vk->device, p->pipeline, NULL);
  if (p->layout)
    vkDestroyPipelineLayout (vk->device, p->layout, NULL);
  if (p->set_layout)
    vkDestroyDescriptorSetLayout (vk->device, p->set_layout, NULL);
  g_free (p);
}

/**
 * vlm_vk_dispatch_init:
 * @vk: a device whose VkDevice exists
 * @error: return location for a #GError
 *
 * Makes the command pool, the command buffer, its fence and the caches.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_vk_dispatch_init (VlmVkDevice *vk, GError **error)
{
  const gchar *name = vk->props.deviceName;
  vk->pipelines = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  vk->descriptor_pools = g_ptr_array_new ();
  vk->written = g_array_new (FALSE, FALSE, sizeof (VlmVkRange));
  vk->read = g_array_new (FALSE, FALSE, sizeof (VlmVkRange));
  vk->deferred = g_ptr_array_new ();
  vk->serial = 1;

  VkCommandPoolCreateInfo pool_info = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
    .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
    .queueFamilyIndex = vk->queue_family,
  };
  if (!vlm_vk_check (vkCreateCommandPool (vk->device, &pool_info, NULL, &vk->command_pool), vk,
                     error, "Vulkan device %s: cannot create a command pool", name)) {
    vk->command_pool = VK_NULL_HANDLE;
    return FALSE;
  }
  VkCommandBufferAllocateInfo cmd_info = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .commandPool = vk->command_pool,
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = 1,
  };
  if (!vlm_vk_check (vkAllocateCommandBuffers (vk->device, &cmd_info, &vk->cmd), vk, error,
                     "Vulkan device %s: cannot allocate a command buffer", name))
    return FALSE;
  VkFenceCreateInfo fence_info = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
  if (!vlm_vk_check (vkCreateFence (vk->device, &fence_info, NULL, &vk->fence), vk, error,
                     "Vulkan device %s: cannot create a fence", name)) {
    vk->fence = VK_NULL_HANDLE;
    return FALSE;
  }
  return TRUE;
}

/**
 * vlm_vk_dispatch_cleanup:
 * @vk: a device with no work recorded or in flight
 *
 * Destroys the pipelines, descriptor pools, command pool and fence.
 */
void
vlm_vk_dispatch_cleanup (VlmVkDevice *vk)
{
  if (vk->pipelines) {
    GHashTableIter iter;
    gpointer value;
    g_hash_table_iter_init (&iter, vk->pipelines);
    while (g_hash_table_iter_next (&iter, NULL, &value))
      pipeline_free (vk, value);
    g_clear_pointer (&vk->pipelines, g_hash_table_unref);
  }
  if (vk->descriptor_pools) {
    for (guint i = 0; i < vk->descriptor_pools->len; i++)
      vkDestroyDescriptorPool (vk->device, g_ptr_array_index (vk->descriptor_pools, i), NULL);
    g_clear_pointer (&vk->descriptor_pools, g_ptr_array_unref);
  }
  if (vk->fence)
    vkDestroyFence (vk->device, vk->fence, NULL);
  if (vk->command_pool)
    vkDestroyCommandPool (vk->device, vk->command_pool, NULL);
  vk->fence = VK_NULL_HANDLE;
  vk->command_pool = VK_NULL_HANDLE;
  g_clear_pointer (&vk->written, g_array_unref);
  g_clear_pointer (&vk->read, g_array_unref);
  g_clear_pointer (&vk->deferred, g_ptr_array_unref);
}

/* The pipeline for (@shader, @n_bindings, @spec), made on first use. */
static VlmVkPipeline *
get_pipeline_locked (VlmVkDevice *vk, const gchar *shader, const guint32 *spec, guint n_spec,
                     guint n_bindings, GError **error)
{
  GString *key = g_string_new (shader);
  g_string_append_printf (key, "/%u/", n_bindings);
  for (guint i = 0; i < n_spec; i++)
    g_string_append_printf (key, "%s%u", i ? "," : "", spec[i]);
  VlmVkPipeline *p = g_hash_table_lookup (vk->pipelines, key->str);
  if (p) {
    g_string_free (key, TRUE);
    return p;
  }

  const VlmSpirv *spirv = vlm_spirv_lookup (shader);
  if (!spirv) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT,
                 "Vulkan dispatch: no embedded shader named \"%s\"", shader);
    g_string_free (key, TRUE);
    return NULL;
  }

  p = g_new0 (VlmVkPipeline, 1);
  VkDescriptorSetLayoutBinding bindings[PUSH_MAX / 4];
  for (guint i = 0; i < n_bindings; i++)
    bindings[i] = (VkDescriptorSetLayoutBinding) {
      .binding = i,
      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
      .descriptorCount = 1,
      .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
    };
  VkDescriptorSetLayoutCreateInfo set_info = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
    .flags = vk->max_push_descriptors ? VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR
        : 0,
    .bindingCount = n_bindings,
    .pBindings = bindings,
  };
  VkPushConstantRange push_range = {
    .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
    .offset = 0,
    .size = MIN (PUSH_MAX, vk->props.limits.maxPushConstantsSize),
  };
  VkPipelineLayoutCreateInfo layout_info = {
    .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
    .setLayoutCount = 1,
    .pSetLayouts = &p->set_layout,
    .pushConstantRangeCount = 1,
    .pPushConstantRanges = &push_range,
  };
  VkShaderModuleCreateInfo module_info = {
    .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
    .codeSize = spirv->size,
    .pCode = spirv->code,
  };
  VkSpecializationMapEntry entries[MAX_SPEC];
  for (guint i = 0; i < n_spec; i++)
    entries[i] = (VkSpecializationMapEntry) { .constantID = i, .offset = 4 * i, .size = 4 };
  VkSpecializationInfo spec_info = {
    .mapEntryCount = n_spec,
    .pMapEntries = entries,
    .dataSize = 4 * n_spec,
    .pData = spec,
  };
  VkShaderModule module = VK_NULL_HANDLE;
  VkResult res = vkCreateDescriptorSetLayout (vk->device, &set_info, NULL, &p->set_layout);
  if (res == VK_SUCCESS)
    res = vkCreatePipelineLayout (vk->device, &layout_info, NULL, &p->layout);
  if (res == VK_SUCCESS)
    res = vkCreateShaderModule (vk->device, &module_info, NULL, &module);
  if (res == VK_SUCCESS) {
    VkComputePipelineCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
      .stage = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
        .stage = VK_SHADER_STAGE_COMPUTE_BIT,
        .module = module,
        .pName = "main",
        .pSpecializationInfo = n_spec ? &spec_info : NULL,
      },
      .layout = p->layout,
    };
    res = vkCreateComputePipelines (vk->device, VK_NULL_HANDLE, 1, &info, NULL, &p->pipeline);
    vkDestroyShaderModule (vk->device, module, NULL);
  }
  if (!vlm_vk_check (res, vk, error, "Vulkan device %s: cannot create the pipeline for "
                     "shader %s", vk->props.deviceName, key->str)) {
    pipeline_free (vk, p);
    g_string_free (key, TRUE);
    return NULL;
  }
  g_hash_table_insert (vk->pipelines, g_string_free (key, FALSE), p);
  return p;
}

static gboolean
begin_locked (VlmVkDevice *vk, GError **error)
{
  if (vk->recording)
    return TRUE;
  VkCommandBufferBeginInfo info = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
  };
  if (!vlm_vk_check (vkBeginCommandBuffer (vk->cmd, &info), vk, error,
                     "Vulkan device %s: cannot begin a command buffer", vk->props.deviceName))
    return FALSE;
  vk->recording = TRUE;
  return TRUE;
}

/* Writes a descriptor set for @infos from the fallback pools and binds it. */
static gboolean
bind_pool_set_locked (VlmVkDevice *vk, VlmVkPipeline *p, const VkDescriptorBufferInfo *infos,
                      guint n, GError **error)
{
  VkDescriptorSet set = VK_NULL_HANDLE;
  for (;;) {
    gboolean fresh = vk->descriptor_pool_index == vk->descriptor_pools->len;
    if (fresh) {
      VkDescriptorPoolSize size = { VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, POOL_BUFFERS };
      VkDescriptorPoolCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
        .maxSets = POOL_SETS,
        .poolSizeCount = 1,
        .pPoolSizes = &size,
      };
      VkDescriptorPool pool;
      if (!vlm_vk_check (vkCreateDescriptorPool (vk->device, &info, NULL, &pool), vk, error,
                         "Vulkan device %s: cannot create a descriptor pool",
                         vk->props.deviceName))
        return FALSE;
      g_ptr_array_add (vk->descriptor_pools, pool);
    }
    VkDescriptorSetAllocateInfo alloc = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
      .descriptorPool = g_ptr_array_index (vk->descriptor_pools, vk->descriptor_pool_index),
      .descriptorSetCount = 1,
      .pSetLayouts = &p->set_layout,
    };
    VkResult res = vkAllocateDescriptorSets (vk->device, &alloc, &set);
    if (res == VK_SUCCESS)
      break;
    if (fresh || (res != VK_ERROR_OUT_OF_POOL_MEMORY && res != VK_ERROR_FRAGMENTED_POOL))
      return vlm_vk_check (res, vk, error, "Vulkan device %s: cannot allocate a descriptor "
                           "set", vk->props.deviceName);
    vk->descriptor_pool_index++;
  }
  VkWriteDescriptorSet writes[PUSH_MAX / 4];
  for (guint i = 0; i < n; i++)
    writes[i] = (VkWriteDescriptorSet) {
      .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
      .dstSet = set,
      .dstBinding = i,
      .descriptorCount = 1,
      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
      .pBufferInfo = &infos[i],
    };
  vkUpdateDescriptorSets (vk->device, n, writes, 0, NULL);
  vkCmdBindDescriptorSets (vk->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0,
                           NULL);
  return TRUE;
}

static gboolean
ranges_overlap (const VlmVkRange *a, const VlmVkRange *b)
{
  return a->buffer == b->buffer && a->start < b->end && b->start < a->end;
}

static gboolean
overlaps_any (GArray *list, const VlmVkRange *r)
{
  for (guint i = 0; i < list->len; i++)
    if (ranges_overlap (&g_array_index (list, VlmVkRange, i), r))
      return TRUE;
  return FALSE;
}

/* Records a barrier when a binding conflicts with the dispatches since the
 * last one (read after write, write after write, write after read), then
 * notes what this dispatch reads and writes. */
static void
track_hazards_locked (VlmVkDevice *vk, const VlmVkRange *ranges, const VlmVkBinding *bindings,
                      guint n)
{
  gboolean conflict = FALSE;
  for (guint i = 0; i < n && !conflict; i++)
    conflict = overlaps_any (vk->written, &ranges[i]) ||
        (bindings[i].write && overlaps_any (vk->read, &ranges[i]));
  if (conflict) {
    VkMemoryBarrier barrier = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
      .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
      .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT,
    };
    vkCmdPipelineBarrier (vk->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                          VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &barrier, 0, NULL, 0,
                          NULL);
    g_array_set_size (vk->written, 0);
    g_array_set_size (vk->read, 0);
  }
  for (guint i = 0; i < n; i++)
    g_array_append_val (bindings[i].write ? vk->written : vk->read, ranges[i]);
}

static gboolean G_GNUC_PRINTF (3, 4)
dispatch_error (GError **error, const gchar *shader, const gchar *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_autofree gchar *msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "Vulkan dispatch of %s: %s",
               shader, msg);
  return FALSE;
}

/**
 * vlm_vk_dispatch:
 * @device: a Vulkan device
 * @shader: name of an embedded SPIR-V module
 * @spec: (array length=n_spec) (nullable): specialization constants 0 … n_spec−1
 * @n_spec: how many
 * @bindings: (array length=n_bindings): the storage buffers, binding 0 first
 * @n_bindings: how many
 * @push: (nullable): the op's push data, placed after the per-binding offsets
 * @push_size: its size in bytes, a multiple of 4
 * @groups_x: workgroups along x
 * @groups_y: workgroups along y
 * @groups_z: workgroups along z
 * @error: return location for a #GError
 *
 * Records one compute dispatch (see vlm-vulkan.h for the binding contract).
 * The pipeline is made on first use and cached. A barrier is recorded first
 * only when a binding conflicts with a write, or writes what was read, since
 * the last barrier. The work runs at the next sync or download.
 *
 * Returns: %TRUE on success; %FALSE with @error set for bad arguments (too
 *   much push data, workgroup counts beyond the device's limits, a binding
 *   larger than maxStorageBufferRange) or a Vulkan failure.
 */
gboolean
vlm_vk_dispatch (VlmDevice *device, const gchar *shader, const guint32 *spec, guint n_spec,
                 const VlmVkBinding *bindings, guint n_bindings, gconstpointer push,
                 guint push_size, guint32 groups_x, guint32 groups_y, guint32 groups_z,
                 GError **error)
{
  VlmVkDevice *vk = vlm_vk_device (device);
  const VkPhysicalDeviceLimits *lim = &vk->props.limits;
  guint32 groups[3] = { groups_x, groups_y, groups_z };

  if (n_bindings == 0 || 4 * n_bindings + push_size > PUSH_MAX || push_size % 4 != 0)
    return dispatch_error (error, shader, "%u bindings and %u bytes of push data (must be a "
                           "multiple of 4, with 4 bytes per binding at most %u in all)",
                           n_bindings, push_size, PUSH_MAX);
  if (vk->max_push_descriptors && n_bindings > vk->max_push_descriptors)
    return dispatch_error (error, shader, "%u bindings, the device pushes at most %u",
                           n_bindings, vk->max_push_descriptors);
  if (n_spec > MAX_SPEC)
    return dispatch_error (error, shader, "%u specialization constants, at most %u", n_spec,
                           MAX_SPEC);
  for (guint i = 0; i < 3; i++)
    if (groups[i] == 0 || groups[i] > lim->maxComputeWorkGroupCount[i])
      return dispatch_error (error, shader, "%u workgroups along %c, the device allows 1 to %u",
                             groups[i], "xyz"[i], lim->maxComputeWorkGroupCount[i]);

  VlmVkRange ranges[PUSH_MAX / 4];
  VkDescriptorBufferInfo infos[PUSH_MAX / 4];
  guint32 push_data[PUSH_MAX / 4];
  for (guint i = 0; i < n_bindings; i++) {
    const VlmTensor *t = bindings[i].tensor;
    if (!t || !t->storage || t->device != device)
      return dispatch_error (error, shader, "binding %u: %s", i,
                             t ? "tensor lives on another device" : "tensor is missing");
    VlmVkAllocation *a = t->storage->backend;
    VkDeviceSize first = a->offset + t->offset;
    VkDeviceSize align = lim->minStorageBufferOffsetAlignment;
    VkDeviceSize start = first / align * align;
    /* Whole 32-bit words, so shaders may read U8 and F16 data as uint. */
    VkDeviceSize end = MIN ((first + t->nbytes + 3) / 4 * 4, a->offset + a->size);
    if (end - start > lim->maxStorageBufferRange) {
      g_autofree gchar *s = vlm_tensor_shape_string (t);
      g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
                   "Vulkan dispatch of %s: binding %u (%s, %" G_GSIZE_FORMAT " bytes) is "
                   "larger than the device's maxStorageBufferRange (%u bytes)", shader, i, s,
                   t->nbytes, lim->maxStorageBufferRange);
      return FALSE;
    }
    ranges[i] = (VlmVkRange) { a->block->buffer, first, first + t->nbytes };
    infos[i] = (VkDescriptorBufferInfo) { a->block->buffer, start, end - start };
    push_data[i] = (guint32) ((first - start) / vlm_dtype_size (t->dtype));
  }
  if (push_size)
    memcpy (push_data + n_bindings, push, push_size);

  gboolean ok = FALSE;
  g_mutex_lock (&vk->lock);
  VlmVkPipeline *p = NULL;
  if (vk->lost)
    g_set_error (error, VLM_ERROR, VLM_ERROR_DEVICE, "Vulkan dispatch of %s: the device %s "
                 "was lost", shader, vk->props.deviceName);
  else
    p = get_pipeline_locked (vk, shader, spec, n_spec, n_bindings, error);
  if (p && begin_locked (vk, error)) {
    track_hazards_locked (vk, ranges, bindings, n_bindings);
    vkCmdBindPipeline (vk->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    if (vk->max_push_descriptors) {
      VkWriteDescriptorSet writes[PUSH_MAX / 4];
      for (guint i = 0; i < n_bindings; i++)
        writes[i] = (VkWriteDescriptorSet) {
          .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
          .dstBinding = i,
          .descriptorCount = 1,
          .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
          .pBufferInfo = &infos[i],
        };
      vk->push_descriptor_set (vk->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0,
                               n_bindings, writes);
      ok = TRUE;
    } else {
      ok = bind_pool_set_locked (vk, p, infos, n_bindings, error);
    }
  }
  if (ok) {
    vkCmdPushConstants (vk->cmd, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                        4 * n_bindings + push_size, push_data);
    vkCmdDispatch (vk->cmd, groups_x, groups_y, groups_z);
    for (guint i = 0; i < n_bindings; i++)
      ((VlmVkAllocation *) bindings[i].tensor->storage->backend)->use_serial = vk->serial;
  }
  g_mutex_unlock (&vk->lock);
  return ok;
}

/* After the recorded work completed (or failed): forget it, release what
 * waited for it. */
static void
finish_locked (VlmVkDevice *vk)
{
  vkResetCommandPool (vk->device, vk->command_pool, 0);
  for (guint i = 0; i < vk->descriptor_pools->len; i++)
    vkResetDescriptorPool (vk->device, g_ptr_array_index (vk->descriptor_pools, i), 0);
  vk->descriptor_pool_index = 0;
  g_array_set_size (vk->written, 0);
  g_array_set_size (vk->read, 0);
  for (guint i = 0; i < vk->deferred->len; i++)
    vlm_vk_storage_release_locked (vk, g_ptr_array_index (vk->deferred, i));
  g_ptr_array_set_size (vk->deferred, 0);
  vk->recording = FALSE;
  vk->serial++;
}

/**
 * vlm_vk_flush_locked:
 * @vk: the device, lock held
 * @error: return location for a #GError
 *
 * Submits the recorded work and waits for it, then releases the storages
 * whose release was deferred. A no-op when nothing is recorded.
 *
 * Returns: %TRUE on success; %FALSE with @error set when the submission
 *   failed or the device was lost (%VLM_ERROR_DEVICE); the work is dropped.
 */
gboolean
vlm_vk_flush_locked (VlmVkDevice *vk, GError **error)
{
  if (!vk->recording)
    return TRUE;
  const gchar *name = vk->props.deviceName;

  /* Make every write available to later submissions, copies and the host. */
  VkMemoryBarrier barrier = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
        VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_HOST_READ_BIT,
  };
  vkCmdPipelineBarrier (vk->cmd,
                        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT |
                        VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &barrier, 0, NULL, 0, NULL);

  gboolean ok = vlm_vk_check (vkEndCommandBuffer (vk->cmd), vk, error,
                              "Vulkan device %s: cannot record the command buffer", name);
  if (ok) {
    VkSubmitInfo submit = {
      .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
      .commandBufferCount = 1,
      .pCommandBuffers = &vk->cmd,
    };
    vk->submissions++;
    gboolean inject = vlm_vk_fault_submit_locked (vk, VLM_VK_FAULT_SUBMIT);
    VkResult res = inject ? VK_ERROR_OUT_OF_DEVICE_MEMORY
        : vkQueueSubmit (vk->queue, 1, &submit, vk->fence);
    ok = vlm_vk_check (res, vk, error, "Vulkan device %s: cannot submit work", name);
    if (ok) {
      res = vkWaitForFences (vk->device, 1, &vk->fence, VK_TRUE, UINT64_MAX);
      /* the work did run: the device is "lost" only once it is idle again */
      inject = res == VK_SUCCESS && vlm_vk_fault_submit_locked (vk, VLM_VK_FAULT_LOST);
      if (inject)
        res = VK_ERROR_DEVICE_LOST;
      ok = vlm_vk_check (res, vk, error, "Vulkan device %s: waiting for the submitted work "
                         "failed", name);
      vkResetFences (vk->device, 1, &vk->fence);
    }
    if (inject)
      vlm_vk_fault_mark (&vk->fault, error);
  }
  finish_locked (vk);
  return ok;
}

/**
 * vlm_vk_copy_locked:
 * @vk: the device, lock held
 * @src: source buffer
 * @src_offset: byte offset in @src
 * @dst: destination buffer
 * @dst_offset: byte offset in @dst
 * @size: bytes to copy
 * @error: return location for a #GError
 *
 * Copies between buffers on the device (staging uploads and downloads):
 * submits the recorded work first, then the copy, and waits for it.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_vk_copy_locked (VlmVkDevice *vk, VkBuffer src, VkDeviceSize src_offset, VkBuffer dst,
                    VkDeviceSize dst_offset, VkDeviceSize size, GError **error)
{
  if (!vlm_vk_flush_locked (vk, error) || !begin_locked (vk, error))
    return FALSE;
  VkBufferCopy region = { src_offset, dst_offset, size };
  vkCmdCopyBuffer (vk->cmd, src, dst, 1, &region);
  return vlm_vk_flush_locked (vk, error);
}

/**
 * vlm_vk_sync:
 * @device: a Vulkan device
 * @error: return location for a #GError
 *
 * Backend sync: submits the recorded work and waits for it.
 *
 * Returns: %TRUE on success; %FALSE with @error set on failure
 *   (%VLM_ERROR_DEVICE when the device was lost).
 */
gboolean
vlm_vk_sync (VlmDevice *device, GError **error)
{
  VlmVkDevice *vk = vlm_vk_device (device);
  gboolean ok = FALSE;
  g_mutex_lock (&vk->lock);
  if (vk->lost)
    g_set_error (error, VLM_ERROR, VLM_ERROR_DEVICE, "Vulkan device %s: cannot sync: the "
                 "device was lost", vk->props.deviceName);
  else
    ok = vlm_vk_flush_locked (vk, error);
  g_mutex_unlock (&vk->lock);
  return ok;
}

/**
 * vlm_vk_limits:
 * @device: a Vulkan device
 *
 * Returns: (transfer none): the limits op files choose kernel variants by.
 */
const VlmVkLimits *
vlm_vk_limits (VlmDevice *device)
{
  return &vlm_vk_device (device)->limits;
}
