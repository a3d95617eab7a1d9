// The tests' dynamic-dispatch translation unit: every target Highway 1.0.3 can compile here,
// including SSSE3/SSE4 (which run the scalar reference), so each is tested.
#define T5GEMMA2_DISPATCH_ALL_TARGETS
#include "t5gemma2/dispatch_impl.hpp"
