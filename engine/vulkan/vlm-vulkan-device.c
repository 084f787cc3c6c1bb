/* gst-vlm engine — Vulkan instance, physical-device listing, logical device
 * creation and the backend table.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One VkInstance per process, made on first use. Environment:
 *  - VLM_VULKAN_VALIDATION=1: enable VK_LAYER_KHRONOS_validation and report
 *    every warning or error it emits with g_critical() (device creation fails
 *    when the layer is not installed). Read once, when the instance is made.
 *  - VLM_VULKAN_NO_FP16=1: do not enable shaderFloat16 and 16-bit storage.
 *  - VLM_VULKAN_NO_PUSH_DESCRIPTOR=1: use descriptor pools even when
 *    VK_KHR_push_descriptor is available (tests the fallback path).
 *  - VLM_VULKAN_FORCE_STAGING=1 (vlm-vulkan-memory.c): upload and download
 *    through staging copies even on unified memory (tests that path).
 *  - VLM_VULKAN_FAULT=init|alloc[:N]|submit[:N]|lost[:N] (vlm-vulkan-fault.c):
 *    inject failures (Vulkan unavailable, out of device memory, a failed
 *    submission, device lost) through the real error paths, for tests.
 */
#include <string.h>

#include "vlm-vulkan-private.h"

#define VLM_VK_API_VERSION VK_API_VERSION_1_2
#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

typedef struct {
  VkInstance instance;             /* VK_NULL_HANDLE when creation failed */
  gchar *error;                    /* why it failed */
  gchar *validation_error;         /* validation asked for but unavailable */
  VkDebugUtilsMessengerEXT messenger;
} VlmVkInstance;

static gboolean
env_flag (const gchar *name)
{
  const gchar *v = g_getenv (name);
  return v && *v && strcmp (v, "0") != 0;
}

/**
 * vlm_vk_result_to_string:
 * @result: a Vulkan result code
 *
 * Returns: the code's name, e.g. "VK_ERROR_DEVICE_LOST".
 */
const gchar *
vlm_vk_result_to_string (VkResult result)
{
  switch (result) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_INCOMPLETE: return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FRAGMENTED_POOL: return "VK_ERROR_FRAGMENTED_POOL";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    case VK_ERROR_INVALID_SHADER_NV: return "VK_ERROR_INVALID_SHADER_NV";
    default: return "unknown VkResult";
  }
}

/**
 * vlm_vk_check:
 * @result: what a Vulkan call returned
 * @vk: (nullable): the device the call was made on, marked lost on
 *   VK_ERROR_DEVICE_LOST
 * @error: return location for a #GError
 * @format: printf-style description of what failed
 * @...: arguments for @format
 *
 * Turns a failed Vulkan call into a #GError: out-of-memory results become
 * %VLM_ERROR_OUT_OF_MEMORY, anything else %VLM_ERROR_DEVICE.
 *
 * Returns: %TRUE when @result is VK_SUCCESS.
 */
