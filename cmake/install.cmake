# What `cmake --install <build> --prefix P` puts under P, and how an embedding project finds it:
#   bin/sluice                              the binary (component runtime)
#   include/sluice/*.hpp                    the public headers, version.hpp included (development)
#   lib/libsluice.a (or .so)                the library (development; runtime too when shared)
#   lib/cmake/sluice/sluiceConfig*.cmake    find_package(sluice) -> sluice::sluice (development)
#   lib/pkgconfig/sluice.pc                 pkg-config --cflags --libs sluice (development)
#   share/man/man1/sluice.1.gz              the man page (runtime)
# (lib may be lib/<multiarch> on Debian, as GNUInstallDirs decides.) The Debian package holds the
# runtime component only, plus the files of cmake/package.cmake.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SLUICE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/sluice)

install(TARGETS sluice EXPORT sluiceTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime
          NAMELINK_COMPONENT development
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/sluice ${PROJECT_BINARY_DIR}/include/sluice
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development
  FILES_MATCHING PATTERN "*.hpp")
install(EXPORT sluiceTargets NAMESPACE sluice:: DESTINATION ${SLUICE_CMAKE_DIR}
  COMPONENT development)

# A static archive leaves the symbols of the libraries it uses to the program's link: OpenSSL's
# (a public dependency anyway), the compression libraries' (zlib, brotli, zstd) and nghttp2's (private to a
# shared library, whose own link resolves them).
if(BUILD_SHARED_LIBS)
  set(SLUICE_PC_REQUIRES "Requires.private")
  set(SLUICE_PC_CODINGS "")
  set(SLUICE_CONFIG_STATIC OFF)
else()
  set(SLUICE_PC_REQUIRES "Requires")
  set(SLUICE_PC_CODINGS ", zlib, libbrotlienc, libzstd, libnghttp2")
  set(SLUICE_CONFIG_STATIC ON)
endif()

configure_package_config_file(cmake/sluiceConfig.cmake.in
  ${PROJECT_BINARY_DIR}/sluiceConfig.cmake INSTALL_DESTINATION ${SLUICE_CMAKE_DIR})
# 0.x: a minor version may change the API, so only the same major.minor matches.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/sluiceConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/sluiceConfig.cmake ${PROJECT_BINARY_DIR}/sluiceConfigVersion.cmake
  DESTINATION ${SLUICE_CMAKE_DIR} COMPONENT development)

# pkg-config: the prefix is found from the .pc file's own place (${pcfiledir}), so an installed
# tree can be moved (or unpacked under a DESTDIR) and still be found.
file(RELATIVE_PATH SLUICE_PC_TO_PREFIX /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
configure_file(cmake/sluice.pc.in ${PROJECT_BINARY_DIR}/sluice.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/sluice.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT development)

if(TARGET sluice_bin)
  install(TARGETS sluice_bin RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
endif()

# The man page is kept as roff in docs/sluice.1 and installed compressed, as Debian wants it.
set(SLUICE_MAN_GZ ${PROJECT_BINARY_DIR}/sluice.1.gz)
add_custom_command(OUTPUT ${SLUICE_MAN_GZ}
  COMMAND gzip -9 -n -c ${PROJECT_SOURCE_DIR}/docs/sluice.1 > ${SLUICE_MAN_GZ}
  DEPENDS ${PROJECT_SOURCE_DIR}/docs/sluice.1
  COMMENT "Compressing the man page sluice(1)")
add_custom_target(sluice_man ALL DEPENDS ${SLUICE_MAN_GZ})
install(FILES ${SLUICE_MAN_GZ} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT runtime)
