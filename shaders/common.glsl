// gst-vlm — shared head of every compute shader.
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Include it first, right after the include extension:
//
//   #version 450
//   #extension GL_GOOGLE_include_directive : require
//   #include "common.glsl"
//
// Binding contract (engine/vulkan/vlm-vulkan.h, vlm_vk_dispatch()):
//  - set 0, bindings 0 … n−1 are storage buffers, in the order the op file
//    passes its tensors. Declare them with VLM_BUFFER / VLM_BUFFER_RO /
//    VLM_BUFFER_WO.
//  - A binding starts at its tensor's offset rounded down to the device's
//    minStorageBufferOffsetAlignment, so the tensor's element 0 sits at
//    VLM_OFFSET(i) inside binding i (in elements of its dtype; bytes for
//    U8). Add it to every index.
//  - The push-constant block is named `pc` and opens with VLM_PUSH_OFFSETS(n)
//    (one uint per binding); the op's own fields follow. Use scalar members
//    only (uint, int, float): the host packs them tightly after the 4·n
//    offset bytes, at most 128 bytes in all.
//  - Specialization constants are uint, constant_id 0 … in the order of the
//    op file's spec array. By convention constant_id 0 is the workgroup
//    size x: `layout(local_size_x_id = 0) in;` (read it as gl_WorkGroupSize.x).
//  - Two bindings may alias (e.g. y = x for in-place ops): never declare
//    buffers `restrict`.
//    Nor declare an input readonly when the output may alias it: lavapipe
//    miscompiles loads through a readonly binding whose memory another
//    binding writes. Use VLM_BUFFER for both.
//
// Example:
//
//   layout(local_size_x_id = 0) in;
//   VLM_BUFFER_RO(0, float, x_data)
//   VLM_BUFFER_WO(1, float, y_data)
//   layout(push_constant) uniform Push {
//     VLM_PUSH_OFFSETS(2)
//     uint n;
//   } pc;
//   …  y_data[VLM_OFFSET(1) + i] = x_data[VLM_OFFSET(0) + i];
//
// Modules built with -DWEIGHT_F16 get WEIGHT_T = float16_t (the 16-bit
// storage extensions enabled); WEIGHT_T is float otherwise. Convert to float
// before any arithmetic: math is fp32 everywhere.

#ifdef WEIGHT_F16
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#define WEIGHT_T float16_t
#else
#define WEIGHT_T float
#endif

// Storage buffer `name` of element type `type` at binding `b`.
#define VLM_BUFFER(b, type, name) \
  layout(std430, set = 0, binding = b) buffer VlmBuffer##b { type name[]; };
#define VLM_BUFFER_RO(b, type, name) \
  layout(std430, set = 0, binding = b) readonly buffer VlmBuffer##b { type name[]; };
#define VLM_BUFFER_WO(b, type, name) \
  layout(std430, set = 0, binding = b) writeonly buffer VlmBuffer##b { type name[]; };

// Leading push-constant members: element offset of each binding's tensor.
#define VLM_PUSH_OFFSETS(n) uint vlm_offsets[n];
#define VLM_OFFSET(i) (pc.vlm_offsets[i])

// Byte `i` of a U8 tensor bound as `uint name[]` (little-endian packing).
#define VLM_LOAD_U8(name, i) ((name[(i) >> 2u] >> (((i) & 3u) * 8u)) & 0xffu)

// Flat invocation index and invocation count of a 1-D or 2-D dispatch
// (large element counts are split over y, since each dimension's workgroup
// count is limited, often to 65535): loop with
//   for (uint i = vlm_flat_id (); i < n; i += vlm_flat_count ())
// Macros, not functions: glslang folds gl_WorkGroupSize to its default
// (1, 1, 1) in code compiled before the `layout(local_size_x_id …) in;`
// declaration, so gl_WorkGroupSize must only be read after it.
#define vlm_flat_id() \
  (gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x + gl_GlobalInvocationID.x)
#define vlm_flat_count() \
  (gl_NumWorkGroups.x * gl_NumWorkGroups.y * gl_WorkGroupSize.x * gl_WorkGroupSize.y)

// erf to float precision: max abs error 9e-8 measured on lavapipe (glibc's
// erff: 5e-8). Our own least-squares/minimax fits, in double precision:
//  |x| ≤ 0.9:        erf(x) = x·P(x²), P of degree 5 (fit error 6e-9);
//  0.9 < |x| < 3.92: erf(x) = 1 − exp(−x²)·Q(|x| − 2.41), Q of degree 10
//                    fitting erfc(x)·exp(x²) (fit error 3e-10);
//  |x| ≥ 3.92:       erf(x) = ±1 (1 − erf(3.92) = 3e-8).
float
vlm_erf (float x)
{
  float ax = abs (x);
  if (ax <= 0.9) {
    float z = x * x;
    float p = -5.96131520e-04;
    p = p * z + 4.98314990e-03;
    p = p * z - 2.67555226e-02;
    p = p * z + 1.12813115e-01;
    p = p * z - 3.76124038e-01;
    p = p * z + 1.12837911e+00;
    return x * p;
  }
  if (ax >= 3.92)
    return sign (x);
  float t = ax - 2.41;
  float q = 8.69910035e-06;
  q = q * t + 1.46259967e-05;
  q = q * t + 3.11487750e-05;
  q = q * t - 9.74729158e-05;
  q = q * t + 2.12201703e-04;
  q = q * t - 8.68440225e-04;
  q = q * t + 2.83744368e-03;
  q = q * t - 8.94380483e-03;
  q = q * t + 2.72245475e-02;
  q = q * t - 7.90385192e-02;
  q = q * t + 2.17705566e-01;
  return sign (x) * (1.0 - exp (-ax * ax) * q);
}

// VlmActivation `act` (0 none, 1 GELU erf, 2 GELU tanh, 3 quick GELU) of x,
// for unary.comp and fused epilogues. Pass a specialization constant or a
// uniform value; the branches then cost nothing.
float
vlm_activate (uint act, float x)
{
  if (act == 1u)        // x·Φ(x)
    return 0.5 * x * (1.0 + vlm_erf (x * 0.70710678118654752));
  if (act == 2u) {      // 0.5·x·(1 + tanh(u)) = x·sigmoid(2u), no overflow
    float u = 0.79788456080286536 * (x + 0.044715 * x * x * x);
    return x / (1.0 + exp (-2.0 * u));
  }
  if (act == 3u)        // x·sigmoid(1.702·x)
    return x / (1.0 + exp (-1.702 * x));
  return x;
}
