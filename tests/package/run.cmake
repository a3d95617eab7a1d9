# ctest driver for the three ways a downstream project uses t5gemma2; each builds consumer.cpp
# and runs it on MODEL_DIR (scalar reference == dispatched SIMD target, bit for bit).
#   MODE=find_package  install into a scratch prefix, find_package(t5gemma2) from tests/package
#   MODE=subdirectory  add_subdirectory(<source tree>) from tests/package/subdirectory
#   MODE=pkg_config    install, then compile with `pkg-config --cflags --libs t5gemma2` only
#   MODE=installed_tools  install, MOVE the install tree, then run its t5gemma2 and t5gemma2-dump
#                      (and, with PYTHON set, its Python module) from another folder, on the
#                      installed demo model found from the programs' own location
# Variables: MODE, BUILD_DIR, SOURCE_DIR, WORK_DIR, MODEL_DIR, CXX (PYTHON, PYTHON_DIR).
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
elseif(MODE STREQUAL "installed_tools")
  step(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
  file(RENAME ${WORK_DIR}/prefix ${WORK_DIR}/moved)  # no path may point back to where it was installed
  set(prefix ${WORK_DIR}/moved)
  file(MAKE_DIRECTORY ${WORK_DIR}/elsewhere)
  function(expect what pattern)
    execute_process(COMMAND ${ARGN} WORKING_DIRECTORY ${WORK_DIR}/elsewhere OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0 OR NOT out MATCHES "${pattern}")
      message(FATAL_ERROR "${what}: exit ${rc}, expected output matching '${pattern}', got:\n${out}\n${err}")
    endif()
    message(STATUS "${what}: ok")
  endfunction()
  expect("installed t5gemma2 --help names the installed demo model" "moved/share/t5gemma2/demo" ${prefix}/bin/t5gemma2 --help)
  expect("installed t5gemma2 runs the installed demo model" "^three two one\n$" ${prefix}/bin/t5gemma2 --prompt "reverse: one two three")
  expect("installed t5gemma2-dump runs" "wrote [0-9]+ tensors" ${prefix}/bin/t5gemma2-dump --model ${prefix}/share/t5gemma2/demo
         --prompt "reverse: one two three" --max-new-tokens 4 --out ${WORK_DIR}/elsewhere/dump.safetensors)
  if(PYTHON)
    file(WRITE ${WORK_DIR}/elsewhere/check.py "import t5gemma2\nprint(t5gemma2.demo_model)\n"
         "print(t5gemma2.Model(t5gemma2.demo_model).generate('reverse: one two three')[0]['text'])\n")
    expect("installed Python module runs the installed demo model" "moved/share/t5gemma2/demo\nthree two one\n"
           ${CMAKE_COMMAND} -E env PYTHONPATH=${prefix}/${PYTHON_DIR} ${PYTHON} check.py)
  endif()
else()
  message(FATAL_ERROR "MODE must be find_package, subdirectory, pkg_config or installed_tools")
endif()
if(NOT MODE STREQUAL "installed_tools")
  step(${WORK_DIR}/build/consumer ${MODEL_DIR})
endif()