gboolean
vlm_vk_check (VkResult result, VlmVkDevice *vk, GError **error, const gchar *format, ...)
{
  if (result == VK_SUCCESS)
    return TRUE;
  va_list ap;
  va_start (ap, format);
  g_autofree gchar *what = g_strdup_vprintf (format, ap);
  va_end (ap);
  gint code = VLM_ERROR_DEVICE;
  if (result == VK_ERROR_OUT_OF_HOST_MEMORY || result == VK_ERROR_OUT_OF_DEVICE_MEMORY)
    code = VLM_ERROR_OUT_OF_MEMORY;
  if (result == VK_ERROR_DEVICE_LOST && vk)
    vk->lost = TRUE;
  g_set_error (error, VLM_ERROR, code, "%s: %s", what, vlm_vk_result_to_string (result));
  return FALSE;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL
debug_callback (VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                VkDebugUtilsMessageTypeFlagsEXT types,
                const VkDebugUtilsMessengerCallbackDataEXT *data, void *user_data)
{
  const gchar *kind = (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? "error"
      : "warning";
  g_critical ("Vulkan validation %s: %s", kind,
              data && data->pMessage ? data->pMessage : "(no message)");
  return VK_FALSE;
}

static gboolean
have_validation_layer (void)
{
  guint32 n = 0;
  if (vkEnumerateInstanceLayerProperties (&n, NULL) != VK_SUCCESS || n == 0)
    return FALSE;
  g_autofree VkLayerProperties *layers = g_new0 (VkLayerProperties, n);
  if (vkEnumerateInstanceLayerProperties (&n, layers) != VK_SUCCESS)
    return FALSE;
  for (guint32 i = 0; i < n; i++)
    if (strcmp (layers[i].layerName, VALIDATION_LAYER) == 0)
      return TRUE;
  return FALSE;
}

static VlmVkInstance *
instance_create (void)
{
  VlmVkInstance *inst = g_new0 (VlmVkInstance, 1);
  gboolean validation = FALSE;

  if (env_flag ("VLM_VULKAN_VALIDATION")) {
    if (have_validation_layer ())
      validation = TRUE;
    else
      inst->validation_error = g_strdup (
          "VLM_VULKAN_VALIDATION is set but the Vulkan layer " VALIDATION_LAYER
          " is not installed (Debian package vulkan-validationlayers)");
  }

  guint32 loader_version = VK_API_VERSION_1_0;
  if (vkEnumerateInstanceVersion (&loader_version) != VK_SUCCESS ||
      loader_version < VLM_VK_API_VERSION) {
    inst->error = g_strdup_printf ("the Vulkan loader supports API %u.%u, gst-vlm needs 1.2",
                                   VK_API_VERSION_MAJOR (loader_version),
                                   VK_API_VERSION_MINOR (loader_version));
    return inst;
  }

  VkApplicationInfo app = {
    .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
    .pApplicationName = "gst-vlm",
    .pEngineName = "gst-vlm",
    .apiVersion = VLM_VK_API_VERSION,
  };
  VkDebugUtilsMessengerCreateInfoEXT messenger_info = {
    .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
    .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
        VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
    .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
        VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
        VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
    .pfnUserCallback = debug_callback,
  };
  const gchar *layers[] = { VALIDATION_LAYER };
  const gchar *extensions[] = { VK_EXT_DEBUG_UTILS_EXTENSION_NAME };
  VkInstanceCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
    /* Also reports messages from vkCreateInstance and vkDestroyInstance. */
    .pNext = validation ? &messenger_info : NULL,
    .pApplicationInfo = &app,
    .enabledLayerCount = validation ? 1 : 0,
    .ppEnabledLayerNames = layers,
    .enabledExtensionCount = validation ? 1 : 0,
    .ppEnabledExtensionNames = extensions,
  };
  VkResult res = vkCreateInstance (&info, NULL, &inst->instance);
  if (res != VK_SUCCESS) {
    inst->instance = VK_NULL_HANDLE;
    inst->error = g_strdup_printf ("cannot create a Vulkan instance (%s%s)",
                                   vlm_vk_result_to_string (res),
                                   res == VK_ERROR_INCOMPATIBLE_DRIVER ?
                                   ": no Vulkan driver installed" : "");
    return inst;
  }

  if (validation) {
    PFN_vkCreateDebugUtilsMessengerEXT create = (PFN_vkCreateDebugUtilsMessengerEXT)
        vkGetInstanceProcAddr (inst->instance, "vkCreateDebugUtilsMessengerEXT");
    if (!create || create (inst->instance, &messenger_info, NULL, &inst->messenger) !=
        VK_SUCCESS)
      inst->validation_error = g_strdup ("VLM_VULKAN_VALIDATION is set but the debug "
                                         "messenger of " VALIDATION_LAYER " cannot be made");
  }
  return inst;
}

/* The process-wide instance, made once, thread-safely. Never NULL; check
 * ->instance. */
static const VlmVkInstance *
instance_get (void)
{
  static VlmVkInstance *instance = NULL;
  if (g_once_init_enter (&instance))
    g_once_init_leave (&instance, instance_create ());
  return instance;
}

static gboolean
enumerate_physical (VkPhysicalDevice **devices, guint32 *n, GError **error)
{
  if (!vlm_vk_fault_check_init (error))
    return FALSE;
  const VlmVkInstance *inst = instance_get ();
  if (!inst->instance) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_DEVICE, "Vulkan: %s", inst->error);
    return FALSE;
  }
  *n = 0;
  if (!vlm_vk_check (vkEnumeratePhysicalDevices (inst->instance, n, NULL), NULL, error,
                     "Vulkan: cannot list physical devices"))
    return FALSE;
  *devices = g_new0 (VkPhysicalDevice, MAX (*n, 1));
  VkResult res = vkEnumeratePhysicalDevices (inst->instance, n, *devices);
  if (res != VK_SUCCESS && res != VK_INCOMPLETE) {
    g_clear_pointer (devices, g_free);
    return vlm_vk_check (res, NULL, error, "Vulkan: cannot list physical devices");
  }
  return TRUE;
}

