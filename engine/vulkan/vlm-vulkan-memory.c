/* gst-vlm engine — Vulkan memory: storages sub-allocated from a few large
 * blocks, uploads and downloads.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each block is one VkBuffer bound to one VkDeviceMemory of BLOCK_SIZE bytes;
 * storages are carved out of blocks by first fit over a sorted free list that
 * coalesces on release. A request larger than DEDICATED_MIN gets a block of
 * its own. Memory is device-local; when the device-local heap is also
 * host-visible (lavapipe, UMA GPUs) it is mapped persistently and uploads and
 * downloads are memcpy; otherwise they go through a host-visible staging
 * buffer and copy commands (VLM_VULKAN_FORCE_STAGING=1 forces that path).
 */
#include <string.h>

#include "vlm-vulkan-private.h"

#define BLOCK_SIZE ((VkDeviceSize) 64 << 20)
#define DEDICATED_MIN (BLOCK_SIZE / 4)
#define STAGING_SIZE ((VkDeviceSize) 16 << 20)

#define ROUND_UP(x, a) (((x) + (a) - 1) / (a) * (a))

static gboolean
env_flag (const gchar *name)
{
  const gchar *v = g_getenv (name);
  return v && *v && strcmp (v, "0") != 0;
}

/* "N bytes (x.y MiB)", plain ASCII. */
static gchar *
format_size (VkDeviceSize size)
{
  static const gchar *units[] = { "KiB", "MiB", "GiB", "TiB" };
  gdouble v = (gdouble) size;
  gint u = -1;
  while (v >= 1024.0 && u < 3) {
    v /= 1024.0;
    u++;
  }
  if (u < 0)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " bytes", (guint64) size);
  return g_strdup_printf ("%" G_GUINT64_FORMAT " bytes (%.1f %s)", (guint64) size, v, units[u]);
}

/* A memory type allowed by @bits that has all of @required, preferring one
 * with @preferred too, then one in the largest heap. Returns FALSE when none
 * qualifies. */
static gboolean
pick_memory_type (VlmVkDevice *vk, guint32 bits, VkMemoryPropertyFlags required,
                  VkMemoryPropertyFlags preferred, guint32 *type)
{
  const VkPhysicalDeviceMemoryProperties *mem = &vk->memory_props;
  gint best = -1;
  gboolean best_pref = FALSE;
  VkDeviceSize best_heap = 0;
  for (guint32 i = 0; i < mem->memoryTypeCount; i++) {
    VkMemoryPropertyFlags flags = mem->memoryTypes[i].propertyFlags;
    if (!(bits & (1u << i)) || (flags & required) != required)
      continue;
    gboolean pref = (flags & preferred) == preferred;
    VkDeviceSize heap = mem->memoryHeaps[mem->memoryTypes[i].heapIndex].size;
    if (best < 0 || (pref && !best_pref) || (pref == best_pref && heap > best_heap)) {
      best = (gint) i;
      best_pref = pref;
      best_heap = heap;
    }
  }
  if (best < 0)
    return FALSE;
  *type = (guint32) best;
  return TRUE;
}

/**
 * vlm_vk_memory_init:
 * @vk: a device whose VkDevice exists
 * @error: return location for a #GError
 *
 * Chooses where storages live (mapped device-local memory on unified-memory
 * devices, plain device-local memory plus staging otherwise) and the
 * sub-allocation alignment.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_vk_memory_init (VlmVkDevice *vk, GError **error)
{
  const VkPhysicalDeviceMemoryProperties *mem = &vk->memory_props;
  const VkMemoryPropertyFlags mapped = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
      VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  const VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
  guint32 any = (1u << mem->memoryTypeCount) - 1;
  guint32 local_type = 0, mapped_type = 0;

  gboolean have_local = pick_memory_type (vk, any, local, 0, &local_type);
  /* Unified memory: the main device-local heap is also host-visible. */
  gboolean unified = have_local && pick_memory_type (vk, any, local | mapped, 0, &mapped_type) &&
      mem->memoryTypes[mapped_type].heapIndex == mem->memoryTypes[local_type].heapIndex;

  if (!pick_memory_type (vk, any, mapped, VK_MEMORY_PROPERTY_HOST_CACHED_BIT,
                         &vk->staging_type)) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
                 "Vulkan device %s: no host-visible coherent memory type",
                 vk->props.deviceName);
    return FALSE;
  }
  if (!have_local) {
    vk->storage_type = vk->staging_type;
    vk->storage_mapped = TRUE;
  } else if (unified && !env_flag ("VLM_VULKAN_FORCE_STAGING")) {
    vk->storage_type = mapped_type;
    vk->storage_mapped = TRUE;
  } else {
    vk->storage_type = local_type;
    vk->storage_mapped = FALSE;
  }

  vk->alignment = MAX (vk->props.limits.minStorageBufferOffsetAlignment, 64);
  vk->blocks = g_ptr_array_new ();
  return TRUE;
}

