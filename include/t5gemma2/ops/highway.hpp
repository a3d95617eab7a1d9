// t5gemma2 — the STATIC Highway target: the kernels compiled for the target this translation
// unit is built for (HWY_STATIC_TARGET, chosen by the compiler flags).
//
//   #include <t5gemma2/ops/highway.hpp>
//   t5gemma2::Model<t5gemma2::RuntimeDims, float, t5gemma2::HwyStaticTarget> model(dir);
//
// Header-only, needs no libhwy at link time. With the default x86-64 flags the static target is
// HWY_SCALAR (the kernels then run the scalar reference); build with e.g.
// `-march=native -DHWY_WANT_AVX3_DL` (Highway 1.0.3 needs the define with -march=native) or
// `-march=x86-64-v3 -maes -mpclmul` to get AVX3_DL / AVX2 code. For the best target of the CPU
// at run time, use dynamic dispatch instead (ops/dispatch.hpp). Results are identical either way.
#pragma once

#include <hwy/highway.h>

#include "t5gemma2/ops/hwy/kernels-inl.h"

T5GEMMA2_NAMESPACE_BEGIN

using HwyStaticTarget = HWY_NAMESPACE::HighwayTarget;

T5GEMMA2_NAMESPACE_END