static VlmDeviceType
device_type (VkPhysicalDeviceType type)
{
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return VLM_DEVICE_TYPE_INTEGRATED_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return VLM_DEVICE_TYPE_DISCRETE_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return VLM_DEVICE_TYPE_VIRTUAL_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return VLM_DEVICE_TYPE_CPU;
    default:
      return VLM_DEVICE_TYPE_OTHER;
  }
}

/* Index of the largest device-local heap, or of the largest heap when none
 * is device-local. */
static guint32
main_heap (const VkPhysicalDeviceMemoryProperties *mem)
{
  guint32 best = 0;
  gboolean best_local = FALSE;
  for (guint32 i = 0; i < mem->memoryHeapCount; i++) {
    gboolean local = (mem->memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0;
    if ((local && !best_local) ||
        (local == best_local && mem->memoryHeaps[i].size > mem->memoryHeaps[best].size)) {
      best = i;
      best_local = local;
    }
  }
  return best;
}

static gboolean
is_unified (const VkPhysicalDeviceMemoryProperties *mem)
{
  const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT |
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  guint32 heap = main_heap (mem);
  for (guint32 i = 0; i < mem->memoryTypeCount; i++)
    if (mem->memoryTypes[i].heapIndex == heap &&
        (mem->memoryTypes[i].propertyFlags & want) == want)
      return TRUE;
  return FALSE;
}

/* Features gst-vlm cares about; only asked of devices with API ≥ 1.2. */
static void
query_fp16 (VkPhysicalDevice physical, guint32 api_version, gboolean *float16,
            gboolean *storage16)
{
  *float16 = *storage16 = FALSE;
  if (api_version < VLM_VK_API_VERSION)
    return;
  VkPhysicalDeviceVulkan12Features f12 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
  };
  VkPhysicalDeviceVulkan11Features f11 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
    .pNext = &f12,
  };
  VkPhysicalDeviceFeatures2 features = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
    .pNext = &f11,
  };
  vkGetPhysicalDeviceFeatures2 (physical, &features);
  *float16 = f12.shaderFloat16;
  *storage16 = f11.storageBuffer16BitAccess;
}