static void
block_free (VlmVkDevice *vk, VlmVkBlock *block)
{
  if (block->map)
    vkUnmapMemory (vk->device, block->memory);
  if (block->buffer)
    vkDestroyBuffer (vk->device, block->buffer, NULL);
  if (block->memory)
    vkFreeMemory (vk->device, block->memory, NULL);
  if (block->free)
    g_array_unref (block->free);
  g_free (block);
}

/* Makes a block of @size bytes: a buffer usable for storage and copies, its
 * memory of @type (mapped when @map). */
static VlmVkBlock *
block_new (VlmVkDevice *vk, VkDeviceSize size, guint32 type, gboolean map, gboolean dedicated,
           GError **error)
{
  const VkMemoryType *mt = &vk->memory_props.memoryTypes[type];
  VkDeviceSize heap = vk->memory_props.memoryHeaps[mt->heapIndex].size;
  if (size > heap || size > vk->max_allocation) {
    g_autofree gchar *s = format_size (size);
    g_autofree gchar *h = format_size (MIN (heap, vk->max_allocation));
    g_set_error (error, VLM_ERROR, VLM_ERROR_OUT_OF_MEMORY,
                 "Vulkan device %s: cannot allocate %s: larger than the device allows "
                 "in one allocation (%s)", vk->props.deviceName, s, h);
    return NULL;
  }

  VlmVkBlock *block = g_new0 (VlmVkBlock, 1);
  block->size = size;
  block->dedicated = dedicated;
  VkBufferCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
    .size = size,
    .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
        VK_BUFFER_USAGE_TRANSFER_DST_BIT,
    .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  g_autofree gchar *s = format_size (size);
  if (!vlm_vk_check (vkCreateBuffer (vk->device, &info, NULL, &block->buffer), vk, error,
                     "Vulkan device %s: cannot create a buffer of %s", vk->props.deviceName,
                     s)) {
    block->buffer = VK_NULL_HANDLE;
    block_free (vk, block);
    return NULL;
  }

  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements (vk->device, block->buffer, &req);
  if (!(req.memoryTypeBits & (1u << type)) &&
      !pick_memory_type (vk, req.memoryTypeBits, mt->propertyFlags, 0, &type)) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
                 "Vulkan device %s: no suitable memory type for storage buffers",
                 vk->props.deviceName);
    block_free (vk, block);
    return NULL;
  }
  VkMemoryAllocateInfo alloc = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
    .allocationSize = req.size,
    .memoryTypeIndex = type,
  };
  VkResult res = vkAllocateMemory (vk->device, &alloc, NULL, &block->memory);
  if (res != VK_SUCCESS) {
    block->memory = VK_NULL_HANDLE;
    g_set_error (error, VLM_ERROR, VLM_ERROR_OUT_OF_MEMORY,
                 "Vulkan device %s: cannot allocate %s (%s)", vk->props.deviceName, s,
                 vlm_vk_result_to_string (res));
    block_free (vk, block);
    return NULL;
  }
  if (!vlm_vk_check (vkBindBufferMemory (vk->device, block->buffer, block->memory, 0), vk,
                     error, "Vulkan device %s: cannot bind a buffer to its memory",
                     vk->props.deviceName)) {
    block_free (vk, block);
    return NULL;
  }
  if (map) {
    gpointer p = NULL;
    if (!vlm_vk_check (vkMapMemory (vk->device, block->memory, 0, VK_WHOLE_SIZE, 0, &p), vk,
                       error, "Vulkan device %s: cannot map %s", vk->props.deviceName, s)) {
      block_free (vk, block);
      return NULL;
    }
    block->map = p;
  }
  block->free = g_array_new (FALSE, FALSE, sizeof (VlmVkRange));
  if (!dedicated) {
    VlmVkRange all = { block->buffer, 0, size };
    g_array_append_val (block->free, all);
  }
  return block;
}

