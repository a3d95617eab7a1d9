// The dynamic-dispatch translation unit of t5gemma2, as a source file: CMake's
// t5gemma2::dispatch target adds it to a program (or add it to your build yourself).
#include "t5gemma2/dispatch_impl.hpp"
