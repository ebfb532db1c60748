# Compiler flags shared by every target: warnings, hardening, sanitizers.
add_compile_options(-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wconversion
                    -Wno-sign-conversion -Werror=return-type -Werror=format-security)
# Hardening for every build type (issue 7): fortify, stack protector, PIE, full RELRO,
# libstdc++ assertions.
add_compile_options(-fstack-protector-strong -D_GLIBCXX_ASSERTIONS)
if(NOT CMAKE_BUILD_TYPE STREQUAL "Debug" AND NOT TLSRPT_SANITIZE)
  add_compile_options(-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2)
endif()
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
add_link_options(-pie -Wl,-z,relro,-z,now)

if(TLSRPT_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# simdjson's On-Demand front end is compiled inline: without SSE4.2 and PCLMUL it
# falls back to its portable (slow) kernel. Every x86-64 CPU since 2010 has both.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(TLSRPT_SIMD_FLAGS -msse4.2 -mpclmul -mpopcnt)
else()
  set(TLSRPT_SIMD_FLAGS "")
endif()