/* First fit: takes @size bytes (a multiple of the alignment) from @block. */
static gboolean
block_take (VlmVkBlock *block, VkDeviceSize size, VkDeviceSize *offset)
{
  for (guint i = 0; i < block->free->len; i++) {
    VlmVkRange *r = &g_array_index (block->free, VlmVkRange, i);
    if (r->end - r->start < size)
      continue;
    *offset = r->start;
    r->start += size;
    if (r->start == r->end)
      g_array_remove_index (block->free, i);
    return TRUE;
  }
  return FALSE;
}

/* Returns [offset, offset + size) to @block's free list, merged with its
 * neighbours. */
static void
block_give_back (VlmVkBlock *block, VkDeviceSize offset, VkDeviceSize size)
{
  GArray *list = block->free;
  guint i = 0;
  while (i < list->len && g_array_index (list, VlmVkRange, i).start < offset)
    i++;
  VlmVkRange r = { block->buffer, offset, offset + size };
  g_array_insert_val (list, i, r);
  if (i + 1 < list->len) {
    VlmVkRange *next = &g_array_index (list, VlmVkRange, i + 1);
    VlmVkRange *cur = &g_array_index (list, VlmVkRange, i);
    if (cur->end == next->start) {
      cur->end = next->end;
      g_array_remove_index (list, i + 1);
    }
  }
  if (i > 0) {
    VlmVkRange *prev = &g_array_index (list, VlmVkRange, i - 1);
    VlmVkRange *cur = &g_array_index (list, VlmVkRange, i);
    if (prev->end == cur->start) {
      prev->end = cur->end;
      g_array_remove_index (list, i);
    }
  }
}

static gboolean
block_is_empty (const VlmVkBlock *block)
{
  if (block->free->len != 1)
    return FALSE;
  const VlmVkRange *r = &g_array_index (block->free, VlmVkRange, 0);
  return r->start == 0 && r->end == block->size;
}

static VlmVkAllocation *
allocate_locked (VlmVkDevice *vk, gsize nbytes, GError **error)
{
  VkDeviceSize size = ROUND_UP ((VkDeviceSize) MAX (nbytes, 1), vk->alignment);
  VlmVkAllocation *a = g_new0 (VlmVkAllocation, 1);
  a->size = size;

  if (size > DEDICATED_MIN) {
    a->block = block_new (vk, size, vk->storage_type, vk->storage_mapped, TRUE, error);
    if (!a->block) {
      g_free (a);
      return NULL;
    }
    g_ptr_array_add (vk->blocks, a->block);
    return a;
  }
  for (guint i = 0; i < vk->blocks->len; i++) {
    VlmVkBlock *b = g_ptr_array_index (vk->blocks, i);
    if (!b->dedicated && block_take (b, size, &a->offset)) {
      a->block = b;
      return a;
    }
  }
  VlmVkBlock *b = block_new (vk, BLOCK_SIZE, vk->storage_type, vk->storage_mapped, FALSE,
                             error);
  if (!b) {
    g_free (a);
    return NULL;
  }
  g_ptr_array_add (vk->blocks, b);
  block_take (b, size, &a->offset);
  a->block = b;
  return a;
}

/**
 * vlm_vk_storage_release_locked:
 * @vk: the device
 * @storage: a storage no recorded work uses any more
 *
 * Returns the storage's bytes to its block and frees it. A dedicated block
 * is released with it; an emptied shared block is kept only when it is the
 * sole empty one (so scratch tensors do not reallocate 64 MiB each time).
 */