static void
fill_info (VkPhysicalDevice physical, guint index, VlmVulkanDeviceInfo *info)
{
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties (physical, &props);

  VkPhysicalDeviceDriverProperties driver = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES,
  };
  VkPhysicalDeviceSubgroupProperties subgroup = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
    /* Driver properties are core in 1.2 only. */
    .pNext = props.apiVersion >= VLM_VK_API_VERSION ? &driver : NULL,
  };
  VkPhysicalDeviceProperties2 props2 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
    .pNext = &subgroup,
  };
  vkGetPhysicalDeviceProperties2 (physical, &props2);

  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties (physical, &mem);

  gboolean float16, storage16;
  query_fp16 (physical, props.apiVersion, &float16, &storage16);

  memset (info, 0, sizeof (*info));
  info->index = index;
  g_strlcpy (info->name, props.deviceName, sizeof (info->name));
  info->type = device_type (props.deviceType);
  info->api_version = props.apiVersion;
  if (props.apiVersion >= VLM_VK_API_VERSION)
    g_snprintf (info->driver, sizeof (info->driver), "%s %s", driver.driverName,
                driver.driverInfo);
  else
    g_snprintf (info->driver, sizeof (info->driver), "driver version %u",
                props.driverVersion);
  info->fp16 = float16 && storage16;
  info->subgroup_size = subgroup.subgroupSize;
  info->shared_memory = props.limits.maxComputeSharedMemorySize;
  info->max_workgroup_invocations = props.limits.maxComputeWorkGroupInvocations;
  info->max_storage_buffer_range = props.limits.maxStorageBufferRange;
  guint32 heap = main_heap (&mem);
  if (mem.memoryHeaps[heap].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
    info->device_local_bytes = mem.memoryHeaps[heap].size;
  info->unified_memory = is_unified (&mem);
}

/**
 * vlm_vulkan_list_devices:
 * @devices: (out) (transfer full): return location for a #GArray of
 *   #VlmVulkanDeviceInfo, in Vulkan's enumeration order
 * @error: return location for a #GError
 *
 * Lists the Vulkan physical devices with the features gst-vlm uses. The
 * list is empty when Vulkan works but offers no device.
 *
 * Returns: %TRUE on success; %FALSE with @error set (and @devices untouched)
 *   when Vulkan cannot be initialised.
 */
gboolean
vlm_vulkan_list_devices (GArray **devices, GError **error)
{
  g_autofree VkPhysicalDevice *physical = NULL;
  guint32 n = 0;
  if (!enumerate_physical (&physical, &n, error))
    return FALSE;
  GArray *list = g_array_sized_new (FALSE, TRUE, sizeof (VlmVulkanDeviceInfo), n);
  g_array_set_size (list, n);
  for (guint32 i = 0; i < n; i++)
    fill_info (physical[i], i, &g_array_index (list, VlmVulkanDeviceInfo, i));
  *devices = list;
  return TRUE;
}

