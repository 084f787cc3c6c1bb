/* gst-vlm engine — compute devices (CPU backend, Vulkan devices).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * VLM_ERROR:
 *
 * Error domain of the engine. Messages always name the thing at fault and
 * the reason (a file, a tensor, a device, a shape).
 */
#define VLM_ERROR (vlm_error_quark ())
GQuark vlm_error_quark (void);

/**
 * VlmError:
 * @VLM_ERROR_INVALID_ARGUMENT: bad argument (shape, dtype, option string)
 * @VLM_ERROR_DEVICE: a device could not be found, created or used
 * @VLM_ERROR_OUT_OF_MEMORY: an allocation failed
 * @VLM_ERROR_FILE: a file is missing, unreadable or corrupt
 * @VLM_ERROR_FORMAT: a file is readable but its content is not valid
 * @VLM_ERROR_UNSUPPORTED: valid, but not supported by this build or device
 *
 * Error codes in the %VLM_ERROR domain.
 */
typedef enum {
  VLM_ERROR_INVALID_ARGUMENT,
  VLM_ERROR_DEVICE,
  VLM_ERROR_OUT_OF_MEMORY,
  VLM_ERROR_FILE,
  VLM_ERROR_FORMAT,
  VLM_ERROR_UNSUPPORTED,
} VlmError;

/**
 * VlmBackendKind:
 * @VLM_BACKEND_CPU: C11 kernels on the host's cores
 * @VLM_BACKEND_VULKAN: Vulkan compute shaders
 *
 * Which backend a #VlmDevice runs on.
 */
typedef enum {
  VLM_BACKEND_CPU,
  VLM_BACKEND_VULKAN,
} VlmBackendKind;

/**
 * VlmDeviceType:
 * @VLM_DEVICE_TYPE_OTHER: unknown kind of Vulkan device
 * @VLM_DEVICE_TYPE_INTEGRATED_GPU: a GPU sharing memory with the host
 * @VLM_DEVICE_TYPE_DISCRETE_GPU: a GPU with its own memory
 * @VLM_DEVICE_TYPE_VIRTUAL_GPU: a virtualised GPU
 * @VLM_DEVICE_TYPE_CPU: a Vulkan implementation running on the CPU (lavapipe)
 *
 * The physical kind of a Vulkan device, as reported by the driver.
 */
typedef enum {
  VLM_DEVICE_TYPE_OTHER,
  VLM_DEVICE_TYPE_INTEGRATED_GPU,
  VLM_DEVICE_TYPE_DISCRETE_GPU,
  VLM_DEVICE_TYPE_VIRTUAL_GPU,
  VLM_DEVICE_TYPE_CPU,
} VlmDeviceType;

/**
 * VlmVulkanDeviceInfo:
 * @index: index in Vulkan's physical-device enumeration (the N of `vulkan:N`)
 * @name: driver-reported device name
 * @type: kind of device
 * @api_version: packed Vulkan API version the device supports
 * @driver: driver name and version string
 * @fp16: %TRUE when the device has both shaderFloat16 and
 *   storageBuffer16BitAccess, so f16 weights can be stored on it
 * @subgroup_size: default subgroup size
 * @shared_memory: maxComputeSharedMemorySize in bytes
 * @max_workgroup_invocations: maxComputeWorkGroupInvocations
 * @max_storage_buffer_range: maxStorageBufferRange in bytes
 * @device_local_bytes: size of the largest device-local heap
 * @unified_memory: %TRUE when device-local memory is also host-visible
 *
 * What `vlm devices` prints about one Vulkan device.
 */
typedef struct {
  guint index;
  gchar name[256];
  VlmDeviceType type;
  guint32 api_version;
  gchar driver[256];
  gboolean fp16;
  guint subgroup_size;
  guint64 shared_memory;
  guint max_workgroup_invocations;
  guint64 max_storage_buffer_range;
  guint64 device_local_bytes;
  gboolean unified_memory;
} VlmVulkanDeviceInfo;

/**
 * VlmDevice:
 *
 * An opened compute device: the CPU backend or one Vulkan device. Reference
 * counted; thread-safe for use from one thread at a time per device (ops on a
 * device are serialised by the caller or by the model instance that owns it).
 */
typedef struct _VlmDevice VlmDevice;

const gchar   *vlm_device_type_to_string (VlmDeviceType type);

gboolean       vlm_vulkan_list_devices   (GArray **devices, GError **error);

VlmDevice     *vlm_device_open           (const gchar *spec, GError **error);
VlmDevice     *vlm_device_ref            (VlmDevice *device);
void           vlm_device_unref          (VlmDevice *device);

VlmBackendKind vlm_device_get_backend    (VlmDevice *device);
const gchar   *vlm_device_get_name       (VlmDevice *device);
const gchar   *vlm_device_get_reason     (VlmDevice *device);
gboolean       vlm_device_supports_f16   (VlmDevice *device);
guint          vlm_device_get_n_threads  (VlmDevice *device);

gboolean       vlm_device_sync           (VlmDevice *device, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VlmDevice, vlm_device_unref)

G_END_DECLS
