# The CUDA side of kernels/, included by the top-level CMakeLists.txt when TANDEM_HAVE_CUDA:
#   tandem_kernels_cuda  every family's CUDA code (kernels/<family>/*.cu), on top of tandem_kernels
#   kernels_cuda_tests   the GPU tests (kernels/tests_cuda/*.cpp|*.cu); without a GPU they skip
#   kernels_cuda_bench   the benchmarks (kernels/bench_cuda/*.cpp|*.cu)
# The CUDA runtime is linked statically so the binaries need only the driver and cuBLASLt where
# they run (docs/fp8_gemm.md). A new family adds its .cu files to its folder and nothing here.
set(TANDEM_KERNELS_DIR ${PROJECT_SOURCE_DIR}/kernels)
option(TANDEM_CUDA_PTXAS_VERBOSE "Print ptxas register, spill and shared-memory reports for CUDA kernels" OFF)

file(GLOB TANDEM_KERNELS_CUDA_SOURCES CONFIGURE_DEPENDS ${TANDEM_KERNELS_DIR}/*/*.cu)
list(FILTER TANDEM_KERNELS_CUDA_SOURCES EXCLUDE REGEX "/kernels/(tests_cuda|bench_cuda)/")

add_library(tandem_kernels_cuda STATIC ${TANDEM_KERNELS_CUDA_SOURCES})
target_include_directories(tandem_kernels_cuda PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(tandem_kernels_cuda PUBLIC tandem_kernels CUDA::cudart_static CUDA::cublasLt)
set_target_properties(tandem_kernels_cuda PROPERTIES CUDA_RUNTIME_LIBRARY Static POSITION_INDEPENDENT_CODE ON)
target_compile_options(tandem_kernels_cuda PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:-lineinfo -Xcompiler=-Wall>
  $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${TANDEM_CUDA_PTXAS_VERBOSE}>>:-Xptxas=-v>
  $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${TANDEM_WERROR}>>:-Werror=all-warnings>)

# GPU tests: one Catch2 binary; each case prints "SKIPPED: ..." and returns when there is no usable
# device, which CTest reports as skipped (SKIP_REGULAR_EXPRESSION, set below on the discovered cases).
file(GLOB TANDEM_KERNELS_CUDA_TESTS CONFIGURE_DEPENDS ${TANDEM_KERNELS_DIR}/tests_cuda/*.cpp
     ${TANDEM_KERNELS_DIR}/tests_cuda/*.cu)
tandem_add_test_binary(kernels_cuda_tests SOURCES ${TANDEM_KERNELS_CUDA_TESTS}
                       LIBS tandem_kernels_cuda fmt::fmt-header-only)
set_target_properties(kernels_cuda_tests PROPERTIES CUDA_RUNTIME_LIBRARY Static)
set(TANDEM_KERNELS_CUDA_SKIP_FILE ${CMAKE_CURRENT_BINARY_DIR}/kernels_cuda_tests_skip.cmake)
file(WRITE ${TANDEM_KERNELS_CUDA_SKIP_FILE}
  "if(DEFINED kernels_cuda_tests_TESTS)\n"
  "  set_tests_properties(\${kernels_cuda_tests_TESTS} PROPERTIES SKIP_REGULAR_EXPRESSION \"SKIPPED: \")\n"
  "endif()\n")
set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${TANDEM_KERNELS_CUDA_SKIP_FILE})

file(GLOB TANDEM_KERNELS_CUDA_BENCH CONFIGURE_DEPENDS ${TANDEM_KERNELS_DIR}/bench_cuda/*.cpp
     ${TANDEM_KERNELS_DIR}/bench_cuda/*.cu)
if(TANDEM_KERNELS_CUDA_BENCH)
  add_executable(kernels_cuda_bench ${TANDEM_KERNELS_CUDA_BENCH})
  target_link_libraries(kernels_cuda_bench PRIVATE tandem_kernels_cuda fmt::fmt-header-only CLI11::CLI11 tandem_warnings)
  set_target_properties(kernels_cuda_bench PROPERTIES CUDA_RUNTIME_LIBRARY Static)
endif()
