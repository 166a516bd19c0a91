# find_package(muxwire) support: the imported target muxwire::muxwire (the shared
# library, with the header's directory) and muxwire::muxwire_static (the static one).
# Relocatable: paths are found from this file's own place, <prefix>/lib/cmake/muxwire.
get_filename_component(_muxwire_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

if(NOT TARGET muxwire::muxwire)
  add_library(muxwire::muxwire SHARED IMPORTED)
  set_target_properties(muxwire::muxwire PROPERTIES
    IMPORTED_LOCATION "${_muxwire_prefix}/lib/libmuxwire.so"
    IMPORTED_SONAME "libmuxwire.so.@MAJOR@"
    INTERFACE_INCLUDE_DIRECTORIES "${_muxwire_prefix}/include")
endif()

if(NOT TARGET muxwire::muxwire_static)
  find_package(Threads REQUIRED)
  add_library(muxwire::muxwire_static STATIC IMPORTED)
  set_target_properties(muxwire::muxwire_static PROPERTIES
    IMPORTED_LOCATION "${_muxwire_prefix}/lib/libmuxwire.a"
    INTERFACE_INCLUDE_DIRECTORIES "${_muxwire_prefix}/include"
    INTERFACE_LINK_LIBRARIES "Threads::Threads;${CMAKE_DL_LIBS};m")
endif()

set(muxwire_VERSION "@VERSION@")
set(muxwire_FOUND TRUE)
unset(_muxwire_prefix)
