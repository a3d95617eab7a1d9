# ctest driver for the three ways a downstream project uses t5gemma2; each builds consumer.cpp
# and runs it on MODEL_DIR (scalar reference == dispatched SIMD target, bit for bit).
#   MODE=find_package  install into a scratch prefix, find_package(t5gemma2) from tests/package
#   MODE=subdirectory  add_subdirectory(<source tree>) from tests/package/subdirectory
#   MODE=pkg_config    install, then compile with `pkg-config --cflags --libs t5gemma2` only
# Variables: MODE, BUILD_DIR, SOURCE_DIR, WORK_DIR, MODEL_DIR, CXX.
file(REMOVE_RECURSE "${WORK_DIR}")
function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "step failed (${rc}): ${ARGN}")
  endif()
endfunction()
if(MODE STREQUAL "find_package")
  step(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
  step(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package -B ${WORK_DIR}/build -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix
       -DCMAKE_BUILD_TYPE=Release)
  step(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
elseif(MODE STREQUAL "subdirectory")
  step(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/subdirectory -B ${WORK_DIR}/build -DT5GEMMA2_SOURCE_DIR=${SOURCE_DIR}
       -DCMAKE_BUILD_TYPE=Release)
  step(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
elseif(MODE STREQUAL "pkg_config")
  step(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${WORK_DIR}/prefix/share/pkgconfig
                          pkg-config --cflags --libs t5gemma2
                  OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config --cflags --libs t5gemma2 failed (${rc})")
  endif()
  message(STATUS "pkg-config t5gemma2: ${flags}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  file(MAKE_DIRECTORY ${WORK_DIR}/build)
  step(${CXX} -O2 ${SOURCE_DIR}/tests/package/consumer.cpp ${WORK_DIR}/prefix/include/t5gemma2/dispatch.cpp ${flags}
       -o ${WORK_DIR}/build/consumer)
else()
  message(FATAL_ERROR "MODE must be find_package, subdirectory or pkg_config")
endif()
step(${WORK_DIR}/build/consumer ${MODEL_DIR})
