/* gst-vlm engine — state shared by the Vulkan device, memory and dispatch
 * code (vlm-vulkan-device.c, vlm-vulkan-memory.c, vlm-vulkan-dispatch.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Op files (op-*.c) do not include this header: they see only vlm-vulkan.h.
 *
 * Locking: one mutex per device (VlmVkDevice.lock) guards recording,
 * submission, the allocator and the pipeline cache. Functions named *_locked
 * expect it held.
 */
#pragma once

#include <vulkan/vulkan.h>

#include "vlm-vulkan.h"

G_BEGIN_DECLS

typedef struct _VlmVkBlock VlmVkBlock;

/* One VkBuffer over one VkDeviceMemory, sub-allocated by a free list. */
struct _VlmVkBlock {
  VkBuffer buffer;
  VkDeviceMemory memory;
  guint8 *map;               /* persistent mapping, NULL when not host-visible */
  VkDeviceSize size;
  gboolean dedicated;        /* one storage only, released with it */
  GArray *free;              /* VlmVkRange, sorted by offset, coalesced */
};

/* Fault injection (vlm-vulkan-fault.c, VLM_VULKAN_FAULT). */
typedef enum {
  VLM_VK_FAULT_INIT,
  VLM_VK_FAULT_ALLOC,
  VLM_VK_FAULT_SUBMIT,
  VLM_VK_FAULT_LOST,
  VLM_VK_FAULT_N_KINDS,
} VlmVkFaultKind;

typedef struct {
  guint32 at[VLM_VK_FAULT_N_KINDS];  /* 0 = off, else N of KIND:N */
  gchar spec[64];                    /* the variable's value, for messages */
} VlmVkFaultPlan;

/* A byte range [start, end) of a buffer. */
typedef struct {
  VkBuffer buffer;
  VkDeviceSize start;
  VkDeviceSize end;
} VlmVkRange;

/* Vulkan's VlmStorage.backend: where the storage lives. */
typedef struct {
  VlmVkBlock *block;
  VkDeviceSize offset;       /* inside block->buffer, aligned */
  VkDeviceSize size;         /* reserved bytes (≥ nbytes, rounded up) */
  guint64 use_serial;        /* recording that last bound it (see serial) */
} VlmVkAllocation;

typedef struct {
  VkInstance instance;
  VkPhysicalDevice physical;
  VkDevice device;
  VkQueue queue;
  guint32 queue_family;
  VkPhysicalDeviceProperties props;
  VkPhysicalDeviceMemoryProperties memory_props;
  VkDeviceSize max_allocation;     /* maxMemoryAllocationSize */
  guint32 max_push_descriptors;    /* 0 without VK_KHR_push_descriptor */
  PFN_vkCmdPushDescriptorSetKHR push_descriptor_set;
  VlmVkLimits limits;

  GMutex lock;
  gboolean lost;                   /* VK_ERROR_DEVICE_LOST seen */
  VlmVkFaultPlan fault;            /* VLM_VULKAN_FAULT when the device was opened */
  guint64 submissions;             /* vkQueueSubmit calls so far (lock) */

  /* Memory (vlm-vulkan-memory.c). */
  guint32 storage_type;            /* memory type of storages */
  gboolean storage_mapped;         /* storages host-visible: no staging */
  guint32 staging_type;            /* host-visible coherent type for staging */
  VkDeviceSize alignment;          /* of every sub-allocation */
  GPtrArray *blocks;               /* VlmVkBlock, owned */
  VlmVkBlock *staging;             /* lazily made when !storage_mapped */

  /* Dispatch (vlm-vulkan-dispatch.c). */
  GHashTable *pipelines;           /* key string → VlmVkPipeline */
  GPtrArray *descriptor_pools;     /* fallback without push descriptors */
  guint descriptor_pool_index;     /* pool being allocated from */
  VkCommandPool command_pool;
  VkCommandBuffer cmd;
  VkFence fence;
  gboolean recording;              /* cmd begun, holds dispatches */
  guint64 serial;                  /* identifies the current recording */
  GArray *written;                 /* VlmVkRange written since the last barrier */
  GArray *read;                    /* VlmVkRange read since the last barrier */
  GPtrArray *deferred;             /* VlmStorage to free once cmd completes */
} VlmVkDevice;

static inline VlmVkDevice *
vlm_vk_device (VlmDevice *device)
{
  return (VlmVkDevice *) device->priv;
}

/* vlm-vulkan-device.c */
gboolean vlm_vk_check (VkResult result, VlmVkDevice *vk, GError **error,
                       const gchar *format, ...) G_GNUC_PRINTF (4, 5);
const gchar *vlm_vk_result_to_string (VkResult result);

/* vlm-vulkan-fault.c */
gboolean vlm_vk_fault_parse          (const gchar *spec, VlmVkFaultPlan *plan, GError **error);
gboolean vlm_vk_fault_plan_from_env  (VlmVkFaultPlan *plan, GError **error);
gboolean vlm_vk_fault_check_init     (GError **error);
void     vlm_vk_fault_mark           (const VlmVkFaultPlan *plan, GError **error);
gboolean vlm_vk_fault_alloc_locked   (const VlmVkDevice *vk);
gboolean vlm_vk_fault_submit_locked  (const VlmVkDevice *vk, VlmVkFaultKind kind);

/* vlm-vulkan-memory.c */
gboolean    vlm_vk_memory_init          (VlmVkDevice *vk, GError **error);
void        vlm_vk_memory_cleanup       (VlmVkDevice *vk);
void        vlm_vk_storage_release_locked (VlmVkDevice *vk, VlmStorage *storage);
VlmStorage *vlm_vk_storage_new          (VlmDevice *device, gsize nbytes, GError **error);
VlmStorage *vlm_vk_storage_new_from_data (VlmDevice *device, gconstpointer data, gsize nbytes,
                                          GDestroyNotify notify, gpointer notify_data,
                                          GError **error);
void        vlm_vk_storage_free         (VlmDevice *device, VlmStorage *storage);
gboolean    vlm_vk_upload               (VlmDevice *device, VlmStorage *storage, gsize offset,
                                         gconstpointer data, gsize nbytes, GError **error);
gboolean    vlm_vk_download             (VlmDevice *device, VlmStorage *storage, gsize offset,
                                         gpointer data, gsize nbytes, GError **error);

/* vlm-vulkan-dispatch.c */
gboolean vlm_vk_dispatch_init    (VlmVkDevice *vk, GError **error);
void     vlm_vk_dispatch_cleanup (VlmVkDevice *vk);
gboolean vlm_vk_flush_locked     (VlmVkDevice *vk, GError **error);
gboolean vlm_vk_copy_locked      (VlmVkDevice *vk, VkBuffer src, VkDeviceSize src_offset,
                                  VkBuffer dst, VkDeviceSize dst_offset, VkDeviceSize size,
                                  GError **error);
gboolean vlm_vk_sync             (VlmDevice *device, GError **error);

G_END_DECLS