void
vlm_vk_storage_release_locked (VlmVkDevice *vk, VlmStorage *storage)
{
  VlmVkAllocation *a = storage->backend;
  VlmVkBlock *block = a->block;
  if (block->dedicated) {
    g_ptr_array_remove_fast (vk->blocks, block);
    block_free (vk, block);
  } else {
    block_give_back (block, a->offset, a->size);
    if (block_is_empty (block)) {
      guint empty = 0;
      for (guint i = 0; i < vk->blocks->len; i++) {
        VlmVkBlock *b = g_ptr_array_index (vk->blocks, i);
        empty += !b->dedicated && block_is_empty (b);
      }
      if (empty > 1) {
        g_ptr_array_remove_fast (vk->blocks, block);
        block_free (vk, block);
      }
    }
  }
  g_free (a);
  g_free (storage);
}

/**
 * vlm_vk_memory_cleanup:
 * @vk: the device, with no storage left and no work in flight
 *
 * Frees every block and the staging buffer.
 */
void
vlm_vk_memory_cleanup (VlmVkDevice *vk)
{
  if (vk->blocks) {
    for (guint i = 0; i < vk->blocks->len; i++)
      block_free (vk, g_ptr_array_index (vk->blocks, i));
    g_clear_pointer (&vk->blocks, g_ptr_array_unref);
  }
  if (vk->staging) {
    block_free (vk, vk->staging);
    vk->staging = NULL;
  }
}

/**
 * vlm_vk_storage_new:
 * @device: a Vulkan device
 * @nbytes: size in bytes
 * @error: return location for a #GError
 *
 * Backend storage_new: sub-allocates @nbytes (uninitialised).
 *
 * Returns: (transfer full) (nullable): the storage, or %NULL with
 *   %VLM_ERROR_OUT_OF_MEMORY naming the size.
 */
VlmStorage *
vlm_vk_storage_new (VlmDevice *device, gsize nbytes, GError **error)
{
  VlmVkDevice *vk = vlm_vk_device (device);
  VlmVkAllocation *a = NULL;
  g_mutex_lock (&vk->lock);
  if (vlm_vk_fault_alloc_locked (vk)) {
    g_autofree gchar *s = format_size (nbytes);
    vlm_vk_check (VK_ERROR_OUT_OF_DEVICE_MEMORY, vk, error, "Vulkan device %s: cannot allocate %s",
                  vk->props.deviceName, s);
    vlm_vk_fault_mark (&vk->fault, error);
  } else {
    a = allocate_locked (vk, nbytes, error);
  }
  g_mutex_unlock (&vk->lock);
  if (!a)
    return NULL;
  VlmStorage *s = g_new0 (VlmStorage, 1);
  s->device = device;
  s->nbytes = nbytes;
  s->backend = a;
  if (a->block->map)
    s->host = a->block->map + a->offset;
  return s;
}

/**
 * vlm_vk_storage_new_from_data:
 * @device: a Vulkan device
 * @data: bytes to copy
 * @nbytes: their size
 * @notify: (nullable): called with @notify_data once @data is copied (or on
 *   failure)
 * @notify_data: user data for @notify
 * @error: return location for a #GError
 *
 * Backend storage_new_from_data: allocates and uploads a copy of @data.
 *
 * Returns: (transfer full) (nullable): the storage, or %NULL with @error set.
 */
VlmStorage *
vlm_vk_storage_new_from_data (VlmDevice *device, gconstpointer data, gsize nbytes,
                              GDestroyNotify notify, gpointer notify_data, GError **error)
{
  VlmStorage *s = vlm_vk_storage_new (device, nbytes, error);
  if (s && !vlm_vk_upload (device, s, 0, data, nbytes, error)) {
    VlmVkDevice *vk = vlm_vk_device (device);
    g_mutex_lock (&vk->lock);
    vlm_vk_storage_release_locked (vk, s);
    g_mutex_unlock (&vk->lock);
    s = NULL;
  }
  if (notify)
    notify (notify_data);
  return s;
}

/**
 * vlm_vk_storage_free:
 * @device: a Vulkan device
 * @storage: a storage whose last reference went
 *
 * Backend storage_free: releases @storage now, or after the recorded work
 * that uses it has completed (at the next submission).
 */
