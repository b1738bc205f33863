# sluice_layer(NAME [DEPENDS layer...]): src/NAME/*.cpp as an object library, sluice_NAME.
#
# A layer's sources include other layers' headers as "layer/file.hpp". Each layer gets its own
# include root in the build tree holding links to its own folder and to the folders it DEPENDS
# on, and nothing else: `#include "proxy/x.hpp"` from src/transport is "file not found". The
# public headers (include/sluice) are visible to every layer.
set(SLUICE_LAYERS "" CACHE INTERNAL "")

function(sluice_layer name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "DEPENDS")
  set(root ${CMAKE_BINARY_DIR}/layers/${name})
  file(REMOVE_RECURSE ${root})
  file(MAKE_DIRECTORY ${root})
  foreach(visible IN LISTS ARG_DEPENDS name)
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${visible} ${root}/${visible} SYMBOLIC)
  endforeach()
  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.cpp)
  add_library(sluice_${name} OBJECT ${sources})
  target_include_directories(sluice_${name} PRIVATE ${root} ${PROJECT_SOURCE_DIR}/include
    ${PROJECT_BINARY_DIR}/include)
  target_link_libraries(sluice_${name} PRIVATE Boost::headers Threads::Threads OpenSSL::SSL)
  target_compile_definitions(sluice_${name} PRIVATE BOOST_ASIO_NO_DEPRECATED)
  sluice_warnings(sluice_${name})
  set(SLUICE_LAYERS ${SLUICE_LAYERS} ${name} CACHE INTERNAL "")
  set_property(GLOBAL APPEND PROPERTY SLUICE_LAYER_ROOTS "${name}=${root}")
endfunction()
