# Run as a script after `tandem` is linked (cmake -DREADELF=... -DHOST=... -DOUT=... -P host_build_id.cmake):
# writes OUT, a C++ file that gives the CUDA device module the GNU build id of the executable it
# belongs to (backend/cuda/device_module.h), so a module of another build is refused, not called.
execute_process(COMMAND "${READELF}" -n "${HOST}" OUTPUT_VARIABLE notes RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "host_build_id: ${READELF} -n ${HOST} failed (${status})")
endif()
string(REGEX MATCH "Build ID: ([0-9a-fA-F]+)" found "${notes}")
if(NOT found)
  message(FATAL_ERROR "host_build_id: ${HOST} has no GNU build id (link it with -Wl,--build-id)")
endif()
string(TOLOWER "${CMAKE_MATCH_1}" build_id)
set(text "// Written by cmake/host_build_id.cmake from ${HOST}: the build id of the tandem this module belongs to.\n"
         "namespace tandem::backend {\n"
         "extern const char kCudaDeviceModuleHostBuildId[];\n"
         "const char kCudaDeviceModuleHostBuildId[] = \"${build_id}\";\n"
         "}  // namespace tandem::backend\n")
# Rewritten only when the id changed, so an unchanged tandem recompiles nothing.
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
  if(old STREQUAL text)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${text}")
