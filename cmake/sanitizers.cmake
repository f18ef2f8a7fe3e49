# Sanitized builds of every C/C++ target: TANDEM_SANITIZE (a -fsanitize list, e.g. "address,undefined")
# for the test suite (scripts/sanitize-tests.sh), and TANDEM_FUZZ for the libFuzzer targets of fuzz/
# (clang only: the libraries get coverage, ASan and UBSan; each fuzz target links libFuzzer's main).
set(TANDEM_SANITIZE "" CACHE STRING "Sanitizers for every C/C++ target, a -fsanitize list (e.g. address,undefined)")
option(TANDEM_FUZZ "Build the libFuzzer targets of fuzz/ (clang only; implies TANDEM_SANITIZE=address,undefined)" OFF)

if(TANDEM_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "TANDEM_FUZZ=ON needs clang (libFuzzer), found ${CMAKE_CXX_COMPILER_ID}: "
                        "configure with -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang")
  endif()
  if(NOT TANDEM_SANITIZE)
    set(TANDEM_SANITIZE "address,undefined")
  endif()
  add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=fuzzer-no-link>)
endif()

if(TANDEM_SANITIZE)
  # Every report is fatal (a test or a fuzz run fails on it); frame pointers keep the stacks readable.
  add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=${TANDEM_SANITIZE}>
                      $<$<COMPILE_LANGUAGE:C,CXX>:-fno-sanitize-recover=all>
                      $<$<COMPILE_LANGUAGE:C,CXX>:-fno-omit-frame-pointer>)
  add_link_options(-fsanitize=${TANDEM_SANITIZE})
  # NOTE: GCC's ASan instrumentation makes -Wmaybe-uninitialized report std::function inside <regex> (a
  # false positive that breaks TANDEM_WERROR builds); the sanitizer itself checks what that warning guesses.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:-Wno-maybe-uninitialized>)
  endif()
endif()
