// gst-vlm — elementwise activations: y = act(x). Bindings: 0 x (f32),
// 1 y (f32; may be x). Spec: 0 workgroup size, 1 VlmActivation
// (0 none, 1 GELU erf, 2 GELU tanh, 3 quick GELU). Grid-stride loop over n
// elements, 1-D or 2-D dispatch.
// SPDX-License-Identifier: LGPL-2.1-or-later
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ACT = 0;

VLM_BUFFER_RO(0, float, x_data)
VLM_BUFFER_WO(1, float, y_data)

layout(push_constant) uniform Push {
  VLM_PUSH_OFFSETS(2)
  uint n;
} pc;

// erf to float precision (max abs error ≈ 1e-7 evaluated in f32; our own
// least-squares/minimax fits of erf in double precision):
//  |x| ≤ 0.9:        erf(x) = x·P(x²), P of degree 5 (fit error 6e-9);
//  0.9 < |x| < 3.92: erf(x) = 1 − exp(−x²)·Q(|x| − 2.41), Q of degree 10
//                    fitting erfc(x)·exp(x²) (fit error 3e-10);
//  |x| ≥ 3.92:       erf(x) = ±1 (1 − erf(3.92) = 3e-8).
float
erf_f32 (float x)
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

float
activate (float x)
{
  if (ACT == 1u)        // x·Φ(x)
    return 0.5 * x * (1.0 + erf_f32 (x * 0.70710678118654752));
  if (ACT == 2u) {      // 0.5·x·(1 + tanh(u)) = x·sigmoid(2u)
    float u = 0.79788456080286536 * (x + 0.044715 * x * x * x);
    return x / (1.0 + exp (-2.0 * u));
  }
  if (ACT == 3u)        // x·sigmoid(1.702·x)
    return x / (1.0 + exp (-1.702 * x));
  return x;
}

void
main ()
{
  for (uint i = vlm_flat_id (); i < pc.n; i += vlm_flat_count ())
    y_data[VLM_OFFSET(1) + i] = activate (x_data[VLM_OFFSET(0) + i]);
}