static gboolean
has_extension (VkPhysicalDevice physical, const gchar *name)
{
  guint32 n = 0;
  if (vkEnumerateDeviceExtensionProperties (physical, NULL, &n, NULL) != VK_SUCCESS || n == 0)
    return FALSE;
  g_autofree VkExtensionProperties *ext = g_new0 (VkExtensionProperties, n);
  if (vkEnumerateDeviceExtensionProperties (physical, NULL, &n, ext) != VK_SUCCESS)
    return FALSE;
  for (guint32 i = 0; i < n; i++)
    if (strcmp (ext[i].extensionName, name) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
pick_queue_family (VkPhysicalDevice physical, guint32 *family)
{
  guint32 n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties (physical, &n, NULL);
  g_autofree VkQueueFamilyProperties *fam = g_new0 (VkQueueFamilyProperties, MAX (n, 1));
  vkGetPhysicalDeviceQueueFamilyProperties (physical, &n, fam);
  for (guint32 i = 0; i < n; i++) {
    if ((fam[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && fam[i].queueCount > 0) {
      *family = i;
      return TRUE;
    }
  }
  return FALSE;
}

static void destroy (VlmDevice *device);

static const VlmBackend vlm_vulkan_backend = {
  .name = "vulkan",
  .destroy = destroy,
  .storage_new = vlm_vk_storage_new,
  .storage_new_from_data = vlm_vk_storage_new_from_data,
  .storage_free = vlm_vk_storage_free,
  .upload = vlm_vk_upload,
  .download = vlm_vk_download,
  .sync = vlm_vk_sync,
  .matmul = vlm_vk_matmul,
  .layernorm = vlm_vk_layernorm,
  .softmax = vlm_vk_softmax,
  .unary = vlm_vk_unary,
  .binary = vlm_vk_binary,
  .attention = vlm_vk_attention,
  .patchify = vlm_vk_patchify,
  .gather_rows = vlm_vk_gather_rows,
  .topk = vlm_vk_topk,
  .preprocess = vlm_vk_preprocess,
};

/* Creates the VkDevice and its queue; fills the properties and limits. */
static gboolean
create_logical (VlmVkDevice *vk, guint index, gboolean *fp16, GError **error)
{
  VkPhysicalDevice physical = vk->physical;
  const gchar *name = vk->props.deviceName;

  guint32 family;
  if (!pick_queue_family (physical, &family)) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
                 "device vulkan:%u (%s): no queue family supports compute", index, name);
    return FALSE;
  }
  vk->queue_family = family;

  gboolean float16, storage16;
  query_fp16 (physical, vk->props.apiVersion, &float16, &storage16);
  *fp16 = float16 && storage16 && !env_flag ("VLM_VULKAN_NO_FP16");

  gboolean push = has_extension (physical, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME) &&
      !env_flag ("VLM_VULKAN_NO_PUSH_DESCRIPTOR");

  VkPhysicalDevicePushDescriptorPropertiesKHR push_props = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PUSH_DESCRIPTOR_PROPERTIES_KHR,
  };
  VkPhysicalDeviceMaintenance3Properties maint3 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
    .pNext = push ? &push_props : NULL,
  };
  VkPhysicalDeviceSubgroupProperties subgroup = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
    .pNext = &maint3,
  };
  VkPhysicalDeviceProperties2 props2 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
    .pNext = &subgroup,
  };
  vkGetPhysicalDeviceProperties2 (physical, &props2);
  vkGetPhysicalDeviceMemoryProperties (physical, &vk->memory_props);
  vk->max_allocation = maint3.maxMemoryAllocationSize;
  vk->max_push_descriptors = push ? push_props.maxPushDescriptors : 0;

  const VkPhysicalDeviceLimits *lim = &vk->props.limits;
  vk->limits.subgroup_size = subgroup.subgroupSize;
  vk->limits.shared_memory = lim->maxComputeSharedMemorySize;
  vk->limits.max_workgroup_invocations = lim->maxComputeWorkGroupInvocations;
  for (guint i = 0; i < 3; i++)
    vk->limits.max_groups[i] = lim->maxComputeWorkGroupCount[i];
  vk->limits.fp16 = *fp16;

  gfloat priority = 1.0f;
  VkDeviceQueueCreateInfo queue_info = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
    .queueFamilyIndex = family,
    .queueCount = 1,
    .pQueuePriorities = &priority,
  };
  VkPhysicalDeviceVulkan12Features f12 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
    .shaderFloat16 = *fp16,
  };
  VkPhysicalDeviceVulkan11Features f11 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
    .pNext = &f12,
    .storageBuffer16BitAccess = *fp16,
  };
  const gchar *extensions[] = { VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME };
  VkDeviceCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
    .pNext = &f11,
    .queueCreateInfoCount = 1,
    .pQueueCreateInfos = &queue_info,
    .enabledExtensionCount = push ? 1 : 0,
    .ppEnabledExtensionNames = extensions,
  };
  if (!vlm_vk_check (vkCreateDevice (physical, &info, NULL, &vk->device), NULL, error,
                     "device vulkan:%u (%s): cannot create the logical device", index, name)) {
    vk->device = VK_NULL_HANDLE;
    return FALSE;
  }
  vkGetDeviceQueue (vk->device, family, 0, &vk->queue);
  if (push) {
    vk->push_descriptor_set = (PFN_vkCmdPushDescriptorSetKHR)
        vkGetDeviceProcAddr (vk->device, "vkCmdPushDescriptorSetKHR");
    if (!vk->push_descriptor_set)
      vk->max_push_descriptors = 0;
  }
  return TRUE;
}

