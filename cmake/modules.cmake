# tlsrpt_module(NAME DEPENDS ...): a static library for one top-level folder.
# Its include root is a private directory holding a symlink to the module itself,
# so `#include "parser/report.hpp"` works only for modules that link parser.
function(tlsrpt_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS;LIBS" ${ARGN})
  set(inc ${CMAKE_BINARY_DIR}/modinc/${name})
  file(MAKE_DIRECTORY ${inc})
  if(NOT EXISTS ${inc}/${name})
    file(CREATE_LINK ${CMAKE_SOURCE_DIR}/${name} ${inc}/${name} SYMBOLIC)
  endif()
  add_library(tlsrpt_${name} STATIC ${ARG_SOURCES})
  target_include_directories(tlsrpt_${name} PUBLIC ${inc})
  foreach(dep IN LISTS ARG_DEPENDS)
    target_link_libraries(tlsrpt_${name} PUBLIC tlsrpt_${dep})
  endforeach()
  if(ARG_LIBS)
    target_link_libraries(tlsrpt_${name} PUBLIC ${ARG_LIBS})
  endif()
endfunction()
