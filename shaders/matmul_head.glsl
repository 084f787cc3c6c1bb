// gst-vlm — shared head of matmul.comp and matvec.comp:
//   y[m][n] = act(Σ_k x[m][k] · w[n][k] + bias[n]) + residual[m][n]
// with x [M, K] f32, w [N, K] (WEIGHT_T: f32, or f16 with -DWEIGHT_F16),
// bias [N], residual and y [M, N]. Accumulation is f32.
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Include after common.glsl (for vlm_activate()). An absent bias or
// residual is bound to another tensor and flagged off in the push constants.
// y may alias residual: each element is read and then written by the same
// invocation (vlm_store()).

#ifdef WEIGHT_F16
#define WEIGHT_T4 f16vec4
#else
#define WEIGHT_T4 vec4
#endif

VLM_BUFFER_RO(0, float, x_data)
VLM_BUFFER_RO(1, WEIGHT_T, w_data)
// The same bindings read four elements at a time (vlm_load_x4(),
// vlm_load_w4()).
layout(std430, set = 0, binding = 0) readonly buffer VlmBuffer0x4 { vec4 x4_data[]; };
layout(std430, set = 0, binding = 1) readonly buffer VlmBuffer1x4 { WEIGHT_T4 w4_data[]; };
VLM_BUFFER_RO(2, float, bias_data)
// Not readonly: y may alias residual, and lavapipe miscompiles loads through
// a readonly binding whose memory another binding writes.
VLM_BUFFER(3, float, residual_data)
VLM_BUFFER(4, float, y_data)

layout(push_constant) uniform Push {
  VLM_PUSH_OFFSETS(5)
  uint M;
  uint N;
  uint K;
  uint act;           // VlmActivation
  uint has_bias;
  uint has_residual;
} pc;

// x[m][k … k + 3], zeros past K; k < K. Rows are whole aligned vec4s when K
// and the tensor's offset are multiples of 4, else read element by element.
vec4
vlm_load_x4 (uint m, uint k)
{
  uint e = VLM_OFFSET(0) + m * pc.K + k;
  if (pc.K % 4u == 0u && VLM_OFFSET(0) % 4u == 0u)
    return x4_data[e / 4u];
  vec4 v = vec4 (0.0);
  for (uint c = 0u; c < 4u; c++)
    if (k + c < pc.K)
      v[c] = x_data[e + c];
  return v;
}

// w[n][k … k + 3] as f32, zeros past K; k < K.
vec4
vlm_load_w4 (uint n, uint k)
{
  uint e = VLM_OFFSET(1) + n * pc.K + k;
  if (pc.K % 4u == 0u && VLM_OFFSET(1) % 4u == 0u)
    return vec4 (w4_data[e / 4u]);
  vec4 v = vec4 (0.0);
  for (uint c = 0u; c < 4u; c++)
    if (k + c < pc.K)
      v[c] = float(w_data[e + c]);
  return v;
}

// Finishes output (m, n) from its dot product and stores it.
void
vlm_store (uint m, uint n, float dot_xw)
{
  float v = dot_xw;
  if (pc.has_bias != 0u)
    v += bias_data[VLM_OFFSET(2) + n];
  v = vlm_activate (pc.act, v);
  uint idx = m * pc.N + n;
  if (pc.has_residual != 0u)
    v += residual_data[VLM_OFFSET(3) + idx];
  y_data[VLM_OFFSET(4) + idx] = v;
}