static void
vk_free (VlmVkDevice *vk)
{
  vlm_vk_dispatch_cleanup (vk);
  vlm_vk_memory_cleanup (vk);
  if (vk->device)
    vkDestroyDevice (vk->device, NULL);
  g_mutex_clear (&vk->lock);
  g_free (vk);
}

/**
 * vlm_vulkan_device_new:
 * @index: the physical device's index in Vulkan's enumeration
 * @error: return location for a #GError
 *
 * Opens Vulkan device @index: a logical device with one compute queue,
 * shaderFloat16 and storageBuffer16BitAccess enabled when the device has both
 * (and VLM_VULKAN_NO_FP16 is unset), VK_KHR_push_descriptor when available.
 * With VLM_VULKAN_VALIDATION=1 the validation layer checks every call and
 * its messages are reported with g_critical().
 *
 * Returns: (transfer full) (nullable): the device, or %NULL with @error set.
 */
VlmDevice *
vlm_vulkan_device_new (guint index, GError **error)
{
  g_autofree VkPhysicalDevice *physical = NULL;
  guint32 n = 0;
  if (!enumerate_physical (&physical, &n, error))
    return NULL;
  const VlmVkInstance *inst = instance_get ();
  if (inst->validation_error) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_DEVICE, "device vulkan:%u: %s", index,
                 inst->validation_error);
    return NULL;
  }
  if (index >= n) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_DEVICE,
                 "device vulkan:%u: no such device (Vulkan offers %u device%s; see "
                 "`vlm devices`)", index, n, n == 1 ? "" : "s");
    return NULL;
  }

  VlmVkDevice *vk = g_new0 (VlmVkDevice, 1);
  g_mutex_init (&vk->lock);
  vk->instance = inst->instance;
  vk->physical = physical[index];
  /* validated by enumerate_physical() */
  vlm_vk_fault_plan_from_env (&vk->fault, NULL);
  vkGetPhysicalDeviceProperties (vk->physical, &vk->props);
  if (vk->props.apiVersion < VLM_VK_API_VERSION) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
                 "device vulkan:%u (%s): supports Vulkan %u.%u, gst-vlm needs 1.2", index,
                 vk->props.deviceName, VK_API_VERSION_MAJOR (vk->props.apiVersion),
                 VK_API_VERSION_MINOR (vk->props.apiVersion));
    vk_free (vk);
    return NULL;
  }

  gboolean fp16 = FALSE;
  if (!create_logical (vk, index, &fp16, error) || !vlm_vk_memory_init (vk, error) ||
      !vlm_vk_dispatch_init (vk, error)) {
    vk_free (vk);
    return NULL;
  }

  VlmDevice *device = g_new0 (VlmDevice, 1);
  device->ref_count = 1;
  device->backend = &vlm_vulkan_backend;
  device->kind = VLM_BACKEND_VULKAN;
  device->name = g_strdup_printf ("vulkan:%u (%s, %s)", index, vk->props.deviceName,
                                  vlm_device_type_to_string (device_type (vk->props.deviceType)));
  device->fp16 = fp16;
  device->priv = vk;
  return device;
}

static void
destroy (VlmDevice *device)
{
  VlmVkDevice *vk = vlm_vk_device (device);
  g_autoptr (GError) error = NULL;
  g_mutex_lock (&vk->lock);
  if (!vlm_vk_flush_locked (vk, &error))
    g_warning ("gst-vlm: %s: recorded work failed while closing: %s", device->name,
               error->message);
  g_mutex_unlock (&vk->lock);
  vk_free (vk);
  device->priv = NULL;
}
