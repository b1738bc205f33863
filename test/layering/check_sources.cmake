# cmake -P check_sources.cmake: what the include roots cannot catch, because every layer sees the
# public headers. The transport never sees the client side (Exchange, Server, the proxy); the
# server never sees the proxy; the public headers name no socket, descriptor or Beast parser.
foreach(var SRC INCLUDE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_sources.cmake: ${var} not set")
  endif()
endforeach()
set(failures "")
function(forbid glob pattern why)
  file(GLOB files ${glob})
  foreach(f IN LISTS files)
    file(STRINGS ${f} lines REGEX "${pattern}")
    foreach(line IN LISTS lines)
      string(APPEND failures "${f}: ${line}  (${why})\n")
    endforeach()
  endforeach()
  set(failures "${failures}" PARENT_SCOPE)
endfunction()
forbid("${SRC}/transport/*" "#include \"sluice/(exchange|server|reverse_proxy)\\.hpp\""
       "the transport sees a RequestContext, never the client side")
forbid("${SRC}/server/*" "#include \"sluice/(reverse_proxy|transport)\\.hpp\""
       "the server knows nothing of the proxy")
forbid("${INCLUDE}/sluice/*" "tcp::socket|native_handle|int [a-z_]*fd|_parser<|basic_parser|steady_timer&"
       "the public API names no socket, descriptor, timer reference or Beast parser")
if(failures)
  message(FATAL_ERROR "layering:\n${failures}")
endif()
