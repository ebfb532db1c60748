# Compiler flags shared by every target: warnings, hardening, sanitizers, and the
# one clang/libstdc++ adjustment std::expected needs.
include(CheckCXXSourceCompiles)

add_compile_options(-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wconversion
                    -Wno-sign-conversion -Werror=return-type -Werror=format-security)

if(TLSRPT_SANITIZE AND TLSRPT_TSAN)
  message(FATAL_ERROR "TLSRPT_SANITIZE (ASan) and TLSRPT_TSAN cannot be combined: use two build folders")
endif()
if(TLSRPT_FUZZ AND NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "TLSRPT_FUZZ needs clang with libFuzzer: CXX=clang++-16 (see tests/fuzz/README.md)")
endif()

# Hardening for every build type (docs/guarantees.md#test-suites, hardening.tlsrptd):
# fortify, stack protector, PIE, full RELRO, libstdc++ assertions.
# tests/hardening_check.sh checks them on the built binary.
# _FORTIFY_SOURCE=3 (gcc 12, glibc 2.34+) also checks sizes known only at run time;
# sanitizer builds leave it out (ASan intercepts the same calls, better).
add_compile_options(-fstack-protector-strong -D_GLIBCXX_ASSERTIONS)
if(NOT CMAKE_BUILD_TYPE STREQUAL "Debug" AND NOT TLSRPT_SANITIZE AND NOT TLSRPT_TSAN AND NOT TLSRPT_FUZZ)
  add_compile_options(-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3)
endif()
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
add_link_options(-pie -Wl,-z,relro,-z,now)

if(TLSRPT_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(TLSRPT_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
if(TLSRPT_FUZZ)
  # Every library is instrumented for coverage (as OSS-Fuzz builds do), so a fuzzer
  # links the module libraries as they are; -fsanitize=fuzzer itself (libFuzzer's
  # main) is linked into the fuzzers only (tests/fuzz/CMakeLists.txt).
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# libstdc++ 12 offers <expected> only when __cpp_concepts >= 202002L, i.e. when the
# compiler has P0848R3 (conditionally trivial special members), which its ~expected()
# overloads need. clang 16 implements P0848R3 but still reports 201907L (the value
# moved with later, unrelated concept fixes); clang 14 lacks P0848R3 altogether. So
# for clang: take <expected> as it is if it works, else announce the feature level
# the compiler has and prove with a check that P0848R3 does what <expected> relies on.
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  set(tlsrpt_expected_probe [[
    #include <expected>
    #include <string>
    #include <type_traits>
    static_assert(std::is_trivially_destructible_v<std::expected<int, int>>);
    static_assert(std::is_trivially_copy_constructible_v<std::expected<int, int>>);
    static_assert(!std::is_trivially_destructible_v<std::expected<std::string, int>>);
    int main() {
      std::expected<std::string, int> a = std::string(64, 'x');
      std::expected<std::string, int> b = std::unexpected(3);
      b = a;
      return b->size() == 64 ? 0 : 1;
    }
  ]])
  check_cxx_source_compiles("${tlsrpt_expected_probe}" TLSRPT_CLANG_EXPECTED_NATIVE)
  if(NOT TLSRPT_CLANG_EXPECTED_NATIVE)
    set(CMAKE_REQUIRED_FLAGS "-U__cpp_concepts -D__cpp_concepts=202002L")
    check_cxx_source_compiles("${tlsrpt_expected_probe}" TLSRPT_CLANG_EXPECTED_P0848)
    unset(CMAKE_REQUIRED_FLAGS)
    if(NOT TLSRPT_CLANG_EXPECTED_P0848)
      message(FATAL_ERROR "clang ${CMAKE_CXX_COMPILER_VERSION} cannot compile libstdc++'s <expected> "
                          "(it lacks P0848R3): use clang 16 or newer (CXX=clang++-16), or g++")
    endif()
    add_compile_options(-U__cpp_concepts -D__cpp_concepts=202002L)
  endif()
endif()

# simdjson's On-Demand front end is compiled inline: without SSE4.2 and PCLMUL it
# falls back to its portable (slow) kernel. Every x86-64 CPU since 2010 has both.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(TLSRPT_SIMD_FLAGS -msse4.2 -mpclmul -mpopcnt)
else()
  set(TLSRPT_SIMD_FLAGS "")
endif()