void
vlm_vk_storage_free (VlmDevice *device, VlmStorage *storage)
{
  VlmVkDevice *vk = vlm_vk_device (device);
  VlmVkAllocation *a = storage->backend;
  g_mutex_lock (&vk->lock);
  if (vk->recording && a->use_serial == vk->serial)
    g_ptr_array_add (vk->deferred, storage);
  else
    vlm_vk_storage_release_locked (vk, storage);
  g_mutex_unlock (&vk->lock);
}

static gboolean
ensure_staging_locked (VlmVkDevice *vk, GError **error)
{
  if (vk->staging)
    return TRUE;
  vk->staging = block_new (vk, STAGING_SIZE, vk->staging_type, TRUE, TRUE, error);
  return vk->staging != NULL;
}

static gboolean
check_usable_locked (VlmVkDevice *vk, const gchar *what, GError **error)
{
  if (!vk->lost)
    return TRUE;
  g_set_error (error, VLM_ERROR, VLM_ERROR_DEVICE, "Vulkan device %s: cannot %s: the device "
               "was lost", vk->props.deviceName, what);
  return FALSE;
}

/**
 * vlm_vk_upload:
 * @device: a Vulkan device
 * @storage: destination
 * @offset: byte offset inside @storage
 * @data: source bytes
 * @nbytes: how many
 * @error: return location for a #GError
 *
 * Backend upload. Recorded work that uses @storage is submitted and waited
 * for first, so it sees the old contents.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_vk_upload (VlmDevice *device, VlmStorage *storage, gsize offset, gconstpointer data,
               gsize nbytes, GError **error)
{
  VlmVkDevice *vk = vlm_vk_device (device);
  VlmVkAllocation *a = storage->backend;
  gboolean ok = TRUE;

  g_mutex_lock (&vk->lock);
  if (!check_usable_locked (vk, "upload", error) ||
      (vk->recording && a->use_serial == vk->serial && !vlm_vk_flush_locked (vk, error))) {
    ok = FALSE;
  } else if (a->block->map) {
    memcpy (a->block->map + a->offset + offset, data, nbytes);
  } else if (!ensure_staging_locked (vk, error)) {
    ok = FALSE;
  } else {
    for (gsize done = 0; ok && done < nbytes; done += STAGING_SIZE) {
      gsize chunk = MIN (nbytes - done, STAGING_SIZE);
      memcpy (vk->staging->map, (const guint8 *) data + done, chunk);
      ok = vlm_vk_copy_locked (vk, vk->staging->buffer, 0, a->block->buffer,
                               a->offset + offset + done, chunk, error);
    }
  }
  g_mutex_unlock (&vk->lock);
  return ok;
}

/**
 * vlm_vk_download:
 * @device: a Vulkan device
 * @storage: source
 * @offset: byte offset inside @storage
 * @data: destination
 * @nbytes: how many bytes
 * @error: return location for a #GError
 *
 * Backend download: submits the recorded work, waits for it, then copies.
 *
 * Returns: %TRUE on success; %FALSE with @error set when the work failed.
 */
gboolean
vlm_vk_download (VlmDevice *device, VlmStorage *storage, gsize offset, gpointer data,
                 gsize nbytes, GError **error)
{
  VlmVkDevice *vk = vlm_vk_device (device);
  VlmVkAllocation *a = storage->backend;
  gboolean ok = TRUE;

  g_mutex_lock (&vk->lock);
  if (!check_usable_locked (vk, "download", error) || !vlm_vk_flush_locked (vk, error)) {
    ok = FALSE;
  } else if (a->block->map) {
    memcpy (data, a->block->map + a->offset + offset, nbytes);
  } else if (!ensure_staging_locked (vk, error)) {
    ok = FALSE;
  } else {
    for (gsize done = 0; ok && done < nbytes; done += STAGING_SIZE) {
      gsize chunk = MIN (nbytes - done, STAGING_SIZE);
      ok = vlm_vk_copy_locked (vk, a->block->buffer, a->offset + offset + done,
                               vk->staging->buffer, 0, chunk, error);
      if (ok)
        memcpy ((guint8 *) data + done, vk->staging->map, chunk);
    }
  }
  g_mutex_unlock (&vk->lock);
  return ok;
}
