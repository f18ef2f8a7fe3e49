# The CUDA side of backend/, included by the top-level CMakeLists.txt when TANDEM_HAVE_CUDA:
#   tandem_backend_cuda  the CUDA device (backend/cuda/cuda_device.*), and with NCCL the NCCL
#                        communicator; on top of tandem_backend and tandem_kernels_cuda
#   backend_cuda_tests   backend/tests_cuda: GPU cases print "SKIPPED: ..." without a device; the
#                        bootstrap and argument checks run everywhere
# The CUDA runtime is static (as in kernels/cuda.cmake); NCCL is the shared library cmake/cuda.cmake found.
# `tandem` does not link this library: app/CMakeLists.txt builds its objects, with the kernels' CUDA
# objects and the entry point backend/cuda/device_module.cpp, into the module libtandem_cuda_device.so.
set(TANDEM_BACKEND_CUDA_DIR ${PROJECT_SOURCE_DIR}/backend/cuda)
file(GLOB TANDEM_BACKEND_CUDA_SOURCES CONFIGURE_DEPENDS ${TANDEM_BACKEND_CUDA_DIR}/*.cpp ${TANDEM_BACKEND_CUDA_DIR}/*.cu)
list(FILTER TANDEM_BACKEND_CUDA_SOURCES EXCLUDE REGEX "/backend/cuda/device_module\\.cpp$")
if(NOT TANDEM_HAVE_NCCL)
  list(FILTER TANDEM_BACKEND_CUDA_SOURCES EXCLUDE REGEX "/backend/cuda/nccl_(communicator|check)\\.(cpp|cu)$")
endif()

add_library(tandem_backend_cuda STATIC ${TANDEM_BACKEND_CUDA_SOURCES})
target_include_directories(tandem_backend_cuda PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(tandem_backend_cuda PUBLIC tandem_backend tandem_kernels_cuda CUDA::cudart_static
                      PRIVATE fmt::fmt tandem_warnings)
set_target_properties(tandem_backend_cuda PROPERTIES CUDA_RUNTIME_LIBRARY Static POSITION_INDEPENDENT_CODE ON)
target_compile_options(tandem_backend_cuda PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:-lineinfo -Xcompiler=-Wall>
  $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${TANDEM_WERROR}>>:-Werror=all-warnings>)
if(TANDEM_HAVE_NCCL)
  target_include_directories(tandem_backend_cuda PUBLIC ${NCCL_INCLUDE_DIR})
  target_link_libraries(tandem_backend_cuda PUBLIC ${NCCL_LIBRARY})
  target_compile_definitions(tandem_backend_cuda PUBLIC TANDEM_HAVE_NCCL=1)
endif()

file(GLOB TANDEM_BACKEND_CUDA_TESTS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/backend/tests_cuda/*.cpp
     ${PROJECT_SOURCE_DIR}/backend/tests_cuda/*.cu)
if(NOT TANDEM_HAVE_NCCL)
  list(FILTER TANDEM_BACKEND_CUDA_TESTS EXCLUDE REGEX "/backend/tests_cuda/test_nccl_communicator\\.cpp$")
endif()
tandem_add_test_binary(backend_cuda_tests SOURCES ${TANDEM_BACKEND_CUDA_TESTS} LIBS tandem_backend_cuda fmt::fmt)
set_target_properties(backend_cuda_tests PROPERTIES CUDA_RUNTIME_LIBRARY Static)
target_compile_options(backend_cuda_tests PRIVATE
  $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${TANDEM_WERROR}>>:-Werror=all-warnings>)
# Each case prints "SKIPPED: ..." and returns when it cannot run here (no GPU, fewer than 2 GPUs);
# CTest reports it as skipped. A hung NCCL case fails after 5 minutes instead of CTest's 25.
set(TANDEM_BACKEND_CUDA_SKIP_FILE ${CMAKE_CURRENT_BINARY_DIR}/backend_cuda_tests_skip.cmake)
file(WRITE ${TANDEM_BACKEND_CUDA_SKIP_FILE}
  "if(DEFINED backend_cuda_tests_TESTS)\n"
  "  set_tests_properties(\${backend_cuda_tests_TESTS} PROPERTIES SKIP_REGULAR_EXPRESSION \"SKIPPED: \" TIMEOUT 300)\n"
  "endif()\n")
set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${TANDEM_BACKEND_CUDA_SKIP_FILE})
target_compile_definitions(backend_cuda_tests PRIVATE TANDEM_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
