/* c_api.cuh — the project's C headers, as CUDA C++ sees them. */
#ifndef PQ_GPU_C_API_CUH
#define PQ_GPU_C_API_CUH

#define _Noreturn [[noreturn]] /* C11's keyword; C++ spells it as an attribute */
extern "C" {
#include "base/util.h"
#include "gpu/gpu.h"
}
#undef _Noreturn

#endif
